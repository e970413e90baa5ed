#!/usr/bin/env node
// Cairn load benchmarks, each measured against a reference run on the same machine in the same run.
//
//   npm run bench                      (tsc -b, then this)
//   BENCH_DURATION=5 npm run bench
//
// (a) read:  Cairn's authenticated GET /api/v1/configs/bench%2Fservice/payload (a ~1 KB JSON value)
//            vs a bare Fastify hello-world (bench/reference/hello.mjs).
//            Target: ≥ 0.5× hello-world req/s, p99 < 5 ms, at 50 connections.
// (b) write: Cairn's versioned PUT /api/v1/configs/bench%2Fwrites/key-<n> (~1 KB value)
//            vs bench/reference/pg-writes.mjs: one `pg` transaction doing the same three inserts
//            (head upsert, version row, audit row). Target: ≥ 0.6× the reference.
// (c) scale-out: the read of (a) against TWO Cairn processes on the same PostgreSQL (+ Redis), one
//            autocannon each with half the connections, summed; vs the one-process read of (a).
//            A figure, no target (on a 2-core machine both servers share the cores with PostgreSQL,
//            Redis and the load generator). Needs PostgreSQL.
// (d) mix:   95 % reads / 5 % writes (each connection: 19 GETs, then one PUT) over BENCH_MIX_KEYS keys of
//            ~1 KB; the cache hit ratio is read from Cairn's /metrics (cairn_cache_hits_total and
//            cairn_cache_misses_total, cache BENCH_MIX_CACHE, default "values": the resolved-read cache)
//            as the difference across the measured run. Target: > 95 %.
// (e) watch: BENCH_WATCHERS (1,000) Server-Sent Events streams on GET /api/v1/watch, held by
//            BENCH_WATCH_WORKERS (2) worker threads (bench/watchers.mjs); one PUT every 100 ms
//            (BENCH_WATCH_WRITES writes, default 10 × BENCH_DURATION); for each write and each watcher,
//            the time from the PUT's response (the acknowledgement) to that watcher's receipt of the
//            change, on the process's monotonic clock. Target: p99 < 100 ms, none lost.
//
// Database: DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test if it answers. The bench
// creates fresh databases cairn_bench_<rand> (Cairn) and cairn_bench_<rand>_ref (reference) on that
// server and drops them afterwards. With no PostgreSQL (or BENCH_EMBEDDED=1) Cairn runs embedded
// (PGlite in a temporary --data-dir) and the write reference is skipped.
//
// Env: BENCH_DURATION (s, 10), BENCH_WARMUP (s, 2), BENCH_CONNECTIONS (50), BENCH_WRITE_KEYS (1000:
// writes cycle through key-0 … key-999), BENCH_POOL_SIZE (20: pg pool of Cairn and of the reference),
// BENCH_CAIRN_LOG_LEVEL (warn), BENCH_START_TIMEOUT (s, 90), BENCH_CAIRN_CLI (path of the CLI to run),
// BENCH_EMBEDDED=1, BENCH_ENFORCE=1 (exit 3 when a target is missed; by default the exit code only
// says whether the harness itself worked), BENCH_MIX_KEYS (100), BENCH_MIX_CACHE (values), BENCH_WATCHERS
// (1000), BENCH_WATCH_WORKERS (2), BENCH_WATCH_WRITES (10 × BENCH_DURATION), BENCH_SKIP (comma list of
// scale, mix, watch), BENCH_REDIS=0 (no Redis even when one answers).
//
// Redis: REDIS_URL, else redis://127.0.0.1:6379 if it answers PING; every Cairn process of the run uses it.
//
// Results: a table on stdout and bench/results/latest.json.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import autocannon from "autocannon";
import pg from "pg";

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(benchDir, "..");
const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";
const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
const KEY_PATTERN = /cairn_[0-9A-Za-z]{8}_[0-9A-Za-z]+/;

const TARGETS = {
  readRatio: 0.5,
  readP99Ms: 5,
  verifyRatio: 0.5,
  writeRatio: 0.6,
  mixHitRatio: 0.95,
  watchP99Ms: 100,
};

function intEnv(name, fallback, min = 0) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${raw}"`);
  return n;
}

const cfg = {
  duration: intEnv("BENCH_DURATION", 10, 1),
  warmup: intEnv("BENCH_WARMUP", 2, 0),
  connections: intEnv("BENCH_CONNECTIONS", 50, 1),
  writeKeys: intEnv("BENCH_WRITE_KEYS", 1000, 1),
  poolSize: intEnv("BENCH_POOL_SIZE", 20, 1),
  startTimeoutMs: intEnv("BENCH_START_TIMEOUT", 90, 1) * 1000,
  cairnLogLevel: process.env.BENCH_CAIRN_LOG_LEVEL || "warn",
  enforce: process.env.BENCH_ENFORCE === "1",
  mixKeys: intEnv("BENCH_MIX_KEYS", 100, 1),
  mixCache: process.env.BENCH_MIX_CACHE || "values",
  watchers: intEnv("BENCH_WATCHERS", 1000, 1),
  watchWorkers: intEnv("BENCH_WATCH_WORKERS", 2, 1),
  watchWrites: intEnv("BENCH_WATCH_WRITES", 10 * intEnv("BENCH_DURATION", 10, 1), 1),
  watchIntervalMs: 100,
  skip: new Set(
    (process.env.BENCH_SKIP ?? "")
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  ),
};
for (const name of cfg.skip) {
  if (!["scale", "mix", "watch"].includes(name)) throw new Error(`BENCH_SKIP: unknown scenario "${name}" (scale, mix, watch)`);
}
/** The Redis every Cairn process of the run uses (set by chooseRedis). */
let redisUrl;

// ---------------------------------------------------------------------------------------------
// child processes

const children = new Set();
const tmpDirs = new Set();
const databasesToDrop = [];
const statClients = new Set();
let adminUrlForDrop;

const redact = (line) => line.replace(/cairn_([0-9A-Za-z]{8})_[0-9A-Za-z]+/g, "cairn_$1_…");

