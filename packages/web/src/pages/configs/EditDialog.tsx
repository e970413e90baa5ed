import { CairnApiError, type ConfigEntry, isNotFound, type KeySchema, type ProblemFieldError, type ResolvedConfig } from "@cairn/sdk";
import { type FormEvent, useEffect, useRef, useState } from "react";
import { useClient } from "../../session.js";
import { Dialog, ErrorBanner, Field, SelectField } from "../../ui.js";
import { keyProblem, namespaceProblem, parseJson, pretty } from "./model.js";

/** What the dialog edits: an existing key in one environment, or a new key. */
export type EditTarget =
  | { mode: "edit"; namespace: string; key: string; environment: string; entry: ResolvedConfig | undefined }
  | { mode: "create"; namespace: string; environment: string };

/** A write held for approval (protected environment) answers 202 with a change request instead of the entry. */
interface HeldWrite {
  changeRequest: { id: string; status: string };
}

export const isHeld = (answer: unknown): answer is HeldWrite => typeof answer === "object" && answer !== null && "changeRequest" in answer;

const fieldErrors = (errors: ProblemFieldError[]) =>
  errors.map((e) => `${!e.path || e.path === "/" ? "value" : e.path}: ${e.message}`).join("; ");

export function EditDialog({
  target,
  environments,
  onClose,
  onSaved,
}: {
  target: EditTarget | undefined;
  environments: string[];
  onClose: () => void;
  onSaved: (message: string, namespace: string, key: string) => void;
}) {
  const title = !target ? "" : target.mode === "create" ? "New key" : `Edit ${target.key} in ${target.environment}`;
  return (
    <Dialog title={title} open={target !== undefined} onClose={onClose}>
      {target ? (
        <EditForm
          key={target.mode === "edit" ? `${target.key}@${target.environment}` : "new"}
          target={target}
          environments={environments}
          onClose={onClose}
          onSaved={onSaved}
        />
      ) : null}
    </Dialog>
  );
}

