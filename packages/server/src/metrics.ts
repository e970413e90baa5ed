/**
 * Prometheus metrics of one Cairn app (`GET /metrics`, see src/http/metrics.ts).
 *
 * `createMetrics()` makes a prom-client Registry per app (never prom-client's global one: tests build many
 * apps in one process), reachable as `cairn.metrics` and passed to services as a dependency. What to call:
 *
 *   metrics.caches.hit("values") / .miss("values")     cairn_cache_hits_total / cairn_cache_misses_total {cache}
 *                                                       (structurally a CacheCounters of src/cache/values.ts)
 *   metrics.watchConnected()  → returns done()          cairn_watch_connections (gauge: +1 now, −1 on done(), once)
 *   metrics.watchEvents(n = 1)                          cairn_watch_events_total (events written to watchers, fan-out counted)
 *   metrics.observeWrite(kind, seconds)                 cairn_write_duration_seconds {kind: "single" | "bulk"}
 *   metrics.auditAppendLag(seconds)                     cairn_audit_append_lag_seconds (gauge: the sequencer sets it
 *                                                       per batch: now − commit time of the oldest event it sequenced)
 *   metrics.queueDepth(queue, () => n)  → unregister()  cairn_queue_depth {queue} (read by the callback at each scrape;
 *                                                       the callback may be async and should be cheap)
 *   metrics.authFailure(reason)                         cairn_auth_failures_total {reason} (a closed set of words,
 *                                                       never anything the caller sent)
 *   metrics.observeRequest(method, route, status, ms)   cairn_http_request_duration_seconds {method, route, status_code}
 *                                                       (called by the onResponse hook in app.ts; route is the route
 *                                                       template, `routeOptions.url`, never the raw URL)
 *
 * Rules for anyone adding a metric: label values come from closed sets (route templates, cache names, reasons,
 * status codes) — never ids, namespaces, keys, tenants or anything from a credential, so /metrics can be scraped
 * without leaking data and its cardinality stays bounded.
 *
 * Hot-path counters (requests, cache hits, watch events) are plain numbers folded into the prom-client metrics
 * when /metrics is scraped: an observation costs tens of nanoseconds, not a label hash per call.
 *
 * Process metrics (CPU, memory, event-loop lag, GC, handles; prefix `cairn_`) are per process, so they live in one
 * process-wide registry, started on the first scrape and appended to every app's exposition.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from "prom-client";

/** Seconds; fine below 5 ms, where the read target lives. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const WRITE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** One (method, route, status) series of the request histogram: non-cumulative bucket counts. */
interface RequestSeries {
  labels: { method: string; route: string; status_code: number };
  buckets: Float64Array;
  sum: number;
  count: number;
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * The request-duration histogram, kept outside prom-client's Histogram (whose observe hashes the label object on
 * every call) and shaped as prom-client expects of a registered metric, so the registry renders it.
 */
class RequestDurations {
  readonly name = "cairn_http_request_duration_seconds";
  readonly help = "HTTP request duration in seconds, by method, route template and status code";
  readonly type = "histogram";
  readonly aggregator = "sum";
  /** route → status → method → series: lookups by strings the router and the HTTP parser reuse (no key built per call). */
  private readonly index = new Map<string, Map<number, Map<string, RequestSeries>>>();
  private readonly series: RequestSeries[] = [];

  observe(method: string, route: string, status: number, seconds: number): void {
    let byStatus = this.index.get(route);
    if (!byStatus) {
      byStatus = new Map();
      this.index.set(route, byStatus);
    }
    let byMethod = byStatus.get(status);
    if (!byMethod) {
      byMethod = new Map();
      byStatus.set(status, byMethod);
    }
    let s = byMethod.get(method);
    if (!s) {
      s = { labels: { method, route, status_code: status }, buckets: new Float64Array(REQUEST_BUCKETS.length + 1), sum: 0, count: 0 };
      byMethod.set(method, s);
      this.series.push(s);
    }
    let i = 0;
    while (i < REQUEST_BUCKETS.length && seconds > (REQUEST_BUCKETS[i] as number)) i++;
    (s.buckets[i] as number)++;
    s.sum += seconds;
    s.count++;
  }