/** Starts `node <args>`; keeps the last lines of its output for error messages. */
function startChild(name, args, env) {
  const proc = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  const child = { name, proc, lines: [], listeners: new Set(), exit: undefined };
  child.exited = new Promise((resolve) => {
    proc.on("exit", (code, signal) => {
      child.exit = { code, signal };
      children.delete(child);
      resolve(child.exit);
    });
    proc.on("error", (err) => {
      child.exit = { code: null, signal: null, error: err };
      children.delete(child);
      resolve(child.exit);
    });
  });
  for (const stream of [proc.stdout, proc.stderr]) {
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      buf += chunk;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        child.lines.push(line);
        if (child.lines.length > 80) child.lines.shift();
        for (const fn of child.listeners) fn(line);
        nl = buf.indexOf("\n");
      }
    });
  }
  children.add(child);
  return child;
}

function childOutput(child) {
  return child.lines.length === 0 ? "  (no output)" : child.lines.map((l) => `  | ${redact(l)}`).join("\n");
}

function describeExit(exit) {
  if (exit.error) return `could not start: ${exit.error.message}`;
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/** Resolves with the first match of `regex` in the child's output (past lines included). */
function waitForLine(child, regex, timeoutMs, what) {
  for (const line of child.lines) {
    const m = regex.exec(line);
    if (m) return Promise.resolve(m);
  }
  return new Promise((resolve, reject) => {
    const done = (fn, value) => {
      clearTimeout(timer);
      child.listeners.delete(onLine);
      fn(value);
    };
    const onLine = (line) => {
      const m = regex.exec(line);
      if (m) done(resolve, m);
    };
    const timer = setTimeout(
      () => done(reject, new Error(`${child.name}: no ${what} after ${timeoutMs / 1000}s\n${childOutput(child)}`)),
      timeoutMs,
    );
    child.listeners.add(onLine);
    child.exited.then((exit) =>
      done(reject, new Error(`${child.name} ${describeExit(exit)} before printing ${what}\n${childOutput(child)}`)),
    );
  });
}

async function stopChild(child) {
  if (child.exit) return;
  child.proc.kill("SIGTERM");
  const timer = setTimeout(() => child.proc.kill("SIGKILL"), 10_000);
  await child.exited;
  clearTimeout(timer);
}

async function freePort() {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen({ host: "127.0.0.1", port: 0 }, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// CPU time of a child (Linux /proc), to tell a saturated server from a saturated load generator

let clockTicks = 100;
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); utime is field 14, stime field 15
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// load

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

function runAutocannon(opts, onResponse) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    if (onResponse) instance.on("response", onResponse);
  });
}

/**
 * Warm up, then load the server for cfg.duration seconds. Latency percentiles come from each 2xx
 * response's own time (sub-millisecond; autocannon's histogram keeps whole milliseconds).
 *
 * `server` and `opts` may be arrays (several servers, one autocannon each, loaded at the same time): the
 * figures are then the sums (req/s, responses, server CPU) and the merged latencies. `around.before` and
 * `around.after` run right before and right after the measured run (not the warm-up).
 */
async function measure(label, server, opts, dbXacts, around = {}) {
  const servers = Array.isArray(server) ? server : [server];
  const bases = (Array.isArray(opts) ? opts : [opts]).map((o) => ({ connections: cfg.connections, timeout: 10, ...o }));
  if (cfg.warmup > 0) {
    process.stdout.write(`  ${label}: warm-up ${cfg.warmup}s … `);
    await Promise.all(bases.map((base) => runAutocannon({ ...base, duration: cfg.warmup })));
  } else {
    process.stdout.write(`  ${label}: `);
  }
  process.stdout.write(`measuring ${cfg.duration}s … `);

  let latencies = new Float64Array(1 << 18);
  let n = 0;
  const onResponse = (_client, statusCode, _bytes, responseTime) => {
    if (statusCode < 200 || statusCode > 299) return;
    if (n === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2);
      bigger.set(latencies);
      latencies = bigger;
    }
    latencies[n++] = responseTime;
  };

  await around.before?.();
  const xactsBefore = dbXacts ? await dbXacts() : undefined;
  const cpuBefore = servers.map((s) => cpuSeconds(s.proc.pid));
  const t0 = process.hrtime.bigint();
  const runs = await Promise.all(bases.map((base) => runAutocannon({ ...base, duration: cfg.duration }, onResponse)));
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuAfter = servers.map((s) => cpuSeconds(s.proc.pid));
  const aroundAfter = await around.after?.();
  let xactsAfter;
  if (dbXacts) {
    await sleep(1500); // backends flush their statistics about once a second
    xactsAfter = await dbXacts();
  }

  const total = (field) => runs.reduce((acc, r) => acc + (r[field] ?? 0), 0);
  const result = { "2xx": total("2xx"), non2xx: total("non2xx"), errors: total("errors"), timeouts: total("timeouts") };
  const statusCodes = {};
  for (const r of runs) {
    for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = (statusCodes[code] ?? 0) + v.count;
  }
  const cpuKnown = cpuBefore.every((c) => c !== undefined) && cpuAfter.every((c) => c !== undefined);
  const cpuUsed = cpuKnown ? cpuAfter.reduce((acc, c, i) => acc + (c - cpuBefore[i]), 0) : undefined;

  const sorted = latencies.subarray(0, n).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  const seconds = Math.max(...runs.map((r) => r.duration || 0)) || elapsed;
  const m = {
    label,
    durationSeconds: seconds,
    connections: bases.reduce((acc, b) => acc + b.connections, 0),
    ...(servers.length > 1 ? { servers: servers.length } : {}),
    requestsPerSecond: result["2xx"] / seconds,
    ok2xx: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    latencyMs: {
      mean: n ? sum / n : Number.NaN,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: n ? sorted[n - 1] : Number.NaN,
    },
    // Summed over the servers (100% = one core).
    serverCpuPercent: cpuUsed !== undefined ? (cpuUsed / elapsed) * 100 : null,
    // PostgreSQL transactions (commits + rollbacks) in the server's database per request: about 0 for a
    // read served from memory. Approximate: the statistics trail the transactions by up to a second or so.
    dbTransactionsPerRequest:
      xactsBefore !== undefined && xactsAfter !== undefined && result["2xx"] + result.non2xx > 0
        ? (xactsAfter - xactsBefore) / (result["2xx"] + result.non2xx)
        : null,
  };
  if (aroundAfter !== undefined) m.extra = aroundAfter;
  m.valid = m.ok2xx > 0 && m.non2xx === 0 && m.errors === 0;
  console.log(
    `${fmtInt(m.requestsPerSecond)} req/s, p50 ${fmtMs(m.latencyMs.p50)} ms, p99 ${fmtMs(m.latencyMs.p99)} ms` +
      (m.valid ? "" : `  ⚠ non-2xx ${m.non2xx} ${JSON.stringify(m.statusCodes)}, errors ${m.errors}`),
  );
  return m;
}

