import type { CairnClient } from "@cairn/sdk";
import { useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { describeError, useApi } from "../api.js";
import { useClient } from "../session.js";
import { ErrorBanner, Loading, Page } from "../ui.js";
import { AuditFilterForm } from "./audit/AuditFilters.js";
import { EventTable } from "./audit/EventTable.js";
import { IntegrityPanel } from "./audit/IntegrityPanel.js";
import { type AuditEventList, type AuditFilters, type AuditResult, filterNames } from "./audit/types.js";
import "./audit.css";

const PAGE_SIZE = 50;

function listQuery(filters: AuditFilters, cursor?: string): Record<string, string> {
  const query: Record<string, string> = { limit: String(PAGE_SIZE) };
  for (const name of filterNames) {
    const v = filters[name];
    if (v) query[name] = v;
  }
  if (cursor) query.cursor = cursor;
  return query;
}

const loadPage = (client: CairnClient, filters: AuditFilters, cursor?: string) =>
  client.call<AuditEventList>("GET", "/api/v1/audit", { query: listQuery(filters, cursor) });

/** The tenant's audit log: filterable events (filters live in the URL), its latest signed checkpoint, and "Verify now". */
export function AuditPage() {
  const client = useClient();
  const [params, setParams] = useSearchParams();
  const filters = useMemo<AuditFilters>(() => {
    const f: AuditFilters = {};
    for (const name of filterNames) {
      const v = params.get(name);
      if (v) (f as Record<string, string>)[name] = v;
    }
    if (f.result && !["success", "failure", "denied"].includes(f.result)) f.result = undefined as AuditResult | undefined;
    return f;
  }, [params]);
  const key = JSON.stringify(filters);
  const list = useApi((c) => loadPage(c, filters), [key]);
  const [more, setMore] = useState<{ busy: boolean; error?: unknown }>({ busy: false });

  const loadMore = async () => {
    const cursor = list.data?.nextCursor;
    if (!cursor) return;
    setMore({ busy: true });
    try {
      const next = await loadPage(client, filters, cursor);
      list.setData((prev) => ({ items: [...(prev?.items ?? []), ...next.items], nextCursor: next.nextCursor }));
      setMore({ busy: false });
    } catch (error) {
      setMore({ busy: false, error });
    }
  };

  const apply = (next: AuditFilters) => {
    const search = new URLSearchParams();
    for (const name of filterNames) {
      const v = next[name];
      if (v) search.set(name, v);
    }
    setParams(search);
  };

  const events = list.data?.items ?? [];
  const eventTypes = useMemo(() => [...new Set(events.map((e) => e.eventType))].sort(), [events]);
  const filtered = Object.keys(filters).length > 0;

  return (
    <Page
      title="Audit"
      actions={
        <button type="button" onClick={() => void list.reload()}>
          Refresh
        </button>
      }
    >
      <p className="muted audit-intro">
        Every write, secret reveal, failed sign-in and denial, in a tamper-evident log: each event is a leaf of a Merkle tree whose root the
        server signs. Values never appear here, only their HMAC.
      </p>
      <IntegrityPanel onVerified={() => void list.reload()} />
      <section aria-labelledby="audit-events-title">
        <h2 id="audit-events-title">Events</h2>
        <AuditFilterForm value={filters} eventTypes={eventTypes} onApply={apply} />
        <ErrorBanner error={list.error} />
        {list.loading && !list.data ? <Loading what="Loading audit events" /> : null}
        {list.data ? (
          <>
            <p className="muted" role="status" aria-live="polite">
              {events.length} event{events.length === 1 ? "" : "s"} shown{filtered ? " (filtered)" : ""}
              {list.data.nextCursor ? ", more available" : ""}.
            </p>
            <EventTable events={events} />
          </>
        ) : null}
        {more.error ? (
          <div className="banner banner-error" role="alert">
            Could not load more events: {describeError(more.error)}
          </div>
        ) : null}
        {list.data?.nextCursor ? (
          <div className="row audit-more">
            <button type="button" onClick={() => void loadMore()} disabled={more.busy}>
              {more.busy ? "Loading…" : "Load more"}
            </button>
          </div>
        ) : null}
      </section>
    </Page>
  );
}
