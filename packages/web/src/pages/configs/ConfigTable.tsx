import type { ResolvedConfig } from "@cairn/sdk";
import { previewValue } from "../../format.js";
import { Badge, Empty } from "../../ui.js";
import type { ConfigRow } from "./model.js";

/** What a cell's Edit button opens: this key in this environment (`entry` is what it resolves to now). */
export interface CellTarget {
  key: string;
  environment: string;
  entry: ResolvedConfig | undefined;
}

/** Keys down, environments across; each cell the resolved value, and where it is inherited from. */
export function ConfigTable({
  namespace,
  environments,
  rows,
  readOnly,
  flashed,
  historyKey,
  onEdit,
  onHistory,
}: {
  namespace: string;
  environments: string[];
  rows: ConfigRow[];
  readOnly: boolean;
  flashed: ReadonlySet<string>;
  historyKey: string | undefined;
  onEdit: (target: CellTarget) => void;
  onHistory: (key: string) => void;
}) {
  if (rows.length === 0)
    return (
      <Empty>
        No keys in {namespace}
        {readOnly ? " at that time" : " yet"}.
      </Empty>
    );
  return (
    <div className="table-wrap">
      <table className="config-table" aria-label={`Keys of ${namespace} by environment`}>
        <thead>
          <tr>
            <th scope="col">Key</th>
            {environments.map((env) => (
              <th scope="col" key={env}>
                {env}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const secret = Object.values(row.byEnv).some((e) => e?.secret);
            return (
              <tr key={row.key} data-key={row.key} className={flashed.has(row.key) ? "cfg-flash" : undefined}>
                <th scope="row" className="cfg-key">
                  <span className="mono">{row.key}</span>
                  <span className="cfg-meta">
                    {secret ? <Badge tone="warn">secret</Badge> : null}
                    <button
                      type="button"
                      className="link"
                      aria-pressed={historyKey === row.key}
                      aria-label={`History of ${row.key}`}
                      onClick={() => onHistory(row.key)}
                    >
                      History
                    </button>
                  </span>
                </th>
                {environments.map((env) => (
                  <td key={env} data-env={env}>
                    <Cell keyName={row.key} environment={env} entry={row.byEnv[env]} readOnly={readOnly} onEdit={onEdit} />
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function Cell({
  keyName,
  environment,
  entry,
  readOnly,
  onEdit,
}: {
  keyName: string;
  environment: string;
  entry: ResolvedConfig | undefined;
  readOnly: boolean;
  onEdit: (target: CellTarget) => void;
}) {
  const inherited = entry !== undefined && entry.resolvedFrom !== environment;
  const verb = entry && !inherited ? "Edit" : inherited ? "Override" : "Set";
  return (
    <div className={`cfg-cell${inherited ? " inherited" : ""}`}>
      {entry ? (
        <code className="cfg-value" title={entry.secret ? "secret (masked)" : previewValue(entry.value, 2000)}>
          {entry.secret ? "•••• (masked)" : previewValue(entry.value, 60)}
        </code>
      ) : (
        <span className="muted">not set</span>
      )}
      <div className="cfg-meta">
        {inherited ? <Badge tone="info">from {entry.resolvedFrom}</Badge> : entry ? <span className="muted">v{entry.version}</span> : null}
        {readOnly ? null : (
          <button
            type="button"
            className="link"
            aria-label={`${verb} ${keyName} in ${environment}`}
            onClick={() => onEdit({ key: keyName, environment, entry })}
          >
            {verb}
          </button>
        )}
      </div>
    </div>
  );
}
