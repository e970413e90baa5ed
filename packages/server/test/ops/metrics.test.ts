// GET /metrics: Prometheus text that parses (strictly, and with an independent parser), a request histogram by
// route template that counts what was asked, the named metrics other parts call, no secret or key in the text,
// the optional CAIRN_METRICS_TOKEN gate; and OpenTelemetry traces reaching an OTLP/HTTP receiver when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (a real server process).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { createMetrics } from "../../src/metrics.js";
import { adminKeyOf, httpClient, startOn, until } from "../fixtures/process.js";
import { build, freshStore, ns, type TestApp } from "../helper.js";
import { type Family, parsePrometheusText, seriesValue, sumOf } from "./metrics-format.js";

// An independent reading (a port of the Prometheus Python client's parser); it ships no types.
type ParsedFamily = { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string; count?: string }[] };
const parsePrometheusTextFormat = createRequire(import.meta.url)("parse-prometheus-text-format") as (text: string) => ParsedFamily[];

const noAuth = { authorization: "" };
const REQUEST_METRIC = "cairn_http_request_duration_seconds";

async function scrape(cairn: TestApp, headers: Record<string, string> = noAuth): Promise<{ text: string; families: Map<string, Family> }> {
  const r = await cairn.call("GET", "/metrics", undefined, headers);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  return { text: r.text, families: parsePrometheusText(r.text) };
}

const requestCount = (families: Map<string, Family>, method: string, route: string, status: number) =>
  seriesValue(families, `${REQUEST_METRIC}_count`, { method, route, status_code: String(status) }) ?? 0;

