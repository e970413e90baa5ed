import { type Loaded, useApi } from "../../api.js";
import { Badge, ErrorBanner, Time } from "../../ui.js";
import { duration, loadPolicy, type RotationPolicy, type SecretEntry, typeLabels } from "./api.js";
import { SecretValue } from "./SecretValue.js";

/** The previous version, while its grace period lasts (readable as ?version=previous). */
export function livePrevious(entry: SecretEntry, now = Date.now()) {
  const p = entry.previous;
  return p && !p.retired && Date.parse(p.expiresAt) > now ? p : null;
}

/** One secret: key, type, masked value (reveal on click), version, last change, rotation policy, "Rotate now". */
export function SecretRow({
  entry,
  onRotate,
}: {
  entry: SecretEntry;
  onRotate: (entry: SecretEntry, policy: RotationPolicy | null) => void;
}) {
  // Loaded again after every new version, so "last rotated" and "next rotation" follow a rotation.
  // The policy belongs to the environment the value is stored in (an inherited secret's is its parent's).
  const policy = useApi(
    (client) => loadPolicy(client, { ...entry, environment: entry.resolvedFrom }),
    [entry.namespace, entry.key, entry.resolvedFrom, entry.version],
  );
  const previous = livePrevious(entry);
  return (
    <tr>
      <th scope="row">
        <span className="mono">{entry.key}</span>
        {entry.resolvedFrom !== entry.environment ? <div className="hint">inherited from {entry.resolvedFrom}</div> : null}
      </th>
      <td>
        <Badge tone="info">{typeLabels[entry.type] ?? entry.type}</Badge>
      </td>
      <td className="value-cell">
        <SecretValue key={`current-${entry.version}`} entry={entry} />
        {previous ? (
          <div className="previous">
            <div className="hint">
              Previous version {previous.version}, readable until it is retired <Time at={previous.expiresAt} />
            </div>
            <SecretValue key={`previous-${previous.version}`} entry={entry} version="previous" />
          </div>
        ) : null}
      </td>
      <td>v{entry.version}</td>
      <td>
        <Time at={entry.updatedAt} />
        <div className="hint">{entry.updatedBy}</div>
      </td>
      <td>
        <PolicySummary policy={policy} rotatedAt={entry.rotatedAt} />
      </td>
      <td>
        <button type="button" onClick={() => onRotate(entry, policy.data ?? null)} aria-label={`Rotate ${entry.key} now`}>
          Rotate now
        </button>
      </td>
    </tr>
  );
}

function PolicySummary({ policy, rotatedAt }: { policy: Loaded<RotationPolicy | null>; rotatedAt: string | null }) {
  if (policy.error) return <ErrorBanner error={policy.error} />;
  if (policy.data === undefined) return <span className="muted">…</span>;
  const p = policy.data;
  if (!p) {
    return (
      <div className="policy">
        <span className="muted">No rotation policy</span>
        {rotatedAt ? (
          <div className="hint">
            last rotated <Time at={rotatedAt} />
          </div>
        ) : null}
      </div>
    );
  }
  return (
    <div className="policy">
      <div>
        every {duration(p.intervalSeconds)}
        {p.gracePeriodSeconds > 0 ? <span className="muted nowrap"> · grace {duration(p.gracePeriodSeconds)}</span> : null}
      </div>
      <div className="hint">
        {p.autoRotate && p.nextRotationAt ? (
          <>
            next rotation <Time at={p.nextRotationAt} />
          </>
        ) : (
          "manual rotations only"
        )}
      </div>
      {p.lastRotatedAt ? (
        <div className="hint">
          last rotated <Time at={p.lastRotatedAt} />
          {p.lastRotatedVersion !== null ? ` (v${p.lastRotatedVersion})` : ""}
        </div>
      ) : null}
      {p.attempts > 0 ? (
        <div>
          <Badge tone="danger">
            {p.attempts} failed attempt{p.attempts === 1 ? "" : "s"}
          </Badge>
          {p.lastError ? <div className="hint">{p.lastError}</div> : null}
        </div>
      ) : p.lastAttemptAt ? (
        <div>
          <Badge tone="ok">last rotation succeeded</Badge>
        </div>
      ) : null}
    </div>
  );
}
