import type { Action, AuthzCheckBody, CairnClient, CheckResult, Resource } from "@cairn/sdk";
import { type FormEvent, useCallback, useState } from "react";
import { useAction } from "../../api.js";
import { Badge, ErrorBanner, Field } from "../../ui.js";
import { describeConditions } from "./model.js";

const resources = [
  "configs",
  "secrets",
  "keys",
  "audit",
  "alerts",
  "roles",
  "environments",
  "requests",
  "users",
  "tenants",
] as const satisfies readonly Resource[];
const actions = ["read", "write", "delete", "list", "reveal", "rotate", "approve", "admin"] as const satisfies readonly Action[];
const namespaced = new Set<Resource>(["configs", "secrets"]);

/** The decision in words: allowed or denied, by which rule of which role (through which inheritance), or that nothing allowed it. */
function Decision({ result }: { result: CheckResult }) {
  const by = result.decidedBy;
  return (
    <div className={`card explain-result ${result.allowed ? "explain-allowed" : "explain-denied"}`} role="status" aria-live="polite">
      <p className="explain-verdict">
        <Badge tone={result.allowed ? "ok" : "danger"}>{result.allowed ? "allowed" : "denied"}</Badge>{" "}
        <span>
          {result.subject.type} <code>{result.subject.id}</code> needs <code>{result.permission}</code>
        </span>
      </p>
      <p>{result.reason}</p>
      {by ? (
        <dl className="access-dl">
          <dt>Rule</dt>
          <dd>
            <Badge tone={by.rule.effect === "deny" ? "danger" : "ok"}>{by.rule.effect}</Badge> <code>{by.rule.permission}</code>
            {by.rule.conditions ? <span className="muted"> when {describeConditions(by.rule.conditions)}</span> : null}
          </dd>
          <dt>Source</dt>
          <dd>
            {by.source === "role" && by.role ? (
              <>
                role <code>{by.role}</code>
              </>
            ) : by.source === "key" ? (
              "the API key's own rules"
            ) : by.source === "instance_admin" ? (
              "the instance admin key"
            ) : (
              by.source
            )}
          </dd>
          {by.path && by.path.length > 1 ? (
            <>
              <dt>Inherited through</dt>
              <dd>{by.path.join(" → ")}</dd>
            </>
          ) : null}
          {by.bindingId ? (
            <>
              <dt>Binding</dt>
              <dd>
                <code>{by.bindingId}</code>
              </dd>
            </>
          ) : null}
        </dl>
      ) : (
        <p className="muted">No rule decided it: without an allowing rule, everything is denied.</p>
      )}
    </div>
  );
}

/** "Would this be allowed?" — POST /authz/check for yourself or a named user, key or group. */
export function ExplainForm() {
  const [subjectType, setSubjectType] = useState<"" | "user" | "key" | "group">("key");
  const [subjectId, setSubjectId] = useState("");
  const [resource, setResource] = useState<Resource>("configs");
  const [namespace, setNamespace] = useState("");
  const [action, setAction] = useState<Action>("read");
  const [environment, setEnvironment] = useState("");
  const [result, setResult] = useState<CheckResult>();
  const check = useAction(useCallback((client: CairnClient, body: AuthzCheckBody) => client.authz.check(body), []));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setResult(undefined);
    const r = await check.run({
      ...(subjectType && subjectId.trim() ? { subject: { type: subjectType, id: subjectId.trim() } } : {}),
      resource,
      action,
      ...(namespaced.has(resource) && namespace.trim() ? { namespace: namespace.trim() } : {}),
      ...(environment.trim() ? { environment: environment.trim() } : {}),
    });
    if (r) setResult(r);
  };

  return (
    <section aria-labelledby="explain-title" className="access-section">
      <h2 id="explain-title">Explain a decision</h2>
      <form className="card" onSubmit={submit} aria-label="Explain an access decision">
        <p className="hint">Leave the subject id empty to ask about yourself.</p>
        <div className="access-grid">
          <Field label="Who">
            {(p) => (
              <select {...p} value={subjectType} onChange={(e) => setSubjectType(e.target.value as typeof subjectType)}>
                <option value="key">API key</option>
                <option value="user">user</option>
                <option value="group">group</option>
              </select>
            )}
          </Field>
          <Field label="Their id" hint="key_…, usr_… or a group id">
            {(p) => <input {...p} value={subjectId} onChange={(e) => setSubjectId(e.target.value)} autoComplete="off" spellCheck={false} />}
          </Field>
          <Field label="Resource">
            {(p) => (
              <select {...p} value={resource} onChange={(e) => setResource(e.target.value as Resource)}>
                {resources.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Action">
            {(p) => (
              <select {...p} value={action} onChange={(e) => setAction(e.target.value as Action)}>
                {actions.map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Namespace" hint={namespaced.has(resource) ? "e.g. payments/api" : "only for configs and secrets"}>
            {(p) => (
              <input
                {...p}
                value={namespace}
                onChange={(e) => setNamespace(e.target.value)}
                disabled={!namespaced.has(resource)}
                spellCheck={false}
              />
            )}
          </Field>
          <Field label="Environment" hint="optional, e.g. production">
            {(p) => <input {...p} value={environment} onChange={(e) => setEnvironment(e.target.value)} spellCheck={false} />}
          </Field>
        </div>
        <button type="submit" className="primary" disabled={check.busy}>
          {check.busy ? "Checking…" : "Explain"}
        </button>
      </form>
      <ErrorBanner error={check.error} onDismiss={check.clearError} />
      {result ? <Decision result={result} /> : null}
    </section>
  );
}
