import { Badge, TableHead, Time } from "../../ui.js";
import type { Decision } from "./Dialogs.js";
import { type AccessRequest, FINAL, formatDuration, providerLabel, statusInfo, whatFor } from "./model.js";

export interface Abilities {
  /** `requests:**:approve`: may approve and deny others' requests. */
  approve: boolean;
  /** `requests:**:admin`: may revoke others' requests. */
  admin: boolean;
}

const shortId = (id: string) => id.slice(0, 8);

/** The requests, newest first; each row's buttons are only those that apply to it and to the signed-in caller. */
export function RequestTable({
  items,
  me,
  abilities,
  onDecide,
  onCredentials,
}: {
  items: AccessRequest[];
  me: string;
  abilities: Abilities;
  onDecide: (request: AccessRequest, decision: Decision) => void;
  onCredentials: (request: AccessRequest) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="rq-table">
        <caption className="visually-hidden">Access requests, newest first</caption>
        <TableHead columns={["Access", "Requested by", "Duration", "Status", "Created", "Expires", "Actions"]} />
        <tbody>
          {items.map((r) => {
            const info = statusInfo(r.status);
            const mine = r.requestedBy === me;
            const canDecide = r.status === "AWAITING_APPROVAL" && !mine && abilities.approve;
            const canRevoke = !FINAL.has(r.status) && (mine || abilities.admin);
            const canReveal = mine && r.status === "SUCCESS" && r.credentialsAvailable;
            const who = `${r.principal} (${shortId(r.correlationId)})`;
            return (
              <tr key={r.correlationId} data-request={r.correlationId}>
                <td>
                  <div>
                    <strong>{r.principal}</strong> · {providerLabel(r.provider)}
                  </div>
                  <div className="muted rq-what">
                    {whatFor(r)}
                    {r.resource ? ` on ${r.resource}` : ""}
                  </div>
                  <div className="muted rq-why" title={r.justification}>
                    “{r.justification}”
                  </div>
                </td>
                <td>{mine ? "you" : (r.requestedByName ?? r.requestedBy)}</td>
                <td>{formatDuration(r.durationSeconds)}</td>
                <td>
                  <Badge tone={info.tone}>{info.label}</Badge>
                  {r.status === "FAILED" && r.errorDetails ? (
                    <div className="rq-error">{String(r.errorDetails.message ?? JSON.stringify(r.errorDetails))}</div>
                  ) : null}
                </td>
                <td>
                  <Time at={r.receivedAt} />
                </td>
                <td>
                  {r.status === "AWAITING_APPROVAL" ? (
                    <span>
                      <span className="muted">decide by </span>
                      <Time at={r.approvalExpiresAt} />
                    </span>
                  ) : FINAL.has(r.status) ? (
                    <Time at={r.revokedAt ?? r.completedAt} />
                  ) : (
                    <Time at={r.expiresAt} />
                  )}
                </td>
                <td>
                  <div className="rq-actions">
                    {canDecide ? (
                      <>
                        <button type="button" className="primary" onClick={() => onDecide(r, "approve")}>
                          Approve<span className="visually-hidden"> {who}</span>
                        </button>
                        <button type="button" className="danger" onClick={() => onDecide(r, "deny")}>
                          Deny<span className="visually-hidden"> {who}</span>
                        </button>
                      </>
                    ) : null}
                    {canReveal ? (
                      <button type="button" onClick={() => onCredentials(r)}>
                        Credentials<span className="visually-hidden"> of {who}</span>
                      </button>
                    ) : null}
                    {canRevoke ? (
                      <button type="button" className="danger" onClick={() => onDecide(r, "revoke")}>
                        Revoke<span className="visually-hidden"> {who}</span>
                      </button>
                    ) : null}
                    {!canDecide && !canReveal && !canRevoke ? <span className="muted">—</span> : null}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
