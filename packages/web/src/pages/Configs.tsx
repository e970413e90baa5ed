import { useCallback, useMemo, useRef, useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { useApi, useNamespaces } from "../api.js";
import { absoluteTime } from "../format.js";
import { Empty, ErrorBanner, Loading, Notice, Page } from "../ui.js";
import { type CellTarget, ConfigTable } from "./configs/ConfigTable.js";
import { EditDialog, type EditTarget } from "./configs/EditDialog.js";
import { HistoryPanel } from "./configs/HistoryPanel.js";
import { ExportForm, ImportForm } from "./configs/ImportExport.js";
import { fromLocalInput, orderEnvironments, toLocalInput } from "./configs/model.js";
import { NamespaceTree } from "./configs/NamespaceTree.js";
import { type LiveState, useConfigRows } from "./configs/useConfigRows.js";
import "./configs/configs.css";

const liveText: Record<LiveState, string> = {
  off: "Not live",
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  stopped: "Live updates stopped",
};

/**
 * Configs: the namespace tree, a namespace's keys with every environment side by side (kept current by a
 * watch), edit with JSON Schema checks, history with diffs and rollback, a point-in-time view, import/export.
 * The URL holds the state: `?ns=<namespace>&at=<RFC 3339>&key=<history of key>&env=<its environment>`.
 */
export function ConfigsPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const ns = params.get("ns") ?? undefined;
  const at = params.get("at") ?? undefined;
  const historyKey = params.get("key") ?? undefined;
  const namespaces = useNamespaces();
  const envs = useApi(async (c) => orderEnvironments((await c.environments.list()).items).map((e) => e.name), []);
  const environments = envs.data;
  const historyEnv = params.get("env") ?? environments?.[0] ?? "base";

  const [editing, setEditing] = useState<EditTarget>();
  const [notice, setNotice] = useState<string>();
  const [historyRefresh, setHistoryRefresh] = useState(0);

  const link = useCallback(
    (next: Record<string, string | undefined>) => {
      const merged = new URLSearchParams(params);
      for (const [name, value] of Object.entries(next)) {
        if (value === undefined) merged.delete(name);
        else merged.set(name, value);
      }
      const search = merged.toString();
      return `/configs${search ? `?${search}` : ""}`;
    },
    [params],
  );
  const go = (next: Record<string, string | undefined>) => navigate(link(next));
  const linkFor = useCallback((path: string) => link({ ns: path, key: undefined, env: undefined }), [link]);

  const shownHistory = useRef(historyKey);
  shownHistory.current = historyKey;
  const onKeyChanged = useCallback((key: string) => {
    if (key === shownHistory.current) setHistoryRefresh((n) => n + 1);
  }, []);
  const rows = useConfigRows(ns, environments, at, onKeyChanged);
  const readOnly = at !== undefined;
  /** Where a key has a value of its own (the first environment), for its history. */
  const ownEnvironment = (key: string) => {
    const row = rows.data?.find((r) => r.key === key);
    return environments?.find((env) => row?.byEnv[env]?.resolvedFrom === env);
  };

  const selectedKnown = useMemo(() => !ns || (namespaces.data ?? []).some((n) => n.path === ns), [ns, namespaces.data]);

  return (
    <Page
      title="Configs"
      actions={
        <>
          {ns ? (
            <span className={`cfg-live cfg-live-${rows.live}`} role="status" title="Values change here when anyone writes">
              <span className="cfg-dot" aria-hidden="true" />
              {readOnly ? "Point in time (not live)" : liveText[rows.live]}
            </span>
          ) : null}
          <button
            type="button"
            className="primary"
            disabled={!environments || readOnly}
            onClick={() => setEditing({ mode: "create", namespace: ns ?? "", environment: environments?.[0] ?? "base" })}
          >
            New key
          </button>
        </>
      }
    >
      <ErrorBanner error={namespaces.error} />
      <ErrorBanner error={envs.error} />
      <div className="split cfg-layout">
        {namespaces.data ? (
          <NamespaceTree namespaces={namespaces.data} selected={ns} linkFor={linkFor} />
        ) : (
          <Loading what="Loading namespaces" />
        )}
        <div className="cfg-main">
          {!ns ? (
            <Empty>Choose a namespace on the left, or create a key to start one.</Empty>
          ) : (
            <>
              <div className="cfg-head">
                <h2 className="mono cfg-ns">{ns}</h2>
                <PointInTime at={at} onChange={(next) => go({ at: next })} />
              </div>
              {readOnly ? (
                <p className="banner cfg-at" role="status">
                  Showing {ns} as it was at {absoluteTime(at)}; editing is off.
                  <button type="button" onClick={() => go({ at: undefined })}>
                    Back to now
                  </button>
                </p>
              ) : null}
              {!selectedKnown && namespaces.data && !rows.data?.length ? (
                <p className="muted">No namespace {ns} (yet): create a key in it to start it.</p>
              ) : null}
              <Notice>{notice}</Notice>
              <ErrorBanner error={rows.error} />
              <ErrorBanner error={rows.liveError} />
              {rows.data && environments ? (
                <ConfigTable
                  namespace={ns}
                  environments={environments}
                  rows={rows.data}
                  readOnly={readOnly}
                  flashed={rows.flashed}
                  historyKey={historyKey}
                  onEdit={(target: CellTarget) => setEditing({ mode: "edit", namespace: ns, ...target })}
                  onHistory={(key) => go(historyKey === key ? { key: undefined, env: undefined } : { key, env: ownEnvironment(key) })}
                />
              ) : (
                <Loading what="Loading keys" />
              )}
              {historyKey && environments ? (
                <HistoryPanel
                  namespace={ns}
                  keyName={historyKey}
                  environment={historyEnv}
                  environments={environments}
                  readOnly={readOnly}
                  refresh={historyRefresh}
                  onEnvironment={(env) => go({ env })}
                  onClose={() => go({ key: undefined, env: undefined })}
                  onRestored={(message) => {
                    setNotice(message);
                    void rows.reloadKey(historyKey);
                  }}
                  onPointInTime={(when) => go({ at: when })}
                />
              ) : null}
              {environments ? (
                <div className="cfg-io-grid">
                  <ExportForm namespace={ns} environments={environments} at={at} />
                  {readOnly ? null : (
                    <ImportForm
                      key={ns}
                      namespace={ns}
                      environments={environments}
                      onImported={(target) => {
                        void namespaces.reload();
                        if (target === ns) void rows.reload();
                      }}
                    />
                  )}
                </div>
              ) : null}
            </>
          )}
        </div>
      </div>
      <EditDialog
        target={editing}
        environments={environments ?? []}
        onClose={() => setEditing(undefined)}
        onSaved={(message, savedNs, key) => {
          setEditing(undefined);
          setNotice(message);
          void namespaces.reload();
          if (savedNs === ns) void rows.reloadKey(key);
          else navigate(link({ ns: savedNs, key: undefined, env: undefined, at: undefined }));
          if (key === historyKey) setHistoryRefresh((n) => n + 1);
        }}
      />
    </Page>
  );
}

/** "As of" a moment: the namespace as it was then (read-only), or now. */
function PointInTime({ at, onChange }: { at: string | undefined; onChange: (at: string | undefined) => void }) {
  const [draft, setDraft] = useState(at ? toLocalInput(at) : "");
  const [shown, setShown] = useState(at);
  if (shown !== at) {
    setShown(at);
    setDraft(at ? toLocalInput(at) : "");
  }
  return (
    <form
      className="row cfg-at-form"
      onSubmit={(e) => {
        e.preventDefault();
        onChange(fromLocalInput(draft));
      }}
    >
      <div className="field">
        <label htmlFor="cfg-at">As of</label>
        <input id="cfg-at" type="datetime-local" step="1" value={draft} onChange={(e) => setDraft(e.target.value)} />
      </div>
      <div className="field">
        <button type="submit">Show</button>
      </div>
    </form>
  );
}