describe("GET /metrics", () => {
  let cairn: TestApp;
  const cleanups: (() => Promise<void>)[] = [];
  before(
    async () => {
      cairn = await build({ after: (fn: () => Promise<void>) => cleanups.push(fn) }, "pglite");
    },
    { timeout: 60_000 },
  );
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  test("answers without credentials with Prometheus text that parses strictly and with an independent parser", async () => {
    const { text, families } = await scrape(cairn);
    const independent = parsePrometheusTextFormat(text);
    assert.deepEqual(independent.map((f) => f.name).sort(), [...families.keys()].sort(), "both parsers see the same metric families");
    for (const name of [
      REQUEST_METRIC,
      "cairn_cache_hits_total",
      "cairn_cache_misses_total",
      "cairn_watch_connections",
      "cairn_watch_events_total",
      "cairn_write_duration_seconds",
      "cairn_audit_append_lag_seconds",
      "cairn_queue_depth",
      "cairn_auth_failures_total",
      // process metrics, prefixed
      "cairn_process_cpu_user_seconds_total",
      "cairn_process_resident_memory_bytes",
      "cairn_nodejs_eventloop_lag_seconds",
      "cairn_nodejs_heap_size_used_bytes",
    ]) {
      assert.ok(families.has(name), `${name} is exposed`);
    }
    assert.equal(families.get(REQUEST_METRIC)?.type, "histogram");
    assert.equal(families.get("cairn_write_duration_seconds")?.type, "histogram");
    assert.equal(families.get("cairn_watch_connections")?.type, "gauge");
    assert.equal(families.get("cairn_cache_hits_total")?.type, "counter");
  });

  test("is in the OpenAPI document as an unauthenticated ops route", async () => {
    const doc = (await cairn.call("GET", "/docs/json", undefined, noAuth)).json;
    assert.deepEqual(doc.paths["/metrics"]?.get?.security, []);
    assert.deepEqual(doc.paths["/metrics"]?.get?.tags, ["ops"]);
  });

  test("the request histogram counts each request under its route template, method and status", async () => {
    const path = `/api/v1/configs/${ns("metrics/histogram")}/db.url`;
    const put = await cairn.call("PUT", path, { value: "postgres://db.internal/x" });
    assert.equal(put.status, 200, put.text);
    const before = (await scrape(cairn)).families;
    for (let i = 0; i < 3; i++) assert.equal((await cairn.call("GET", path)).status, 200);
    assert.equal((await cairn.call("GET", `/api/v1/configs/${ns("metrics/histogram")}/missing`)).status, 404);
    assert.equal((await cairn.call("GET", "/no/such/route", undefined, noAuth)).status, 404);
    const { text, families } = await scrape(cairn);

    const route = "/api/v1/configs/:ns/:key";
    assert.equal(requestCount(families, "GET", route, 200) - requestCount(before, "GET", route, 200), 3);
    assert.equal(requestCount(families, "GET", route, 404) - requestCount(before, "GET", route, 404), 1);
    assert.equal(requestCount(families, "GET", "unmatched", 404) - requestCount(before, "GET", "unmatched", 404), 1);
    assert.ok(requestCount(families, "PUT", route, 200) >= 1);
    const sum = seriesValue(families, `${REQUEST_METRIC}_sum`, { method: "GET", route, status_code: "200" }) ?? 0;
    assert.ok(sum > 0 && sum < 60, `a plausible duration sum in seconds: ${sum}`);
    assert.ok(!text.includes("metrics/histogram") && !text.includes("metrics%2Fhistogram"), "raw URLs never become labels");
    assert.ok(!text.includes("/no/such/route"), "unmatched URLs never become labels");
  });

  test("writes are timed and authentication failures counted by reason", async () => {
    const before = (await scrape(cairn)).families;
    const put = await cairn.call("PUT", `/api/v1/configs/${ns("metrics/writes")}/k`, { value: 1 });
    assert.equal(put.status, 200, put.text);
    const bulk = await cairn.call("POST", "/api/v1/configs/bulk", {
      operations: [{ op: "set", namespace: "metrics/writes", key: "b", value: 2 }],
    });
    assert.equal(bulk.status, 200, bulk.text);
    const bad = `cairn_${"A".repeat(8)}_${"b".repeat(32)}`;
    assert.equal((await cairn.call("GET", "/api/v1/environments", undefined, { authorization: `Bearer ${bad}` })).status, 401);
    assert.equal((await cairn.call("GET", "/api/v1/environments", undefined, noAuth)).status, 401);
    const after = (await scrape(cairn)).families;

    const delta = (name: string, labels: Record<string, string>) =>
      (seriesValue(after, name, labels) ?? 0) - (seriesValue(before, name, labels) ?? 0);
    assert.equal(delta("cairn_write_duration_seconds_count", { kind: "single" }), 1);
    assert.equal(delta("cairn_write_duration_seconds_count", { kind: "bulk" }), 1);
    assert.equal(delta("cairn_auth_failures_total", { reason: "invalid" }), 1);
    assert.equal(delta("cairn_auth_failures_total", { reason: "missing" }), 1);
  });

  test("the config read cache reports hits and misses", async () => {
    const path = `/api/v1/configs/${ns("metrics/cache")}/k`;
    assert.equal((await cairn.call("PUT", path, { value: "v" })).status, 200);
    const before = (await scrape(cairn)).families;
    for (let i = 0; i < 5; i++) assert.equal((await cairn.call("GET", path)).status, 200);
    const after = (await scrape(cairn)).families;
    const lookups =
      sumOf(after, "cairn_cache_hits_total") +
      sumOf(after, "cairn_cache_misses_total") -
      sumOf(before, "cairn_cache_hits_total") -
      sumOf(before, "cairn_cache_misses_total");
    assert.ok(lookups >= 5, `five reads made at least five cache lookups (saw ${lookups})`);
    assert.ok(sumOf(after, "cairn_cache_hits_total") > sumOf(before, "cairn_cache_hits_total"), "repeated reads hit");
  });

  test("no secret value, API key, master key or namespace name ever appears in /metrics", async () => {
    const secret = `sk_live_${randomBytes(12).toString("hex")}`;
    const put = await cairn.call("PUT", `/api/v1/configs/${ns("metrics/secret-ns")}/stripe.key`, { value: secret, secret: true });
    assert.equal(put.status, 200, put.text);
    const reveal = await cairn.call("GET", `/api/v1/configs/${ns("metrics/secret-ns")}/stripe.key?reveal=true`);
    assert.equal(reveal.json?.value, secret);
    const created = await cairn.call("POST", "/api/v1/keys", { name: "metrics-probe", roles: ["viewer"] });
    assert.equal(created.status, 201, created.text);
    const newKey = created.json.key as string;
    assert.equal((await cairn.call("POST", "/api/v1/keys/verify", { key: newKey })).json?.valid, true);
    assert.equal((await cairn.call("GET", "/api/v1/environments", undefined, { authorization: `Bearer ${newKey}` })).status, 200);

    const { text } = await scrape(cairn);
    const masterKey = cairn.testStore.env.CAIRN_MASTER_KEY as string;
    for (const [what, needle] of [
      ["the secret value", secret],
      ["the admin key", cairn.adminKey],
      ["the admin key's secret part", cairn.adminKey.split("_")[2] as string],
      ["the new key", newKey],
      ["the new key's secret part", newKey.split("_")[2] as string],
      ["the master key", masterKey],
      ["the namespace", "secret-ns"],
      ["the key name", "stripe.key"],
      ["the key id", created.json.id as string],
    ] as const) {
      assert.ok(!text.includes(needle), `${what} is not in /metrics`);
    }
  });
});

