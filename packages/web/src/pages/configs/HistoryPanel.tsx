import type { HistoryEntry } from "@cairn/sdk";
import { type FormEvent, useEffect, useState } from "react";
import { useAction, useApi } from "../../api.js";
import { Badge, Dialog, Empty, ErrorBanner, Field, Loading, SelectField, TableHead, Time } from "../../ui.js";
import { isHeld } from "./EditDialog.js";
import { JsonDiff } from "./JsonDiff.js";

/** Times in history are to the millisecond, the store's to the microsecond: this version is in at +1 ms. */
const justAfter = (at: string) => new Date(Date.parse(at) + 1).toISOString();

const tone = { create: "ok", update: "info", delete: "danger", restore: "warn" } as const;

/** A key's versions in one environment, a diff between any two, and rollback to one of them. */
export function HistoryPanel({
  namespace,
  keyName,
  environment,
  environments,
  readOnly,
  refresh,
  onEnvironment,
  onClose,
  onRestored,
  onPointInTime,
}: {
  namespace: string;
  keyName: string;
  environment: string;
  environments: string[];
  readOnly: boolean;
  /** Changes when the key changed (live or by this page): the history loads again. */
  refresh: number;
  onEnvironment: (environment: string) => void;
  onClose: () => void;
  onRestored: (message: string) => void;
  onPointInTime: (at: string) => void;
}) {
  const history = useApi((c) => c.history(namespace, keyName, { environment }), [namespace, keyName, environment]);
  const { reload } = history;
  // biome-ignore lint/correctness/useExhaustiveDependencies: refresh is the trigger
  useEffect(() => {
    if (refresh) void reload();
  }, [refresh]);
  const items = history.data?.items ?? [];
  const versionOptions = items.map((i) => ({ value: String(i.version), label: `v${i.version} (${i.changeType})` }));
  const [from, setFrom] = useState<number>();
  const [to, setTo] = useState<number>();
  const [restoring, setRestoring] = useState<HistoryEntry>();
  // Default comparison: the previous version against the newest.
  const toVersion = to ?? items[0]?.version;
  const fromVersion = from ?? items[1]?.version ?? items[0]?.version;
  const before = items.find((i) => i.version === fromVersion);
  const after = items.find((i) => i.version === toVersion);

  return (
    <section className="card cfg-history" aria-labelledby="cfg-history-title">
      <div className="cfg-history-head">
        <h2 id="cfg-history-title">
          History of <span className="mono">{keyName}</span>
        </h2>
        <button type="button" className="link" onClick={onClose}>
          Close history
        </button>
      </div>
      <div className="row">
        <SelectField
          label="Environment"
          value={environment}
          options={environments}
          onChange={(v) => {
            setFrom(undefined);
            setTo(undefined);
            onEnvironment(v);
          }}
        />
        {items.length > 0 ? (
          <>
            <SelectField
              label="Compare version"
              value={String(fromVersion)}
              options={versionOptions}
              onChange={(v) => setFrom(Number(v))}
            />
            <SelectField label="with version" value={String(toVersion)} options={versionOptions} onChange={(v) => setTo(Number(v))} />
          </>
        ) : null}
      </div>
      <ErrorBanner error={history.error} />
      {history.loading && !history.data ? <Loading what="Loading history" /> : null}
      {history.data && items.length === 0 ? <Empty>Never set in {environment} (its value, if any, is inherited).</Empty> : null}
      {before && after ? (
        before.secret || after.secret ? (
          <p className="muted">Secret values are not shown in history.</p>
        ) : (
          <JsonDiff before={before.value} after={after.value} label={`v${before.version} → v${after.version}`} />
        )
      ) : null}
      {items.length > 0 ? (
        <div className="table-wrap">
          <table aria-label={`Versions of ${keyName} in ${environment}`}>
            <TableHead columns={["Version", "Change", "By", "Reason", "When"]} actions />
            <tbody>
              {items.map((item, i) => (
                <tr key={item.version} data-version={item.version}>
                  <td>v{item.version}</td>
                  <td>
                    <Badge tone={tone[item.changeType]}>{item.changeType}</Badge>
                    {item.restoredFrom ? <span className="muted"> from v{item.restoredFrom}</span> : null}
                  </td>
                  <td>
                    <span className="cfg-actor mono" title={item.actor}>
                      {item.actor}
                    </span>
                  </td>
                  <td>{item.reason ?? <span className="muted">—</span>}</td>
                  <td>
                    <Time at={item.at} />
                  </td>
                  <td>
                    <div className="cfg-actions">
                      <button type="button" className="link" onClick={() => onPointInTime(justAfter(item.at))}>
                        Namespace then
                      </button>
                      {!readOnly && i > 0 && item.changeType !== "delete" ? (
                        <button type="button" onClick={() => setRestoring(item)}>
                          Roll back to v{item.version}
                        </button>
                      ) : null}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <Dialog title={`Roll back ${keyName}`} open={restoring !== undefined} onClose={() => setRestoring(undefined)}>
        {restoring ? (
          <RollbackForm
            namespace={namespace}
            keyName={keyName}
            environment={environment}
            target={restoring}
            head={items[0]?.version}
            onCancel={() => setRestoring(undefined)}
            onDone={(message) => {
              setRestoring(undefined);
              setFrom(undefined);
              setTo(undefined);
              void reload();
              onRestored(message);
            }}
          />
        ) : null}
      </Dialog>
    </section>
  );
}

function RollbackForm({
  namespace,
  keyName,
  environment,
  target,
  head,
  onCancel,
  onDone,
}: {
  namespace: string;
  keyName: string;
  environment: string;
  target: HistoryEntry;
  head: number | undefined;
  onCancel: () => void;
  onDone: (message: string) => void;
}) {
  const [reason, setReason] = useState("");
  const rollback = useAction(
    (c): Promise<unknown> => c.rollback(namespace, keyName, target.version, { environment, ifMatch: head, reason: reason || undefined }),
  );
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const answer = await rollback.run();
    if (answer === undefined) return;
    onDone(
      isHeld(answer)
        ? `${environment} is protected: change request ${answer.changeRequest.id} waits for approval.`
        : `Rolled ${keyName} in ${environment} back to v${target.version} (now version ${(answer as { version: number }).version}).`,
    );
  };
  return (
    <form onSubmit={submit}>
      <ErrorBanner error={rollback.error} />
      <p>
        Restore the value of version {target.version} of <span className="mono">{keyName}</span> in {environment} as a new version.
      </p>
      <Field label="Reason" hint="Kept in the history (optional).">
        {(props) => <input {...props} value={reason} onChange={(e) => setReason(e.target.value)} />}
      </Field>
      <div className="row">
        <button type="submit" className="primary" disabled={rollback.busy}>
          {rollback.busy ? "Rolling back…" : `Roll back to v${target.version}`}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
