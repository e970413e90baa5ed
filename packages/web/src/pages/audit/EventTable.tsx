import { Fragment, useState } from "react";
import { Badge, Empty, Time, type Tone } from "../../ui.js";
import type { AuditEvent, AuditResult } from "./types.js";

const tones: Record<AuditResult, Tone> = { success: "ok", failure: "danger", denied: "warn" };

export function ResultBadge({ result }: { result: AuditResult }) {
  return <Badge tone={tones[result] ?? "neutral"}>{result}</Badge>;
}

const who = (e: AuditEvent) => (e.actor.id ? `${e.actor.type ? `${e.actor.type} ` : ""}${e.actor.id}` : "—");

function What({ e }: { e: AuditEvent }) {
  const { type, id, namespace } = e.resource;
  if (!type && !id && !namespace) return <span className="muted">—</span>;
  return (
    <span className="audit-resource">
      {type ? <span className="muted">{type} </span> : null}
      {id ? <code>{id}</code> : null}
      {namespace ? <span className="muted"> in {namespace}</span> : null}
    </span>
  );
}

/** The events, newest first; each row opens to its metadata and request context. */
export function EventTable({ events }: { events: AuditEvent[] }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  if (events.length === 0) return <Empty>No audit events match these filters.</Empty>;
  const toggle = (id: string) =>
    setOpen((prev) => {
      const next = new Set(prev);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  return (
    <div className="table-wrap audit-table-wrap">
      <table className="audit-table">
        <caption className="visually-hidden">Audit events, newest first</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Event type</th>
            <th scope="col">Actor</th>
            <th scope="col">Resource</th>
            <th scope="col">Result</th>
            <th scope="col">
              <span className="visually-hidden">Details</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => {
            const expanded = open.has(e.id);
            const detailsId = `audit-details-${e.id}`;
            return (
              <Fragment key={e.id}>
                <tr data-event-type={e.eventType}>
                  <td className="mono muted">{e.index}</td>
                  <td>
                    <Time at={e.timestamp} />
                  </td>
                  <td>
                    <code>{e.eventType}</code>
                  </td>
                  <td className="audit-actor">{who(e)}</td>
                  <td>
                    <What e={e} />
                  </td>
                  <td>
                    <ResultBadge result={e.result} />
                  </td>
                  <td>
                    <button
                      type="button"
                      className="link"
                      aria-expanded={expanded}
                      aria-controls={expanded ? detailsId : undefined}
                      aria-label={`${expanded ? "Hide" : "Show"} details of event ${e.index}`}
                      onClick={() => toggle(e.id)}
                    >
                      {expanded ? "Hide" : "Details"}
                    </button>
                  </td>
                </tr>
                {expanded ? (
                  <tr className="audit-details" id={detailsId}>
                    <td colSpan={7}>
                      <dl className="audit-dl">
                        <dt>Event id</dt>
                        <dd>
                          <code>{e.id}</code>
                        </dd>
                        <dt>Time (UTC)</dt>
                        <dd>
                          <code>{e.timestamp}</code>
                        </dd>
                        <dt>Action</dt>
                        <dd>{e.action}</dd>
                        <dt>Request</dt>
                        <dd>
                          {[e.requestContext.requestId, e.requestContext.sourceIp, e.requestContext.userAgent]
                            .filter(Boolean)
                            .join(" · ") || "—"}
                        </dd>
                      </dl>
                      <pre className="audit-metadata">{JSON.stringify(e.metadata, null, 2)}</pre>
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
