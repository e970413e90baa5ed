import { type FormEvent, useState } from "react";
import { useAction } from "../../api.js";
import { absoluteTime } from "../../format.js";
import { CopyButton, ErrorBanner, Field } from "../../ui.js";
import { type AccessRequest, type IssuedCredentials, providerLabel, whatFor } from "./model.js";

export type Decision = "approve" | "deny" | "revoke";

const WORDS: Record<Decision, { verb: string; done: string; hint: string }> = {
  approve: { verb: "Approve", done: "approved", hint: "optional; kept in the audit log" },
  deny: { verb: "Deny", done: "denied", hint: "tell the requester why (kept in the audit log)" },
  revoke: { verb: "Revoke", done: "revoked", hint: "optional; kept in the audit log" },
};

export const decisionWords = (d: Decision) => WORDS[d];

/** One line naming a request, for dialogs and notices. */
export function RequestSummary({ request }: { request: AccessRequest }) {
  return (
    <dl className="rq-summary">
      <dt>Access</dt>
      <dd>
        {providerLabel(request.provider)} · {whatFor(request)}
        {request.resource ? ` on ${request.resource}` : ""} for <strong>{request.principal}</strong>
      </dd>
      <dt>Asked by</dt>
      <dd>{request.requestedByName ?? request.requestedBy}</dd>
      <dt>Reason</dt>
      <dd>{request.justification}</dd>
    </dl>
  );
}

/** Approve, deny or revoke one request, with a comment. */
export function DecisionForm({
  request,
  decision,
  onDone,
  onCancel,
}: {
  request: AccessRequest;
  decision: Decision;
  onDone: () => void;
  onCancel: () => void;
}) {
  const [comment, setComment] = useState("");
  const act = useAction((client, body: { comment?: string }) =>
    client.call<unknown>("POST", `/api/v1/requests/${request.correlationId}/${decision}`, { body }),
  );
  const words = WORDS[decision];
  const granted = request.status === "SUCCESS" || request.status === "PROCESSING";
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const text = comment.trim();
    const done = await act.run(text ? { comment: text } : {});
    if (done !== undefined) onDone();
  };
  return (
    <form onSubmit={submit}>
      <RequestSummary request={request} />
      {decision === "revoke" ? (
        <p className="muted">
          {granted ? "Access ends now: a worker takes it away within seconds." : "The request is withdrawn before anything is granted."}
        </p>
      ) : null}
      <ErrorBanner error={act.error} />
      <Field label="Comment" hint={words.hint}>
        {(props) => <textarea {...props} className="rq-comment" value={comment} onChange={(e) => setComment(e.target.value)} />}
      </Field>
      <div className="row">
        <button type="submit" className={decision === "approve" ? "primary" : "danger"} disabled={act.busy}>
          {act.busy ? `${words.verb}…` : words.verb}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/**
 * The credentials an active request issued, revealed once (the server forgets them afterwards). Held only
 * in this component's state: gone when the dialog closes, and never logged.
 */
export function CredentialsPanel({ request, onRevealed }: { request: AccessRequest; onRevealed: () => void }) {
  const reveal = useAction((client) => client.call<IssuedCredentials>("POST", `/api/v1/requests/${request.correlationId}/credentials`));
  const [shown, setShown] = useState<IssuedCredentials>();
  if (!shown) {
    return (
      <div>
        <p>
          Cairn shows these credentials <strong>once</strong>: after this, it no longer holds them. Have somewhere safe to keep them.
        </p>
        <ErrorBanner error={reveal.error} />
        <button
          type="button"
          className="primary"
          disabled={reveal.busy}
          onClick={async () => {
            const got = await reveal.run();
            if (got) {
              setShown(got);
              onRevealed();
            }
          }}
        >
          Reveal credentials now
        </button>
      </div>
    );
  }
  return (
    <div>
      <p>Valid until {shown.expiresAt ? absoluteTime(shown.expiresAt) : "revoked"}. Save them now: they will not be shown again.</p>
      <div className="table-wrap">
        <table className="rq-creds">
          <caption className="visually-hidden">Issued credentials</caption>
          <tbody>
            {Object.entries(shown.credentials).map(([name, value]) => {
              const text = typeof value === "string" ? value : JSON.stringify(value);
              return (
                <tr key={name}>
                  <th scope="row">{name}</th>
                  <td className="mono rq-secret">{text}</td>
                  <td>
                    <CopyButton text={text} label={`Copy ${name}`} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}
