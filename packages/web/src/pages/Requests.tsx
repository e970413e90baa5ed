import { useEffect, useState } from "react";
import { useAction, useApi } from "../api.js";
import { useSession } from "../session.js";
import { Dialog, Empty, ErrorBanner, Loading, Notice, Page } from "../ui.js";
import { CredentialsPanel, type Decision, DecisionForm, decisionWords } from "./requests/Dialogs.js";
import { type AccessRequest, MOVING, type RequestCounts, type RequestList, type RequestStatus, STATUSES } from "./requests/model.js";
import { RequestForm } from "./requests/RequestForm.js";
import { type Abilities, RequestTable } from "./requests/RequestTable.js";
import { Interpretation, SearchBox } from "./requests/SearchBox.js";
import "./requests/requests.css";

/** How often to look again right after a change (a worker granting, a revocation under way), and later while anything still moves. */
const POLL_MS = 2000;
const SLOW_POLL_MS = 10_000;

/**
 * Access requests (seed 003's dashboard): counts per status, the list with the buttons that apply, a search
 * in plain words showing how it was understood, and the "Request access" form.
 */
export function RequestsPage() {
  const { me } = useSession();
  const [query, setQuery] = useState("");
  const [status, setStatus] = useState<RequestStatus>();
  const [more, setMore] = useState<AccessRequest[]>([]);
  const [cursor, setCursor] = useState<string>();
  const [asking, setAsking] = useState(false);
  const [deciding, setDeciding] = useState<{ request: AccessRequest; decision: Decision }>();
  const [revealing, setRevealing] = useState<AccessRequest>();
  const [notice, setNotice] = useState("");
  const [watchUntil, setWatchUntil] = useState(0);

  const abilities = useApi<Abilities>(async (client) => {
    const [approve, admin] = await Promise.all([
      client.authz.check({ resource: "requests", action: "approve" }),
      client.authz.check({ resource: "requests", action: "admin" }),
    ]);
    return { approve: approve.allowed, admin: admin.allowed };
  }, []);
  const counts = useApi((client) => client.call<RequestCounts>("GET", "/api/v1/requests/counts"), []);
  const list = useApi(
    (client) =>
      client.call<RequestList>("GET", "/api/v1/requests", {
        query: { q: query || undefined, status: status ?? undefined, limit: 50 },
      }),
    [query, status],
  );

  // A new search or filter starts from the first page.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset when the search changes
  useEffect(() => {
    setMore([]);
    setCursor(undefined);
  }, [query, status]);

  const items = [...(list.data?.items ?? []), ...more.filter((m) => !list.data?.items.some((i) => i.correlationId === m.correlationId))];
  const moving = items.some((r) => MOVING.has(r.status));
  const reloadAll = list.reload;
  const reloadCounts = counts.reload;

  // Workers move requests on by themselves: look again while anything is moving or just changed.
  useEffect(() => {
    if (!moving && Date.now() > watchUntil) return;
    const timer = setInterval(
      () => {
        void reloadAll();
        void reloadCounts();
        if (!moving && Date.now() > watchUntil) clearInterval(timer);
      },
      Date.now() < watchUntil ? POLL_MS : SLOW_POLL_MS,
    );
    return () => clearInterval(timer);
  }, [moving, watchUntil, reloadAll, reloadCounts]);

  const pageAfter = useAction((client, next: string) =>
    client.call<RequestList>("GET", "/api/v1/requests", {
      query: { q: query || undefined, status: status ?? undefined, limit: 50, cursor: next },
    }),
  );

  const changed = (message: string) => {
    setNotice(message);
    setWatchUntil(Date.now() + 30_000);
    void list.reload();
    void counts.reload();
  };

  const loadMore = async () => {
    const next = more.length ? cursor : list.data?.nextCursor;
    if (!next) return;
    // Pages after the first are appended; the first page's reloads keep them.
    const page = await pageAfter.run(next);
    if (!page) return;
    setMore((m) => [...m, ...page.items]);
    setCursor(page.nextCursor);
  };
  const hasMore = more.length ? cursor !== undefined : list.data?.nextCursor !== undefined;

  const total = counts.data?.total ?? 0;
  return (
    <Page
      title="Access requests"
      actions={
        <>
          <button
            type="button"
            onClick={() => {
              void list.reload();
              void counts.reload();
            }}
          >
            Refresh
          </button>
          <button type="button" className="primary" onClick={() => setAsking(true)}>
            Request access
          </button>
        </>
      }
    >
      <Notice>{notice}</Notice>
      <ErrorBanner error={counts.error} />
      <ErrorBanner error={abilities.error} />

      <section aria-labelledby="rq-counts-title">
        <h2 id="rq-counts-title" className="visually-hidden">
          Requests by status
        </h2>
        <ul className="stats rq-stats">
          <li>
            <button type="button" className="stat rq-stat" aria-pressed={status === undefined} onClick={() => setStatus(undefined)}>
              <span className="value">{counts.data ? total : "…"}</span>
              <span className="rq-stat-label">All</span>
            </button>
          </li>
          {STATUSES.map((s) => (
            <li key={s.status}>
              <button
                type="button"
                className={`stat rq-stat rq-tone-${s.tone}`}
                aria-pressed={status === s.status}
                title={s.hint}
                onClick={() => setStatus(status === s.status ? undefined : s.status)}
              >
                <span className="value">{counts.data ? (counts.data.counts[s.status] ?? 0) : "…"}</span>
                <span className="rq-stat-label">{s.label}</span>
              </button>
            </li>
          ))}
        </ul>
      </section>

      <SearchBox current={query} onSearch={setQuery} />
      {query && list.data && !list.error ? (
        <Interpretation query={query} filter={list.data.interpretedFilter} sentence={list.data.interpretedAs} ignored={list.data.ignored} />
      ) : null}

      <section aria-labelledby="rq-list-title">
        <h2 id="rq-list-title">
          {query || status ? "Matching requests" : "Requests"}
          {status ? <span className="muted"> · {STATUSES.find((s) => s.status === status)?.label}</span> : null}
        </h2>
        <ErrorBanner error={list.error} />
        <ErrorBanner error={pageAfter.error} />
        {list.data === undefined && list.loading ? <Loading what="Loading requests" /> : null}
        {list.data && items.length === 0 ? (
          <Empty>{query || status ? "No request matches." : "No access requests yet. Ask with “Request access”."}</Empty>
        ) : null}
        {items.length > 0 && me ? (
          <RequestTable
            items={items}
            me={me.id}
            abilities={abilities.data ?? { approve: false, admin: false }}
            onDecide={(request, decision) => setDeciding({ request, decision })}
            onCredentials={setRevealing}
          />
        ) : null}
        {hasMore ? (
          <p>
            <button type="button" onClick={() => void loadMore()}>
              Show more
            </button>
          </p>
        ) : null}
      </section>

      <Dialog title="Request access" open={asking} onClose={() => setAsking(false)}>
        <RequestForm
          onCancel={() => setAsking(false)}
          onDone={(accepted) => {
            setAsking(false);
            changed(
              accepted.status === "AWAITING_APPROVAL"
                ? `Request ${accepted.correlationId.slice(0, 8)} sent: it waits for an approver.`
                : `Request ${accepted.correlationId.slice(0, 8)} sent: a worker is granting it.`,
            );
          }}
        />
      </Dialog>

      <Dialog
        title={deciding ? `${decisionWords(deciding.decision).verb} access request` : "Access request"}
        open={deciding !== undefined}
        onClose={() => setDeciding(undefined)}
      >
        {deciding ? (
          <DecisionForm
            request={deciding.request}
            decision={deciding.decision}
            onCancel={() => setDeciding(undefined)}
            onDone={() => {
              const { request, decision } = deciding;
              setDeciding(undefined);
              changed(`Request ${request.correlationId.slice(0, 8)} for ${request.principal} ${decisionWords(decision).done}.`);
            }}
          />
        ) : null}
      </Dialog>

      <Dialog title="Credentials" open={revealing !== undefined} onClose={() => setRevealing(undefined)}>
        {revealing ? <CredentialsPanel request={revealing} onRevealed={() => void list.reload()} /> : null}
      </Dialog>
    </Page>
  );
}