function EditForm({
  target,
  environments,
  onClose,
  onSaved,
}: {
  target: EditTarget;
  environments: string[];
  onClose: () => void;
  onSaved: (message: string, namespace: string, key: string) => void;
}) {
  const client = useClient();
  const editing = target.mode === "edit" ? target : undefined;
  const entry = editing?.entry;
  const ownEntry = entry && entry.resolvedFrom === target.environment ? entry : undefined;
  const [namespace, setNamespace] = useState(target.namespace);
  const [key, setKey] = useState(editing?.key ?? "");
  const [environment, setEnvironment] = useState(target.environment);
  const [text, setText] = useState(entry && !entry.secret ? pretty(entry.value) : "");
  const [secret, setSecret] = useState(entry?.secret ?? false);
  const [reason, setReason] = useState("");
  const [version, setVersion] = useState(ownEntry?.version);
  const [touched, setTouched] = useState(false);
  const [schema, setSchema] = useState<KeySchema>();
  const [schemaErrors, setSchemaErrors] = useState<ProblemFieldError[]>([]);
  const [error, setError] = useState<unknown>();
  const [stale, setStale] = useState(false);
  const [busy, setBusy] = useState(false);
  const valueRef = useRef<HTMLTextAreaElement>(null);

  const parsed = parseJson(text);
  const keyError = touched && !editing ? keyProblem(key) : undefined;
  const nsError = touched && !editing ? namespaceProblem(namespace) : undefined;
  const jsonError = touched && !parsed.ok ? parsed.error : undefined;
  const valueError = jsonError ?? (schemaErrors.length ? fieldErrors(schemaErrors) : undefined);

  // The key's JSON Schema, if it has one: shown, and checked against as you type.
  useEffect(() => {
    if (keyProblem(key) || namespaceProblem(namespace)) {
      setSchema(undefined);
      return;
    }
    let current = true;
    const timer = setTimeout(() => {
      client.getSchema(namespace, key).then(
        (s) => current && setSchema(s),
        (err: unknown) => {
          if (!current) return;
          setSchema(undefined);
          if (!isNotFound(err)) setError(err);
        },
      );
    }, 250);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [client, namespace, key]);

  const valueJson = parsed.ok ? JSON.stringify(parsed.value) : undefined;
  useEffect(() => {
    if (!schema || valueJson === undefined) {
      setSchemaErrors([]);
      return;
    }
    let current = true;
    const timer = setTimeout(() => {
      client.validate(namespace, { [key]: JSON.parse(valueJson) }, { environment }).then(
        (result) => current && setSchemaErrors(result.results[key]?.errors ?? []),
        (err: unknown) => current && setError(err),
      );
    }, 300);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [client, schema, namespace, key, environment, valueJson]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (!parsed.ok || (!editing && (keyProblem(key) || namespaceProblem(namespace)))) {
      valueRef.current?.focus();
      return;
    }
    setBusy(true);
    setError(undefined);
    setStale(false);
    try {
      const options = { environment, secret, reason: reason || undefined };
      const answer: ConfigEntry | HeldWrite = editing
        ? await client.set(namespace, key, parsed.value, { ...options, ifMatch: version })
        : await client.create(namespace, key, parsed.value, options);
      onSaved(
        isHeld(answer)
          ? `${environment} is protected: change request ${answer.changeRequest.id} waits for approval.`
          : `Saved ${key} in ${environment} (version ${answer.version}).`,
        namespace,
        key,
      );
    } catch (err) {
      if (err instanceof CairnApiError && err.status === 422 && err.errors.length) {
        setSchemaErrors(err.errors);
        valueRef.current?.focus();
      } else {
        if (err instanceof CairnApiError && err.status === 412) setStale(true);
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  };

  const reloadCurrent = async () => {
    try {
      const now = await client.get(namespace, key, { environment });
      setVersion(now.resolvedFrom === environment ? now.version : undefined);
      if (!now.secret) setText(pretty(now.value));
      setStale(false);
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <form onSubmit={submit} noValidate>
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
      {stale ? (
        <p>
          <button type="button" onClick={reloadCurrent}>
            Load the current value
          </button>
        </p>
      ) : null}
      {editing ? (
        <p className="muted">
          {namespace} · {environment}
          {ownEntry
            ? ` · version ${ownEntry.version}`
            : entry
              ? ` · inherited from ${entry.resolvedFrom}: saving creates an override here`
              : ""}
        </p>
      ) : (
        <>
          <Field label="Namespace" error={nsError} hint="Path segments separated by /, e.g. production/ml-service">
            {(props) => <input {...props} value={namespace} onChange={(e) => setNamespace(e.target.value.trim())} />}
          </Field>
          <Field label="Key" error={keyError}>
            {(props) => <input {...props} value={key} autoComplete="off" onChange={(e) => setKey(e.target.value.trim())} />}
          </Field>
          <SelectField label="Environment" value={environment} options={environments} onChange={setEnvironment} />
        </>
      )}
      <Field
        label="Value (JSON)"
        error={valueError}
        hint={
          <>
            {entry?.secret ? "The current value is secret: enter the new one. " : null}
            {schema ? "Checked against the key's JSON Schema as you type." : 'Any JSON: "text", 42, true, [1, 2] or {"a": 1}.'}
          </>
        }
      >
        {(props) => (
          <textarea
            {...props}
            ref={valueRef}
            spellCheck={false}
            rows={Math.min(16, Math.max(4, text.split("\n").length + 1))}
            value={text}
            onChange={(e) => {
              setText(e.target.value);
              setTouched(true);
            }}
          />
        )}
      </Field>
      {schema ? (
        <details className="cfg-schema">
          <summary>JSON Schema of {key}</summary>
          <pre>{pretty(schema.schema)}</pre>
        </details>
      ) : null}
      <div className="field cfg-check">
        <label>
          <input type="checkbox" checked={secret} onChange={(e) => setSecret(e.target.checked)} /> Secret (masked in reads, reveals audited)
        </label>
      </div>
      <Field label="Reason" hint="Kept in the history, like a commit message (optional).">
        {(props) => <input {...props} value={reason} onChange={(e) => setReason(e.target.value)} />}
      </Field>
      <div className="row">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Saving…" : editing ? "Save" : "Create"}
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}