// ---------------------------------------------------------------------------------------------
// formatting

const fmtInt = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a");
const fmtMs = (x) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : "n/a");
const fmtRatio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "n/a");
const fmtPct = (x) => (x === null || x === undefined || !Number.isFinite(x) ? "n/a" : `${Math.round(x)}%`);

function redactUrl(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<unparseable url>";
  }
}

function withDatabase(url, database) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

// ---------------------------------------------------------------------------------------------
// setup

async function chooseDatabase() {
  if (process.env.BENCH_EMBEDDED === "1") return { mode: "embedded", reason: "BENCH_EMBEDDED=1" };
  const explicit = process.env.DATABASE_URL?.trim();
  const adminUrl = explicit || DEFAULT_DATABASE_URL;
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  let serverVersion;
  try {
    await client.connect();
    serverVersion = (await client.query("SHOW server_version")).rows[0].server_version;
  } catch (err) {
    await client.end().catch(() => {});
    if (explicit) throw new Error(`DATABASE_URL (${redactUrl(adminUrl)}) is not reachable: ${err.message}`);
    return { mode: "embedded", reason: `${redactUrl(adminUrl)} is not reachable (${err.message})` };
  }
  const name = `cairn_bench_${randomBytes(4).toString("hex")}`;
  try {
    adminUrlForDrop = adminUrl;
    for (const db of [name, `${name}_ref`]) {
      await client.query(`CREATE DATABASE "${db}"`);
      databasesToDrop.push(db);
    }
  } finally {
    await client.end().catch(() => {});
  }
  return {
    mode: "postgres",
    adminUrl,
    serverVersion,
    cairnDatabase: name,
    refDatabase: `${name}_ref`,
    cairnUrl: withDatabase(adminUrl, name),
    refUrl: withDatabase(adminUrl, `${name}_ref`),
  };
}

/** A function returning the committed + rolled-back transaction count of one database, from pg_stat_database. */
async function xactCounter(adminUrl, database) {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  await client.connect();
  statClients.add(client);
  return async () => {
    const r = await client.query("SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database WHERE datname = $1", [database]);
    return Number(r.rows[0]?.n ?? 0);
  };
}

async function dropDatabases() {
  if (databasesToDrop.length === 0) return;
  const client = new pg.Client({ connectionString: adminUrlForDrop, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    while (databasesToDrop.length > 0) {
      const db = databasesToDrop.pop();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
      } catch (err) {
        console.error(`bench: could not drop database ${db}: ${err.message}`);
      }
    }
  } catch (err) {
    console.error(`bench: could not connect to drop databases ${databasesToDrop.join(", ")}: ${err.message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** REDIS_URL when set; else a Redis on 127.0.0.1:6379 when it answers PING; none with BENCH_REDIS=0. */
async function chooseRedis() {
  if (process.env.BENCH_REDIS === "0") return { url: undefined, reason: "BENCH_REDIS=0" };
  const explicit = process.env.REDIS_URL?.trim();
  if (explicit) return { url: explicit, reason: "REDIS_URL" };
  const answers = await new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port: 6379 });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => done(String(d).startsWith("+PONG")));
  });
  return answers
    ? { url: DEFAULT_REDIS_URL, reason: "answered PING on 127.0.0.1:6379" }
    : { url: undefined, reason: "REDIS_URL unset and nothing answers on 127.0.0.1:6379" };
}

/** A server's /metrics text (unauthenticated: the bench never sets CAIRN_METRICS_TOKEN). */
async function scrapeMetrics(url) {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}/metrics: HTTP ${res.status} ${text.slice(0, 200)}`);
  return text;
}

/**
 * From /metrics: cairn_cache_hits_total / cairn_cache_misses_total by cache name, and the 2xx responses of
 * `route` by method (from the request histogram's _count).
 */
async function metricsSnapshot(url, route) {
  const text = await scrapeMetrics(url);
  const caches = {};
  for (const m of text.matchAll(/^cairn_cache_(hits|misses)_total\{cache="([^"]*)"\} (\S+)$/gm)) {
    caches[m[2]] ??= { hits: 0, misses: 0 };
    caches[m[2]][m[1]] = Number(m[3]);
  }
  const requests = {};
  for (const m of text.matchAll(/^cairn_http_request_duration_seconds_count\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels.route === route && /^2\d\d$/.test(labels.status_code))
      requests[labels.method] = (requests[labels.method] ?? 0) + Number(m[2]);
  }
  return { caches, requests };
}

/** Hits and lookups per cache between two metricsSnapshot().caches. */
function cacheDelta(before, after) {
  const out = {};
  for (const [cache, a] of Object.entries(after)) {
    const b = before[cache] ?? { hits: 0, misses: 0 };
    const hits = a.hits - b.hits;
    const lookups = hits + (a.misses - b.misses);
    out[cache] = { hits, lookups, hitRatio: lookups > 0 ? hits / lookups : null };
  }
  return out;
}

function findCli() {
  if (process.env.BENCH_CAIRN_CLI) return path.resolve(process.env.BENCH_CAIRN_CLI);
  for (const rel of ["packages/cli/bin/cairn.js", "packages/cli/dist/bin.js"]) {
    const p = path.join(repoRoot, rel);
    if (existsSync(p)) return rel;
  }
  throw new Error(
    "the Cairn CLI is not built: neither packages/cli/bin/cairn.js nor packages/cli/dist/bin.js exists (run `npm run bench`, which runs tsc -b)",
  );
}

async function startReference(name, script, env = {}) {
  const child = startChild(name, [path.join("bench", "reference", script)], { ...process.env, PORT: "0", ...env });
  const m = await waitForLine(child, /READY port=(\d+)/, cfg.startTimeoutMs, "READY");
  const url = `http://127.0.0.1:${m[1]}`;
  return { child, url };
}

/**
 * Starts `cairn serve` on the chosen database (and Redis, when one is used). The first instance on a fresh
 * database prints its admin key; `replicaOf` starts another process on the same database and master key
 * (it prints no key: the database is bootstrapped already).
 */
async function startCairn(db, cli, { replicaOf, name = "cairn" } = {}) {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "cairn-bench-"));
  tmpDirs.add(dataDir);
  const env = {
    ...process.env,
    CAIRN_HOST: "127.0.0.1",
    CAIRN_LOG_LEVEL: cfg.cairnLogLevel,
    CAIRN_DATABASE_POOL_SIZE: String(cfg.poolSize),
  };
  // A fresh instance prints its generated admin key once on stdout; nothing from our environment may pre-empt that.
  for (const name of ["CAIRN_PORT", "CAIRN_DATA_DIR", "CAIRN_BOOTSTRAP_ADMIN_KEY", "CAIRN_MASTER_KEY_FILE", "CAIRN_METRICS_TOKEN"])
    delete env[name];
  if (redisUrl) env.REDIS_URL = redisUrl;
  else delete env.REDIS_URL;
  if (db.mode === "postgres") {
    env.DATABASE_URL = db.cairnUrl;
    env.CAIRN_MASTER_KEY = replicaOf?.masterKey ?? randomBytes(32).toString("base64");
  } else {
    delete env.DATABASE_URL;
    delete env.CAIRN_MASTER_KEY;
  }
  const child = startChild(name, [cli, "serve", "--port", String(port), "--data-dir", dataDir], env);
  const url = `http://127.0.0.1:${port}`;
  const keyLine = replicaOf
    ? Promise.resolve([replicaOf.adminKey])
    : waitForLine(child, KEY_PATTERN, cfg.startTimeoutMs, "an admin API key on stdout");
  keyLine.catch(() => {}); // awaited below; an early rejection must not go unhandled meanwhile

  const deadline = Date.now() + cfg.startTimeoutMs;
  let last = "no answer";
  for (;;) {
    if (child.exit) throw new Error(`${name} ${describeExit(child.exit)} before /ready answered 200\n${childOutput(child)}`);
    if (Date.now() > deadline) {
      throw new Error(`${name}: GET /ready did not answer 200 within ${cfg.startTimeoutMs / 1000}s (last: ${last})\n${childOutput(child)}`);
    }
    try {
      const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await sleep(200);
  }
  const adminKey = (await keyLine)[0];
  return { child, url, adminKey, dataDir, masterKey: env.CAIRN_MASTER_KEY };
}

