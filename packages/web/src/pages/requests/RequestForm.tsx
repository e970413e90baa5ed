import { CairnApiError } from "@cairn/sdk";
import { type FormEvent, useState } from "react";
import { useAction } from "../../api.js";
import { ErrorBanner, Field } from "../../ui.js";
import { DURATIONS, PROVIDERS, type Provider, type RequestStatus } from "./model.js";

interface Accepted {
  correlationId: string;
  status: RequestStatus;
}

/** Field errors of a 400, by the form field they belong to (`/durationSeconds` → durationSeconds). */
function fieldErrors(err: unknown): Record<string, string> {
  if (!(err instanceof CairnApiError)) return {};
  const out: Record<string, string> = {};
  for (const e of err.errors) {
    const field = e.path.replace(/^\/?(body\/)?/, "").split("/")[0] || "form";
    out[field] = out[field] ? `${out[field]}; ${e.message}` : e.message;
  }
  return out;
}

/**
 * "Request access": provider, who gets it, a role or permissions on a resource, how long, and why.
 * Sent with an Idempotency-Key made when the form opens, so a double submit asks once.
 */
export function RequestForm({ onDone, onCancel }: { onDone: (accepted: Accepted) => void; onCancel: () => void }) {
  const [provider, setProvider] = useState<Provider>("postgres");
  const [principal, setPrincipal] = useState("");
  const [grantKind, setGrantKind] = useState<"role" | "permissions">("role");
  const [role, setRole] = useState("");
  const [permissions, setPermissions] = useState("");
  const [resource, setResource] = useState("");
  const [duration, setDuration] = useState(3600);
  const [justification, setJustification] = useState("");
  const [idempotencyKey] = useState(() => crypto.randomUUID());
  const send = useAction((client, body: Record<string, unknown>) =>
    client.call<Accepted>("POST", "/api/v1/requests", { body, headers: { "idempotency-key": idempotencyKey } }),
  );
  const errors = fieldErrors(send.error);
  const hints = PROVIDERS.find((p) => p.value === provider) ?? PROVIDERS[0];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = {
      provider,
      principal: principal.trim(),
      durationSeconds: duration,
      justification: justification.trim(),
    };
    if (grantKind === "role") body.role = role.trim();
    else
      body.permissions = permissions
        .split(/[\s,]+/)
        .map((p) => p.trim())
        .filter(Boolean);
    if (resource.trim()) body.resource = resource.trim();
    const accepted = await send.run(body);
    if (accepted) onDone(accepted);
  };

  return (
    <form onSubmit={submit} className="rq-form" noValidate>
      <ErrorBanner error={send.error} />
      <Field label="Provider" error={errors.provider}>
        {(props) => (
          <select {...props} value={provider} onChange={(e) => setProvider(e.target.value as Provider)}>
            {PROVIDERS.map((p) => (
              <option key={p.value} value={p.value}>
                {p.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Who gets access" hint={hints?.principal} error={errors.principal}>
        {(props) => <input {...props} value={principal} onChange={(e) => setPrincipal(e.target.value)} required autoComplete="off" />}
      </Field>
      <fieldset className="rq-fieldset">
        <legend>What to grant</legend>
        <label className="rq-radio">
          <input type="radio" name="grant-kind" checked={grantKind === "role"} onChange={() => setGrantKind("role")} /> A role
        </label>
        <label className="rq-radio">
          <input type="radio" name="grant-kind" checked={grantKind === "permissions"} onChange={() => setGrantKind("permissions")} />{" "}
          Permissions on a resource
        </label>
      </fieldset>
      {grantKind === "role" ? (
        <Field label="Role" hint={hints?.role} error={errors.role ?? errors.form}>
          {(props) => <input {...props} value={role} onChange={(e) => setRole(e.target.value)} autoComplete="off" />}
        </Field>
      ) : (
        <Field label="Permissions" hint="comma-separated, e.g. SELECT, INSERT" error={errors.permissions ?? errors.form}>
          {(props) => <input {...props} value={permissions} onChange={(e) => setPermissions(e.target.value)} autoComplete="off" />}
        </Field>
      )}
      <Field label="Resource (optional)" hint={hints?.resource} error={errors.resource}>
        {(props) => <input {...props} value={resource} onChange={(e) => setResource(e.target.value)} autoComplete="off" />}
      </Field>
      <Field label="Duration" hint="access ends by itself when this time is up" error={errors.durationSeconds}>
        {(props) => (
          <select {...props} value={duration} onChange={(e) => setDuration(Number(e.target.value))}>
            {DURATIONS.map((d) => (
              <option key={d.seconds} value={d.seconds}>
                {d.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Reason" hint="kept in the audit log; approvers read it" error={errors.justification}>
        {(props) => (
          <textarea
            {...props}
            className="rq-reason"
            value={justification}
            onChange={(e) => setJustification(e.target.value)}
            required
            minLength={3}
          />
        )}
      </Field>
      <div className="row">
        <button type="submit" className="primary" disabled={send.busy}>
          {send.busy ? "Sending…" : "Send request"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