describe("GET /metrics with CAIRN_METRICS_TOKEN", () => {
  const token = `metrics-${randomBytes(16).toString("hex")}`;
  let cairn: TestApp;
  const cleanups: (() => Promise<void>)[] = [];
  before(
    async () => {
      cairn = await build({ after: (fn: () => Promise<void>) => cleanups.push(fn) }, "pglite", { CAIRN_METRICS_TOKEN: token });
    },
    { timeout: 60_000 },
  );
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  test("refuses a scrape without the token, with a wrong one, and with an API key (401 problem)", async () => {
    for (const authorization of ["", "Bearer wrong-token", `Bearer ${cairn.adminKey}`, token]) {
      const r = await cairn.call("GET", "/metrics", undefined, { authorization });
      assert.equal(r.status, 401, `${authorization.slice(0, 12)}…: ${r.text}`);
      assert.match(String(r.headers["content-type"]), /^application\/problem\+json/);
      assert.match(String(r.headers["www-authenticate"]), /^Bearer /);
      assert.ok(!r.text.includes(token), "the problem does not echo the token");
    }
  });

  test("serves the metrics with the token, and counts the refused scrapes", async () => {
    const { families } = await scrape(cairn, { authorization: `Bearer ${token}` });
    assert.ok((seriesValue(families, "cairn_auth_failures_total", { reason: "metrics_token" }) ?? 0) >= 4);
  });

  test("/health stays open", async () => {
    assert.equal((await cairn.call("GET", "/health", undefined, noAuth)).status, 200);
  });
});

describe("createMetrics", () => {
  test("each app has its own registry", async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.observeRequest("GET", "/x", 200, 1.5);
    const count = async (m: ReturnType<typeof createMetrics>) =>
      seriesValue(parsePrometheusText((await m.exposition()).text), `${REQUEST_METRIC}_count`, {
        method: "GET",
        route: "/x",
        status_code: "200",
      });
    assert.equal(await count(a), 1);
    assert.equal(await count(b), undefined);
  });

  test("the calls other parts make show up as documented", async () => {
    const m = createMetrics();
    const done1 = m.watchConnected();
    const done2 = m.watchConnected();
    m.watchConnected();
    done1();
    done1(); // once only
    m.watchEvents(1000);
    m.watchEvents();
    m.caches.hit("values");
    m.caches.hit("values");
    m.caches.miss("values");
    m.caches.miss("keys");
    m.auditAppendLag(0.25);
    m.observeWrite("single", 0.004);
    m.authFailure("revoked");
    m.queueDepth("alerts", () => 7);
    const stop = m.queueDepth("usage", async () => 3);
    m.queueDepth("broken", () => {
      throw new Error("cannot tell");
    });
    m.observeRequest("GET", "/x", 200, 0.3); // 0.0003 s: the first bucket
    m.observeRequest("GET", "/x", 200, 20_000); // 20 s: only +Inf

    let families = parsePrometheusText((await m.exposition()).text);
    assert.equal(seriesValue(families, "cairn_watch_connections"), 2);
    assert.equal(seriesValue(families, "cairn_watch_events_total"), 1001);
    assert.equal(seriesValue(families, "cairn_cache_hits_total", { cache: "values" }), 2);
    assert.equal(seriesValue(families, "cairn_cache_misses_total", { cache: "values" }), 1);
    assert.equal(seriesValue(families, "cairn_cache_misses_total", { cache: "keys" }), 1);
    assert.equal(seriesValue(families, "cairn_cache_hits_total", { cache: "keys" }), 0);
    assert.equal(seriesValue(families, "cairn_audit_append_lag_seconds"), 0.25);
    assert.equal(seriesValue(families, "cairn_write_duration_seconds_count", { kind: "single" }), 1);
    assert.equal(seriesValue(families, "cairn_auth_failures_total", { reason: "revoked" }), 1);
    assert.equal(seriesValue(families, "cairn_queue_depth", { queue: "alerts" }), 7);
    assert.equal(seriesValue(families, "cairn_queue_depth", { queue: "usage" }), 3);
    assert.equal(seriesValue(families, "cairn_queue_depth", { queue: "broken" }), undefined);
    const labels = { method: "GET", route: "/x", status_code: "200" };
    assert.equal(seriesValue(families, `${REQUEST_METRIC}_bucket`, { ...labels, le: "0.0005" }), 1);
    assert.equal(seriesValue(families, `${REQUEST_METRIC}_bucket`, { ...labels, le: "10" }), 1);
    assert.equal(seriesValue(families, `${REQUEST_METRIC}_bucket`, { ...labels, le: "+Inf" }), 2);
    assert.ok(Math.abs((seriesValue(families, `${REQUEST_METRIC}_sum`, labels) ?? 0) - 20.0003) < 1e-9);

    done2();
    stop();
    families = parsePrometheusText((await m.exposition()).text);
    assert.equal(seriesValue(families, "cairn_watch_connections"), 1);
    assert.equal(seriesValue(families, "cairn_queue_depth", { queue: "usage" }), undefined);
    assert.equal(seriesValue(families, "cairn_watch_events_total"), 1001, "counters keep their value across scrapes");
  });

  test("the strict reader refuses what Prometheus would refuse", () => {
    for (const bad of [
      "x 1", // no final line feed
      "1x 1\n",
      'x{a="1"} one\n',
      'x{a="1} 1\n',
      'x{a="1",a="2"} 1\n',
      "x 1\nx 2\n",
      "# TYPE x counter\n# TYPE x gauge\nx 1\n",
      'x 1\ny 1\nx{a="b"} 2\n',
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 0\n',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\nh_sum 0\n',
    ]) {
      assert.throws(() => parsePrometheusText(bad), Error, JSON.stringify(bad));
    }
    assert.equal(
      parsePrometheusText('# HELP x a "help" \\ text\nx{a="q\\"\\n\\\\"} -Inf 1700000000000\n').get("x")?.samples[0]?.labels.a,
      'q"\n\\',
    );
  });
});