  get() {
    const values: MetricValue[] = [];
    for (const s of this.series) {
      let acc = 0;
      for (const [i, le] of REQUEST_BUCKETS.entries()) {
        acc += s.buckets[i] as number;
        values.push({ value: acc, labels: { ...s.labels, le }, metricName: `${this.name}_bucket` });
      }
      values.push({ value: s.count, labels: { ...s.labels, le: "+Inf" }, metricName: `${this.name}_bucket` });
      values.push({ value: s.sum, labels: s.labels, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: s.labels, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.index.clear();
    this.series.length = 0;
  }
}

let processRegistry: Registry | undefined;
/** Process metrics, started once per process on the first scrape (so an unscraped server pays nothing for them). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: "cairn_" });
  }
  return processRegistry;
}

export function createMetrics() {
  const registry = new Registry();
  const registers = [registry];

  const requests = new RequestDurations();
  registry.registerMetric(requests as unknown as Metric);

  const cacheCounts = new Map<string, { hits: number; misses: number }>();
  const countsOf = (cache: string) => {
    let c = cacheCounts.get(cache);
    if (!c) {
      c = { hits: 0, misses: 0 };
      cacheCounts.set(cache, c);
    }
    return c;
  };
  new Counter({
    name: "cairn_cache_hits_total",
    help: "Cache lookups answered from the cache, by cache",
    labelNames: ["cache"],
    registers,
    collect() {
      this.reset();
      for (const [cache, c] of cacheCounts) this.inc({ cache }, c.hits);
    },
  });
  new Counter({
    name: "cairn_cache_misses_total",
    help: "Cache lookups that went to the next layer, by cache",
    labelNames: ["cache"],
    registers,
    collect() {
      this.reset();
      for (const [cache, c] of cacheCounts) this.inc({ cache }, c.misses);
    },
  });

  let watchConnections = 0;
  let watchEvents = 0;
  new Gauge({
    name: "cairn_watch_connections",
    help: "Watch (Server-Sent Events) connections open on this process",
    registers,
    collect() {
      this.set(watchConnections);
    },
  });
  new Counter({
    name: "cairn_watch_events_total",
    help: "Change events written to watchers (one per event per watcher)",
    registers,
    collect() {
      this.reset();
      this.inc(watchEvents);
    },
  });

  const writeDuration = new Histogram({
    name: "cairn_write_duration_seconds",
    help: "Duration of committed config writes (decide, seal, write head, version and audit event), by kind",
    labelNames: ["kind"],
    buckets: WRITE_BUCKETS,
    registers,
  });
  const auditLag = new Gauge({
    name: "cairn_audit_append_lag_seconds",
    help: "Seconds between an audit event's commit and its sequencing into the Merkle log (last batch)",
    registers,
  });

  const queues = new Map<string, () => number | Promise<number>>();
  new Gauge({
    name: "cairn_queue_depth",
    help: "Items waiting in a queue, by queue",
    labelNames: ["queue"],
    registers,
    async collect() {
      this.reset();
      await Promise.all(
        [...queues].map(async ([queue, depth]) => {
          try {
            this.set({ queue }, await depth());
          } catch {
            // A queue that cannot say its depth now is left out of this scrape.
          }
        }),
      );
    },
  });

  const authFailures = new Counter({
    name: "cairn_auth_failures_total",
    help: "Requests refused for want of a valid credential, by reason",
    labelNames: ["reason"],
    registers,
  });

  return {
    registry,
    /** One request, from the onResponse hook: route is the route template ("unmatched" when none). */
    observeRequest(method: string, route: string, status: number, milliseconds: number): void {
      requests.observe(method, route, status, milliseconds / 1000);
    },
    /** Counters for caches: pass as `counters` to createValueCache and friends. */
    caches: {
      hit(cache: string): void {
        countsOf(cache).hits++;
      },
      miss(cache: string): void {
        countsOf(cache).misses++;
      },
    },
    /** A watcher connected: returns the function to call once when it goes away. */
    watchConnected(): () => void {
      watchConnections++;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        watchConnections--;
      };
    },
    watchEvents(n = 1): void {
      watchEvents += n;
    },
    observeWrite(kind: "single" | "bulk", seconds: number): void {
      writeDuration.observe({ kind }, seconds);
    },
    auditAppendLag(seconds: number): void {
      auditLag.set(seconds);
    },
    /** Reports a queue's depth at every scrape; returns the function that stops it. */
    queueDepth(queue: string, depth: () => number | Promise<number>): () => void {
      queues.set(queue, depth);
      return () => {
        if (queues.get(queue) === depth) queues.delete(queue);
      };
    },
    authFailure(reason: string): void {
      authFailures.inc({ reason });
    },
    /** The Prometheus text exposition (format 0.0.4) of this app's metrics and the process metrics. */
    async exposition(): Promise<{ contentType: string; text: string }> {
      const [own, proc] = await Promise.all([registry.metrics(), processMetrics().metrics()]);
      return { contentType: Registry.PROMETHEUS_CONTENT_TYPE, text: `${own}\n${proc}` };
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
