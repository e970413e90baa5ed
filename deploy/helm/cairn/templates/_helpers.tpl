{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "cairn.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "cairn.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cairn.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cairn.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cairn.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cairn.labels" -}}
helm.sh/chart: {{ include "cairn.chart" . }}
{{ include "cairn.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cairn.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cairn.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding CAIRN_MASTER_KEY and DATABASE_URL: the existing one, or the one this chart creates. */}}
{{- define "cairn.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- include "cairn.fullname" . }}
{{- end }}
{{- end }}

{{/* Key names inside that Secret: the configured ones for an existing Secret, fixed ones for ours. */}}
{{- define "cairn.secretKey" -}}
{{- $ctx := index . 0 }}
{{- $key := index . 1 }}
{{- if $ctx.Values.secret.existingSecret }}
{{- index $ctx.Values.secret.existingSecretKeys $key }}
{{- else }}
{{- index (dict "masterKey" "CAIRN_MASTER_KEY" "databaseUrl" "DATABASE_URL" "redisUrl" "REDIS_URL" "bootstrapAdminKey" "CAIRN_BOOTSTRAP_ADMIN_KEY") $key }}
{{- end }}
{{- end }}
