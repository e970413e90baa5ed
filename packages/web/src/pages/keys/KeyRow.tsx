import type { KeyView } from "@cairn/sdk";
import { useApi } from "../../api.js";
import { Badge, ErrorBanner, Sparkline, Time } from "../../ui.js";
import { hourlyCounts, statusTone, USAGE_HOURS, usageSince } from "./api.js";

/** One API key: name, status, public prefix, roles, last use, usage over the last day, expiry, actions. */
export function KeyRow({
  item,
  self,
  onRotate,
  onRevoke,
}: {
  item: KeyView;
  self: boolean;
  onRotate: (item: KeyView) => void;
  onRevoke: (item: KeyView) => void;
}) {
  const live = item.status === "active" || item.status === "rotating";
  return (
    <tr>
      <th scope="row">
        <span className="key-name">{item.name}</span>
        {self ? (
          <>
            {" "}
            <Badge tone="info">this session</Badge>
          </>
        ) : null}
        <div className="hint mono">{item.id}</div>
      </th>
      <td>
        <Badge tone={statusTone[item.status]}>{item.status}</Badge>
        {item.status === "rotating" && item.graceUntil ? (
          <div className="hint">
            stops working <Time at={item.graceUntil} />
          </div>
        ) : null}
      </td>
      <td>
        <code>cairn_{item.prefix}_…</code>
      </td>
      <td>{item.roles.length > 0 ? item.roles.join(", ") : <span className="muted">own rules only</span>}</td>
      <td>
        <Time at={item.lastUsedAt} />
        <div className="hint">
          {item.usageCount} use{item.usageCount === 1 ? "" : "s"} in all
        </div>
      </td>
      <td>
        <Usage id={item.id} name={item.name} lastUsedAt={item.lastUsedAt} />
      </td>
      <td>
        {item.expiresAt ? <Time at={item.expiresAt} /> : <span className="muted">never</span>}
        {item.rateLimit ? (
          <div className="hint">
            {item.rateLimit.limit} per {item.rateLimit.windowSeconds} s
          </div>
        ) : null}
      </td>
      <td>
        {live ? (
          <div className="key-actions">
            {item.status === "active" ? (
              <button type="button" onClick={() => onRotate(item)} aria-label={`Rotate ${item.name}`}>
                Rotate
              </button>
            ) : null}
            <button type="button" className="danger" onClick={() => onRevoke(item)} aria-label={`Revoke ${item.name}`}>
              Revoke
            </button>
          </div>
        ) : null}
      </td>
    </tr>
  );
}

/** Uses per hour over the last day (GET /keys/{id}/usage), as a sparkline; loaded again when the key was used. */
function Usage({ id, name, lastUsedAt }: { id: string; name: string; lastUsedAt: string | null }) {
  const usage = useApi((client) => client.keys.usage(id, { since: usageSince() }), [id, lastUsedAt]);
  if (usage.error) return <ErrorBanner error={usage.error} />;
  if (!usage.data) return <span className="muted">…</span>;
  return (
    <span className="key-usage">
      <Sparkline values={hourlyCounts(usage.data)} label={`Uses of ${name} per hour, last ${USAGE_HOURS} hours`} />
      <span className="hint">{usage.data.total}</span>
    </span>
  );
}