function makePayload() {
  const value = {
    service: "bench-service",
    replicas: 3,
    timeoutMs: 2500,
    retry: { attempts: 3, backoffMs: [100, 400, 1600] },
    features: { newCheckout: true, darkLaunch: false, rateLimitPerMinute: 600 },
    upstreams: [],
  };
  for (let i = 0; JSON.stringify(value).length < 1000; i++) {
    value.upstreams.push({ name: `upstream-${i}`, url: `https://upstream-${i}.internal.example:8443/v1`, weight: (i % 5) + 1 });
  }
  return value;
}

async function expectOk(res, what) {
  const text = await res.text();
  if (res.status < 200 || res.status > 299) {
    throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 500)}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what}: HTTP ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// watch fan-out

const watchWorkers = new Set();
const monoMs = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * (e): cfg.watchers SSE streams on GET /api/v1/watch (held by worker threads), then cfg.watchWrites PUTs,
 * one every cfg.watchIntervalMs; for every (write, watcher): receipt − acknowledgement, in ms.
 */
async function measureWatch(cairn, auth) {
  const namespace = "bench/watch";
  const keyPath = (key) => `/api/v1/configs/${encodeURIComponent(namespace)}/${key}`;
  const put = async (key, i) => {
    const res = await fetch(`${cairn.url}${keyPath(key)}`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ value: { i, note: "watch fan-out" } }),
    });
    const body = await expectOk(res, `PUT ${keyPath(key)}`);
    return { ack: monoMs(), id: `${key}@${body.version}` };
  };
  await put("k-0", -1); // the namespace exists before anyone watches it
  const watchPath = `/api/v1/watch?namespace=${encodeURIComponent(namespace)}&environment=base`;

  const { Worker } = await import("node:worker_threads");
  const shares = Array.from(
    { length: Math.min(cfg.watchWorkers, cfg.watchers) },
    (_, i) => Math.floor(cfg.watchers / cfg.watchWorkers) + (i < cfg.watchers % cfg.watchWorkers ? 1 : 0),
  ).filter((n) => n > 0);
  const complete = new Map(); // change id → workers all of whose streams have it
  const workers = shares.map((count) => {
    const worker = new Worker(new URL("./watchers.mjs", import.meta.url), {
      workerData: { url: cairn.url, path: watchPath, headers: auth, count, connectBatch: 50 },
    });
    watchWorkers.add(worker);
    const w = { worker, count, messages: [] };
    w.ready = new Promise((resolve, reject) => {
      worker.on("message", (msg) => {
        if (msg.type === "ready") resolve();
        else if (msg.type === "failed") reject(new Error(msg.error));
        else if (msg.type === "complete") complete.set(msg.id, (complete.get(msg.id) ?? 0) + 1);
        else w.messages.push(msg);
      });
      worker.on("error", reject);
      worker.on("exit", (code) => reject(new Error(`watch worker exited with ${code} before its streams were live`)));
    });
    w.ready.catch(() => {}); // awaited below; a second failure must not go unhandled
    return w;
  });
  const stopWorkers = async () => {
    await Promise.all(workers.map((w) => w.worker.terminate().catch(() => {})));
    for (const w of workers) watchWorkers.delete(w.worker);
  };
  try {
    process.stdout.write(`  ${cfg.watchers} watchers on GET ${watchPath}: connecting … `);
    const t0 = monoMs();
    let timer;
    await Promise.race([
      Promise.all(workers.map((w) => w.ready)),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the watchers were not all live after ${cfg.startTimeoutMs / 1000}s`)),
          cfg.startTimeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    const connectSeconds = (monoMs() - t0) / 1000;
    const gauge = /^cairn_watch_connections (\S+)$/m.exec(await scrapeMetrics(cairn.url));
    process.stdout.write(`live in ${connectSeconds.toFixed(1)}s; ${cfg.watchWrites} writes, one per ${cfg.watchIntervalMs} ms … `);

    const acks = new Map();
    const cpuBefore = cpuSeconds(cairn.child.proc.pid);
    const w0 = monoMs();
    for (let i = 0; i < cfg.watchWrites; i++) {
      const started = monoMs();
      const { ack, id } = await put(`k-${i % 10}`, i);
      acks.set(id, ack);
      const rest = cfg.watchIntervalMs - (monoMs() - started);
      if (rest > 0) await sleep(rest);
    }
    // Every stream should have every change: wait for them (at most 10 s), then collect.
    const settle = Date.now() + 10_000;
    while (Date.now() < settle && [...acks.keys()].some((id) => (complete.get(id) ?? 0) < workers.length)) await sleep(20);
    const elapsed = (monoMs() - w0) / 1000;
    const cpuAfter = cpuSeconds(cairn.child.proc.pid);

    const collected = await Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve, reject) => {
            w.worker.removeAllListeners("exit");
            w.worker.on("message", (msg) => msg.type === "receipts" && resolve(msg));
            w.worker.on("error", reject);
            w.worker.postMessage({ type: "collect" });
          }),
      ),
    );
    let latencies = [];
    let ended = 0;
    let errors = 0;
    for (const c of collected) {
      ended += c.ended;
      errors += c.errors;
      for (const [id, times] of c.receipts) {
        const ack = acks.get(id);
        if (ack === undefined) continue; // the namespace's first write, made before anyone watched
        for (const t of times) latencies.push(t - ack);
      }
    }
    latencies = Float64Array.from(latencies).sort();
    const expected = acks.size * cfg.watchers;
    const n = latencies.length;
    let sum = 0;
    for (const x of latencies) sum += x;
    const m = {
      watchers: cfg.watchers,
      workers: workers.length,
      writes: acks.size,
      connectSeconds,
      deliveries: n,
      expectedDeliveries: expected,
      lost: expected - n,
      streamsEnded: ended,
      streamErrors: errors,
      serverWatchConnections: gauge ? Number(gauge[1]) : null,
      latencyMs: {
        min: n ? latencies[0] : Number.NaN,
        mean: n ? sum / n : Number.NaN,
        p50: percentile(latencies, 50),
        p90: percentile(latencies, 90),
        p99: percentile(latencies, 99),
        max: n ? latencies[n - 1] : Number.NaN,
      },
      serverCpuPercent: cpuBefore !== undefined && cpuAfter !== undefined ? ((cpuAfter - cpuBefore) / elapsed) * 100 : null,
    };
    m.valid = n > 0 && m.lost === 0 && ended === 0 && errors === 0;
    console.log(
      `p50 ${fmtMs(m.latencyMs.p50)} ms, p99 ${fmtMs(m.latencyMs.p99)} ms, max ${fmtMs(m.latencyMs.max)} ms` +
        (m.valid ? "" : `  ⚠ ${m.lost} of ${expected} deliveries missing, ${ended} streams ended, ${errors} errors`),
    );
    return m;
  } finally {
    await stopWorkers();
  }
}

// ---------------------------------------------------------------------------------------------
// cleanup

let cleaningUp;
function cleanup() {
  cleaningUp ??= (async () => {
    await Promise.all([...watchWorkers].map((w) => w.terminate().catch(() => {})));
    await Promise.all([...children].map(stopChild));
    await Promise.all([...statClients].map((c) => c.end().catch(() => {})));
    statClients.clear();
    await dropDatabases();
    for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
    tmpDirs.clear();
  })();
  return cleaningUp;
}

process.on("exit", () => {
  for (const child of children) child.proc.kill("SIGKILL");
});
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
]) {
  process.once(signal, () => {
    console.error(`\nbench: ${signal}, stopping children`);
    cleanup().finally(() => process.exit(code));
  });
}

// ---------------------------------------------------------------------------------------------
// main

async function main() {
  try {
    const { execFileSync } = await import("node:child_process");
    clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    clockTicks = 100;
  }

  const cli = findCli();
  const db = await chooseDatabase();
  const redis = await chooseRedis();
  redisUrl = redis.url;
  const payload = makePayload();
  const payloadBytes = Buffer.byteLength(JSON.stringify(payload));
  const writeBody = JSON.stringify({ value: payload });

  const cpus = os.cpus();
  console.log("Cairn benchmark");
  console.log(
    `  machine    ${cpus.length} × ${cpus[0]?.model?.trim() ?? "unknown cpu"}, node ${process.version}, ${os.platform()} ${os.release()}, load average ${os.loadavg()[0].toFixed(2)}`,
  );
  console.log(
    `  database   ${db.mode === "postgres" ? `PostgreSQL ${db.serverVersion} at ${redactUrl(db.adminUrl)}, fresh databases ${db.cairnDatabase}, ${db.refDatabase}` : `embedded PGlite (${db.reason}); write reference skipped`}`,
  );
  console.log(`  redis      ${redis.url ? `${redactUrl(redis.url)} (${redis.reason})` : `none (${redis.reason})`}`);
  console.log(
    `  load       autocannon in this process, ${cfg.connections} connections, ${cfg.warmup}s warm-up + ${cfg.duration}s per scenario, value ${payloadBytes} bytes of JSON`,
  );
  console.log(`  cairn      node ${cli} serve, CAIRN_LOG_LEVEL=${cfg.cairnLogLevel}, pool ${cfg.poolSize}`);
  if (cfg.skip.size > 0) console.log(`  skipped    ${[...cfg.skip].join(", ")} (BENCH_SKIP)`);
  console.log("");

  const results = {};

  // (a) reads ---------------------------------------------------------------------------------
  console.log("(a) reads");
  const hello = await startReference("hello", "hello.mjs");
  results.helloRead = await measure("hello-world GET /", hello.child, { url: `${hello.url}/` });
  await stopChild(hello.child);

  const cairn = await startCairn(db, cli);
  console.log(
    `  cairn is ready at ${cairn.url} (${db.mode === "postgres" ? db.cairnDatabase : "embedded"}; admin key read from its stdout)`,
  );
  const auth = { authorization: `Bearer ${cairn.adminKey}` };
  const readPath = "/api/v1/configs/bench%2Fservice/payload";
  await expectOk(
    await fetch(`${cairn.url}${readPath}`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ value: payload, reason: "bench seed" }),
    }),
    `seeding PUT ${readPath}`,
  );
  const seeded = await expectOk(await fetch(`${cairn.url}${readPath}`, { headers: auth }), `GET ${readPath}`);
  if (!isDeepStrictEqual(seeded.value, payload)) {
    throw new Error(`GET ${readPath} did not return the seeded value: ${JSON.stringify(seeded).slice(0, 300)}`);
  }
  const cairnXacts = db.mode === "postgres" ? await xactCounter(db.adminUrl, db.cairnDatabase) : undefined;
  results.cairnRead = await measure(`cairn GET ${readPath}`, cairn.child, { url: `${cairn.url}${readPath}`, headers: auth }, cairnXacts);

  // (a') key verification, as another service protecting its API with Cairn keys would call it.
  const issued = await expectOk(
    await fetch(`${cairn.url}/api/v1/keys`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ name: "bench-verified", roles: ["viewer"] }),
    }),
    "POST /api/v1/keys",
  );
  const verifyBody = JSON.stringify({ key: issued.key });
  const verified = await expectOk(
    await fetch(`${cairn.url}/api/v1/keys/verify`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: verifyBody,
    }),
    "POST /api/v1/keys/verify",
  );
  if (verified.valid !== true) throw new Error(`verify did not accept the key it just issued: ${JSON.stringify(verified).slice(0, 300)}`);
  results.cairnVerify = await measure(
    "cairn POST /api/v1/keys/verify",
    cairn.child,
    { url: `${cairn.url}/api/v1/keys/verify`, method: "POST", headers: { ...auth, "content-type": "application/json" }, body: verifyBody },
    cairnXacts,
  );

  // (c) scale-out: the same read against two processes ------------------------------------------
  if (!cfg.skip.has("scale")) {
    console.log("(c) reads, two Cairn processes on the same PostgreSQL and Redis");
    if (db.mode !== "postgres") {
      console.log("  skipped: two processes cannot share an embedded store (needs PostgreSQL)");
    } else {
      const second = await startCairn(db, cli, { replicaOf: cairn, name: "cairn-2" });
      const again = await expectOk(await fetch(`${second.url}${readPath}`, { headers: auth }), `GET ${readPath} on the second process`);
      if (!isDeepStrictEqual(again.value, payload)) {
        throw new Error(`the second process did not return the seeded value: ${JSON.stringify(again).slice(0, 300)}`);
      }
      const half = Math.max(1, Math.ceil(cfg.connections / 2));
      results.cairnReadScaleOut = await measure(
        `cairn GET ${readPath}, 2 processes × ${half} connections`,
        [cairn.child, second.child],
        [
          { url: `${cairn.url}${readPath}`, headers: auth, connections: half },
          { url: `${second.url}${readPath}`, headers: auth, connections: half },
        ],
        cairnXacts,
      );
      await stopChild(second.child);
    }
  }

  // (b) writes --------------------------------------------------------------------------------
  console.log("(b) writes");
  const writeOpts = (url, headers) => {
    let counter = 0;
    return {
      url,
      requests: [
        {
          method: "PUT",
          headers: { ...headers, "content-type": "application/json" },
          body: writeBody,
          setupRequest: (req) => ({ ...req, path: `/api/v1/configs/bench%2Fwrites/key-${counter++ % cfg.writeKeys}` }),
        },
      ],
    };
  };

  if (db.mode === "postgres") {
    const ref = await startReference("pg-writes", "pg-writes.mjs", { DATABASE_URL: db.refUrl, POOL_SIZE: String(cfg.poolSize) });
    const refXacts = await xactCounter(db.adminUrl, db.refDatabase);
    results.pgWrite = await measure("pg reference PUT (3 inserts, 1 tx)", ref.child, writeOpts(ref.url, {}), refXacts);
    await stopChild(ref.child);
    // The reference's own tables say how many writes really landed (warm-up included).
    const check = new pg.Client({ connectionString: db.refUrl });
    await check.connect();
    try {
      const rows = await check.query(
        "SELECT (SELECT count(*) FROM bench_ref_heads)::int AS heads, (SELECT count(*) FROM bench_ref_versions)::int AS versions, (SELECT count(*) FROM bench_ref_audit)::int AS audit",
      );
      results.pgWrite.rows = rows.rows[0];
      console.log(`  pg reference wrote ${rows.rows[0].versions} versions of ${rows.rows[0].heads} keys, ${rows.rows[0].audit} audit rows`);
    } finally {
      await check.end();
    }
  }
  results.cairnWrite = await measure(
    "cairn PUT /api/v1/configs/bench%2Fwrites/key-<n>",
    cairn.child,
    writeOpts(cairn.url, auth),
    cairnXacts,
  );
  const lastKey = await expectOk(
    await fetch(`${cairn.url}/api/v1/configs/bench%2Fwrites/key-0`, { headers: auth }),
    "GET /api/v1/configs/bench%2Fwrites/key-0",
  );
  results.cairnWrite.key0Version = lastKey.version;

  // (d) 95 % reads / 5 % writes: the cache hit ratio ------------------------------------------------
  if (!cfg.skip.has("mix")) {
    console.log("(d) 95 % read / 5 % write mix");
    const mixPath = (i) => `/api/v1/configs/bench%2Fmix/key-${i}`;
    for (let from = 0; from < cfg.mixKeys; from += 100) {
      const operations = [];
      for (let i = from; i < Math.min(cfg.mixKeys, from + 100); i++)
        operations.push({ op: "set", namespace: "bench/mix", key: `key-${i}`, value: payload });
      await expectOk(
        await fetch(`${cairn.url}/api/v1/configs/bulk`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ operations }),
        }),
        "seeding POST /api/v1/configs/bulk",
      );
    }
    let reads = 0;
    let writes = 0;
    const requests = [];
    for (let i = 0; i < 19; i++) {
      requests.push({ method: "GET", headers: auth, setupRequest: (req) => ({ ...req, path: mixPath(reads++ % cfg.mixKeys) }) });
    }
    // Writes stride through the keys, so every key is written now and then.
    requests.push({
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: writeBody,
      setupRequest: (req) => ({ ...req, path: mixPath((writes++ * 7) % cfg.mixKeys) }),
    });
    let snapshotBefore;
    results.cairnMix = await measure(
      `cairn 19 GET + 1 PUT over ${cfg.mixKeys} keys`,
      cairn.child,
      { url: cairn.url, requests },
      cairnXacts,
      {
        before: async () => {
          snapshotBefore = await metricsSnapshot(cairn.url, "/api/v1/configs/:ns/:key");
        },
        after: async () => {
          const after = await metricsSnapshot(cairn.url, "/api/v1/configs/:ns/:key");
          // What the server answered during the measured run, by its own request histogram.
          const served = (method) => (after.requests[method] ?? 0) - (snapshotBefore.requests[method] ?? 0);
          return { reads: served("GET"), writes: served("PUT"), caches: cacheDelta(snapshotBefore.caches, after.caches) };
        },
      },
    );
    const caches = results.cairnMix.extra?.caches ?? {};
    const headline = caches[cfg.mixCache];
    results.cairnMix.writeShare = results.cairnMix.extra.writes / Math.max(1, results.cairnMix.extra.reads + results.cairnMix.extra.writes);
    results.cairnMix.cache = cfg.mixCache;
    results.cairnMix.hitRatio = headline?.hitRatio ?? null;
    console.log(
      `  cache lookups during the run: ${
        Object.entries(caches)
          .map(
            ([name, c]) =>
              `${name} ${fmtInt(c.hits)}/${fmtInt(c.lookups)} hits (${c.hitRatio === null ? "n/a" : `${(c.hitRatio * 100).toFixed(1)}%`})`,
          )
          .join(", ") || "none reported on /metrics"
      }`,
    );
  }

  // (e) watch fan-out --------------------------------------------------------------------------------
  if (!cfg.skip.has("watch")) {
    console.log("(e) watch fan-out");
    try {
      results.watch = await measureWatch(cairn, auth);
    } catch (err) {
      const message = redact(err instanceof Error ? err.message : String(err));
      results.watch = { error: message, valid: false };
      console.log(`\n  watch not measured: ${message.split("\n")[0]}`);
    }
  }
  await stopChild(cairn.child);

  // report ------------------------------------------------------------------------------------
  const h = results.helloRead;
  const cr = results.cairnRead;
  const pw = results.pgWrite;
  const cw = results.cairnWrite;
  const cv = results.cairnVerify;
  const readRatio = cr.requestsPerSecond / h.requestsPerSecond;
  const verifyRatio = cv.requestsPerSecond / h.requestsPerSecond;
  const verifyValid = h.valid && cv.valid;
  const verifyMet = verifyRatio >= TARGETS.verifyRatio && cv.latencyMs.p99 < TARGETS.readP99Ms;
  const writeRatio = pw ? cw.requestsPerSecond / pw.requestsPerSecond : Number.NaN;
  const verdict = (ok, valid) => (!valid ? "INVALID RUN (errors or non-2xx)" : ok ? "met" : "NOT met");
  const readValid = h.valid && cr.valid;
  const readMet = readRatio >= TARGETS.readRatio && cr.latencyMs.p99 < TARGETS.readP99Ms;
  const writeValid = Boolean(pw?.valid) && cw.valid;
  const writeMet = writeRatio >= TARGETS.writeRatio;
  const so = results.cairnReadScaleOut;
  const scaleRatio = so ? so.requestsPerSecond / cr.requestsPerSecond : Number.NaN;
  const mx = results.cairnMix;
  const mixValid = Boolean(mx?.valid) && typeof mx?.hitRatio === "number";
  const mixMet = mixValid && mx.hitRatio > TARGETS.mixHitRatio;
  const wt = results.watch;
  const watchValid = Boolean(wt?.valid);
  const watchMet = watchValid && wt.latencyMs.p99 < TARGETS.watchP99Ms;

  const rows = [
    ["scenario", "req/s", "p50 ms", "p99 ms", "max ms", "non-2xx", "errors", "server CPU", "db tx/req"],
    ...[
      ["hello-world (bare Fastify)", h],
      ["cairn read (auth, 1 KB)", cr],
      ["cairn key verify (cached)", cv],
      ["pg reference write", pw],
      ["cairn write", cw],
      ["cairn read, 2 processes (sum)", so],
      ["cairn 95/5 read/write mix", mx],
    ]
      .filter(([, m]) => m)
      .map(([name, m]) => [
        name,
        fmtInt(m.requestsPerSecond),
        fmtMs(m.latencyMs.p50),
        fmtMs(m.latencyMs.p99),
        fmtMs(m.latencyMs.max),
        String(m.non2xx),
        String(m.errors + m.timeouts),
        fmtPct(m.serverCpuPercent),
        m.dbTransactionsPerRequest === null ? "-" : `≈${m.dbTransactionsPerRequest.toFixed(2)}`,
      ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  console.log("");
  for (const [i, r] of rows.entries()) {
    console.log(r.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join("  "));
    if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  }
  console.log("");
  console.log(
    `read   cairn / hello-world = ${fmtRatio(readRatio)}, cairn p99 ${fmtMs(cr.latencyMs.p99)} ms   target ≥ ${TARGETS.readRatio}× and p99 < ${TARGETS.readP99Ms} ms: ${verdict(readMet, readValid)}`,
  );
  console.log(
    `verify cairn / hello-world = ${fmtRatio(verifyRatio)}, cairn p99 ${fmtMs(cv.latencyMs.p99)} ms   target ≥ ${TARGETS.verifyRatio}× and p99 < ${TARGETS.readP99Ms} ms: ${verdict(verifyMet, verifyValid)}`,
  );
  console.log(
    pw
      ? `write  cairn / pg reference = ${fmtRatio(writeRatio)}   target ≥ ${TARGETS.writeRatio}×: ${verdict(writeMet, writeValid)}`
      : `write  cairn ${fmtInt(cw.requestsPerSecond)} req/s; no pg reference without PostgreSQL   target ≥ ${TARGETS.writeRatio}×: not measured`,
  );
  if (!cfg.skip.has("scale")) {
    console.log(
      so
        ? `scale  cairn 2 processes / 1 process = ${fmtRatio(scaleRatio)} (${fmtInt(so.requestsPerSecond)} vs ${fmtInt(cr.requestsPerSecond)} req/s), p99 ${fmtMs(so.latencyMs.p99)} ms   a figure, no target: ${cpus.length} cores shared by both servers, PostgreSQL, Redis and the load generator${so.valid ? "" : "; INVALID RUN (errors or non-2xx)"}`
        : "scale  not measured: needs PostgreSQL",
    );
  }
  if (mx) {
    console.log(
      typeof mx.hitRatio === "number"
        ? `mix    cache hit ratio ${(mx.hitRatio * 100).toFixed(1)}% (cache "${mx.cache}", ${fmtInt(mx.extra.caches[mx.cache].hits)} hits of ${fmtInt(mx.extra.caches[mx.cache].lookups)} lookups; writes ${(mx.writeShare * 100).toFixed(1)}% of requests)   target > ${TARGETS.mixHitRatio * 100}%: ${verdict(mixMet, mixValid)}`
        : `mix    cache hit ratio n/a: /metrics reported no lookups of cache "${mx.cache}" (BENCH_MIX_CACHE)   target > ${TARGETS.mixHitRatio * 100}%: not measured`,
    );
  }
  if (wt) {
    console.log(
      wt.error
        ? `watch  not measured (${wt.error.split("\n")[0]})   target p99 < ${TARGETS.watchP99Ms} ms: not measured`
        : `watch  ${fmtInt(wt.watchers)} watchers × ${wt.writes} writes: acknowledgement → receipt p50 ${fmtMs(wt.latencyMs.p50)} ms, p99 ${fmtMs(wt.latencyMs.p99)} ms, max ${fmtMs(wt.latencyMs.max)} ms, ${wt.lost} lost   target p99 < ${TARGETS.watchP99Ms} ms: ${verdict(watchMet, watchValid)}`,
    );
  }
  if (h.serverCpuPercent !== null && h.serverCpuPercent < 85) {
    console.log(
      `note   the hello-world server used only ${fmtPct(h.serverCpuPercent)} of a core: something else limited the reference (the load generator in this process, or other load on this ${cpus.length}-core machine: load average ${os.loadavg()[0].toFixed(2)}); read the read ratio with care`,
    );
  }
  console.log(
    "       server CPU = CPU time of the server's node process / wall time (100% = one core); PostgreSQL's own CPU is not included;\n       db tx/req = transactions in the server's database per request, from pg_stat_database (approximate)",
  );

  const report = {
    at: new Date().toISOString(),
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model?.trim(),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      loadAverageAtEnd: os.loadavg(),
    },
    config: { ...cfg, skip: [...cfg.skip], payloadBytes, cli },
    database:
      db.mode === "postgres"
        ? { mode: "postgres", serverVersion: db.serverVersion, url: redactUrl(db.adminUrl) }
        : { mode: "embedded", reason: db.reason },
    redis: redis.url ? { url: redactUrl(redis.url), reason: redis.reason } : { url: null, reason: redis.reason },
    results,
    ratios: { read: readRatio, verify: verifyRatio, write: pw ? writeRatio : null, scaleOut: so ? scaleRatio : null },
    targets: {
      read: { ratioAtLeast: TARGETS.readRatio, p99BelowMs: TARGETS.readP99Ms, met: readValid && readMet, valid: readValid },
      verify: { ratioAtLeast: TARGETS.verifyRatio, p99BelowMs: TARGETS.readP99Ms, met: verifyValid && verifyMet, valid: verifyValid },
      write: pw
        ? { ratioAtLeast: TARGETS.writeRatio, met: writeValid && writeMet, valid: writeValid }
        : { ratioAtLeast: TARGETS.writeRatio, met: null, valid: false, reason: "no PostgreSQL for the reference" },
      mix: mx
        ? { hitRatioAbove: TARGETS.mixHitRatio, hitRatio: mx.hitRatio, met: mixValid ? mixMet : null, valid: mixValid }
        : { hitRatioAbove: TARGETS.mixHitRatio, met: null, valid: false, reason: "skipped" },
      watch: wt
        ? {
            p99BelowMs: TARGETS.watchP99Ms,
            met: watchValid ? watchMet : null,
            valid: watchValid,
            ...(wt.error ? { reason: wt.error } : {}),
          }
        : { p99BelowMs: TARGETS.watchP99Ms, met: null, valid: false, reason: "skipped" },
    },
  };
  const outDir = path.join(benchDir, "results");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, "latest.json"), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nresults written to ${path.relative(process.cwd(), path.join(outDir, "latest.json")) || "bench/results/latest.json"}`);

  const allMet =
    report.targets.read.met &&
    report.targets.verify.met &&
    report.targets.write.met === true &&
    report.targets.mix.met === true &&
    report.targets.watch.met === true;
  return cfg.enforce && !allMet ? 3 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  console.error(`\nbench failed: ${redact(err instanceof Error ? err.message : String(err))}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
