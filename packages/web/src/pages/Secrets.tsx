import { type ReactNode, useEffect, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { useApi, useNamespaces } from "../api.js";
import { Empty, ErrorBanner, Field, Loading, Notice, Page, TableHead, Time } from "../ui.js";
import { listSecrets, type SecretEntry, type SecretWriteResult } from "./secrets/api.js";
import { CreateSecretDialog } from "./secrets/CreateSecretDialog.js";
import { RotateDialog, type RotateTarget } from "./secrets/RotateDialog.js";
import { livePrevious, SecretRow } from "./secrets/SecretRow.js";
import "./secrets/secrets.css";

/**
 * Secrets of one namespace in one environment (`?ns=` and `?env=` in the URL): masked, revealed on click
 * (audited by the server), with their rotation policy and "Rotate now".
 */
export function SecretsPage() {
  const [params, setParams] = useSearchParams();
  const ns = params.get("ns") ?? "";
  const env = params.get("env") ?? "base";
  const namespaces = useNamespaces();
  const environments = useApi((client) => client.environments.list(), []);
  const secrets = useApi(async (client) => (ns ? listSecrets(client, ns, env) : undefined), [ns, env]);
  const [rotating, setRotating] = useState<RotateTarget>();
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState<ReactNode>();

  const choose = (next: { ns?: string; env?: string }, replace = false) => {
    const p = new URLSearchParams(params);
    if (next.ns !== undefined) p.set("ns", next.ns);
    if (next.env !== undefined) p.set("env", next.env);
    setNotice(undefined);
    setParams(p, { replace });
  };

  // No namespace asked for: start with the first one the caller may browse.
  const first = namespaces.data?.[0]?.path;
  // biome-ignore lint/correctness/useExhaustiveDependencies: only when the list arrives or the URL loses its namespace
  useEffect(() => {
    if (!ns && first) choose({ ns: first }, true);
  }, [ns, first]);

  const namespaceOptions = [...new Set([...(namespaces.data ?? []).map((n) => n.path), ...(ns ? [ns] : [])])].sort();
  const environmentNames = environments.data?.items.map((e) => e.name) ?? ["base"];
  if (!environmentNames.includes(env)) environmentNames.push(env);

  function rotated(before: SecretEntry, after: SecretWriteResult) {
    setRotating(undefined);
    const previous = livePrevious(after);
    setNotice(
      <>
        Rotated <code>{after.key}</code>: version {before.version} → {after.version}.
        {previous ? (
          <>
            {" "}
            Version {previous.version} stays readable as the previous version; it is retired <Time at={previous.expiresAt} />.
          </>
        ) : null}
        {after.warnings.length > 0 ? ` Warnings: ${after.warnings.map((w) => w.message || w.path).join("; ")}` : null}
      </>,
    );
    void secrets.reload();
  }

  function created(result: SecretWriteResult) {
    setCreating(false);
    setNotice(
      <>
        Saved <code>{result.key}</code> in {result.namespace} ({result.environment}), version {result.version}.
      </>,
    );
    if (result.namespace !== ns || result.environment !== env) {
      choose({ ns: result.namespace, env: result.environment });
      void namespaces.reload();
    } else void secrets.reload();
  }

  return (
    <Page
      title="Secrets"
      actions={
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          New secret
        </button>
      }
    >
      <div className="card row secrets-filters">
        <Field label="Namespace">
          {(p) => (
            <select {...p} value={ns} onChange={(e) => choose({ ns: e.target.value })}>
              {ns ? null : <option value="">Choose a namespace</option>}
              {namespaceOptions.map((path) => (
                <option key={path} value={path}>
                  {path}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Environment">
          {(p) => (
            <select {...p} value={env} onChange={(e) => choose({ env: e.target.value })}>
              {environmentNames.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <button type="button" onClick={() => void secrets.reload()} disabled={!ns || secrets.loading}>
          Refresh
        </button>
      </div>
      <ErrorBanner error={namespaces.error} />
      <ErrorBanner error={environments.error} />
      <p className="muted secrets-note">
        Values are masked. Revealing one is recorded in the audit log (<code>secret.reveal</code>) under your name, before the value is
        sent.
      </p>
      <Notice>{notice ? <span>{notice}</span> : null}</Notice>
      <ErrorBanner error={secrets.error} />
      {!ns ? (
        namespaces.loading ? (
          <Loading what="Loading namespaces" />
        ) : (
          <Empty>No namespace yet: create a secret to start one.</Empty>
        )
      ) : secrets.data === undefined ? (
        secrets.loading ? (
          <Loading what="Loading secrets" />
        ) : null
      ) : secrets.data.items.length === 0 ? (
        <Empty>
          No secrets in {ns} ({env}).
        </Empty>
      ) : (
        // Keyed by namespace and environment: a value revealed in one is never shown under another.
        <div className="table-wrap" key={`${ns}\n${env}`}>
          <table aria-label={`Secrets in ${ns} (${env})`}>
            <TableHead columns={["Key", "Type", "Value", "Version", "Updated", "Rotation"]} actions />
            <tbody>
              {secrets.data.items.map((entry) => (
                <SecretRow key={entry.key} entry={entry} onRotate={(e, policy) => setRotating({ entry: e, policy })} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <RotateDialog target={rotating} onClose={() => setRotating(undefined)} onRotated={rotated} />
      <CreateSecretDialog
        open={creating}
        namespace={ns}
        environment={env}
        environments={environmentNames}
        onClose={() => setCreating(false)}
        onCreated={created}
      />
    </Page>
  );
}