// --------------------------------------------------------------------------------------------------------
// tracing

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** A minimal OTLP/HTTP (JSON) trace receiver: keeps what it is sent. */
async function otlpReceiver() {
  const spans: { span: ExportedSpan; resource: Record<string, unknown> }[] = [];
  const requests: { path: string; contentType?: string }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({ path: req.url ?? "", contentType: req.headers["content-type"] });
      if (req.method === "POST" && req.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        for (const rs of body.resourceSpans ?? []) {
          const resource = Object.fromEntries(
            (rs.resource?.attributes ?? []).map((a: { key: string; value: Record<string, unknown> }) => [a.key, Object.values(a.value)[0]]),
          );
          for (const ss of rs.scopeSpans ?? []) for (const span of ss.spans ?? []) spans.push({ span, resource });
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, spans, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const attr = (span: ExportedSpan, key: string) => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
};

describe("OpenTelemetry tracing (server process)", () => {
  test("with OTEL_EXPORTER_OTLP_ENDPOINT set, request spans named by route reach the OTLP receiver", { timeout: 90_000 }, async (t) => {
    const receiver = await otlpReceiver();
    t.after(() => receiver.close());
    const store = await freshStore("pglite");
    t.after(() => store.drop());
    const server = await startOn(store, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_SERVICE_NAME: "cairn-metrics-test",
    });
    t.after(async () => {
      await server.kill("SIGKILL");
    });
    const adminKey = await adminKeyOf(server);
    const call = httpClient(server.url, adminKey);

    assert.equal((await call("GET", "/health", undefined, { authorization: "" })).status, 200);
    const traceId = randomBytes(16).toString("hex");
    const parentId = randomBytes(8).toString("hex");
    const r = await call("GET", "/api/v1/environments", undefined, { traceparent: `00-${traceId}-${parentId}-01` });
    assert.equal(r.status, 200, r.text);

    const wanted = () => receiver.spans.find((s) => s.span.name === "GET /api/v1/environments");
    await until(
      "the request's span at the OTLP receiver",
      () => wanted() !== undefined,
      30_000,
      () =>
        JSON.stringify({
          requests: receiver.requests,
          spans: receiver.spans.map((s) => s.span.name),
          output: server.output().slice(-2000),
        }),
    );
    const { span, resource } = wanted() as { span: ExportedSpan; resource: Record<string, unknown> };
    assert.equal(span.kind, 2, "a server span");
    assert.equal(attr(span, "http.route"), "/api/v1/environments");
    assert.equal(span.traceId, traceId, "the caller's W3C traceparent is continued");
    assert.equal(span.parentSpanId, parentId);
    assert.equal(resource["service.name"], "cairn-metrics-test");
    assert.ok(receiver.requests.every((q) => q.path === "/v1/traces" && q.contentType === "application/json"));
    assert.ok(!receiver.spans.some((s) => /\/health/.test(s.span.name) || attr(s.span, "url.path") === "/health"), "probes are not traced");
    const exported = JSON.stringify(receiver.spans);
    assert.ok(!exported.includes(adminKey), "no API key in any span");
  });
});
