// Security invariant 1 (DESIGN.md): no plaintext value of any config or secret, nor any API key, is ever
// written to the database, to disk, or to the logs; associated data binds every ciphertext to its row.
//
// A unique marker goes into values only (plain, secret, nested, every version of a history, a bulk write,
// rejected writes). Keys, namespaces, tags and reasons are metadata kept in clear by design, so they carry
// no marker — they carry a "control" string instead, which the scans must find: that proves each scan
// actually sees what is stored in clear, so a missing marker means something.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import { buildApp, type CairnApp } from "../../src/app.js";
import { loadSettings } from "../../src/settings.js";
import { KEY_LINE, type ServerProcess, startOn, until } from "../fixtures/process.js";
import { backends, freshStore, type TestStore, withPg } from "../helper.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const serveFixture = path.join(here, "..", "fixtures", "serve.ts");

interface Res {
  status: number;
  text: string;
  json: any;
  headers: Record<string, unknown>;
}
type Call = (method: string, url: string, body?: unknown, headers?: Record<string, string>) => Promise<Res>;

const parse = (text: string): any => {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
};

/** app.inject with the given key (headers.authorization overrides). */
function injector(cairn: CairnApp, key: string): Call {
  return async (method, url, body, headers = {}) => {
    const res = await cairn.app.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${key}`, ...headers },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: res.statusCode, text: res.body, json: parse(res.body), headers: res.headers };
  };
}

/** fetch against a server process. */
function fetcher(base: string, key: string): Call {
  return async (method, url, body, headers = {}) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const got: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      got[k] = v;
    });
    return { status: res.status, text, json: parse(text), headers: got };
  };
}

/** Builds the app in-process on a store; the caller closes it (the store outlives it). */
async function open(store: TestStore, env: Record<string, string> = {}) {
  const cairn = await buildApp(loadSettings({ CAIRN_LOG_LEVEL: "silent", ...store.env, ...env }));
  return cairn;
}

interface Secrets {
  /** In values only. */
  marker: string;
  /** In namespaces, keys and tags: metadata stored in clear by design. */
  control: string;
  ns: string;
}

function newSecrets(): Secrets {
  const hex = randomBytes(12).toString("hex");
  return { marker: `MARKER-${randomBytes(16).toString("hex")}`, control: `ctl${hex}`, ns: `atrest-${hex}` };
}

/** A well-formed Cairn key that is not valid here (what a user with a stale or mistyped key sends). */
const strangerKey = () => `cairn_${randomBytes(6).toString("hex").slice(0, 8)}_${randomBytes(20).toString("hex").slice(0, 33)}`;

/**
 * Writes the marker everywhere a user can put a value, reads it back every way there is, and makes a
 * few failed attempts (schema violation, precondition, conflict, bad credentials). Returns the wrong keys used.
 */
async function writeAndReadEverywhere(call: Call, s: Secrets): Promise<string[]> {
  const { marker: M, ns } = s;
  const cfg = (key: string, q = "") => `/api/v1/configs/${ns}/${key}${q}`;
  const expect = async (status: number, method: string, url: string, body?: unknown, headers?: Record<string, string>) => {
    const r = await call(method, url, body, headers);
    assert.equal(r.status, status, `${method} ${url}: ${r.text}`);
    return r;
  };
  const tags = { owner: s.control };

  // A plain config, a secret, a nested object, an environment-specific value.
  await expect(200, "PUT", cfg("plain"), { value: `plain ${M}`, tags });
  await expect(200, "PUT", cfg("secret"), { value: `secret ${M}`, secret: true, reason: "rotation" });
  const nested = { db: { password: M, hosts: ["a", { token: `${M}!` }] }, n: 1, deep: { a: { b: { c: [M] } } } };
  await expect(200, "PUT", cfg("nested"), { value: nested });
  await expect(200, "PUT", cfg("plain", "?environment=production"), { value: { prod: M } });
  // History: versions, a deletion, a rollback.
  await expect(200, "PUT", cfg(`hist-${s.control}`), { value: `${M}-v1` });
  await expect(200, "PUT", cfg(`hist-${s.control}`), { value: { v: 2, m: M } }, { "if-match": '"1"' });
  await expect(200, "PUT", cfg(`hist-${s.control}`), { value: `${M}-v3`, secret: true });
  await expect(200, "DELETE", cfg(`hist-${s.control}`));
  const rolled = await expect(200, "POST", cfg(`hist-${s.control}`, "/rollback"), { version: 2 });
  assert.equal(rolled.json.version, 5);
  // Bulk.
  await expect(200, "POST", "/api/v1/configs/bulk", {
    operations: [
      { op: "set", namespace: `${ns}/bulk`, key: "a", value: `bulk ${M}` },
      { op: "set", namespace: `${ns}/bulk`, key: "b", value: { list: [M, M] }, secret: true, environment: "staging" },
      { op: "set", namespace: ns, key: "plain", value: `bulk-updated ${M}` },
    ],
  });
  // Rejected writes: nothing of them may be kept.
  await expect(200, "PUT", `/api/v1/schemas/${ns}/port`, { schema: { type: "integer", minimum: 1 } });
  await expect(422, "PUT", cfg("port"), { value: `rejected ${M}` });
  await expect(412, "PUT", cfg("plain"), { value: `stale ${M}` }, { "if-match": '"99"' });
  await expect(409, "POST", cfg("plain"), { value: `duplicate ${M}` });
  await expect(422, "POST", "/api/v1/configs/bulk", {
    operations: [
      { op: "set", namespace: ns, key: "never", value: `bulk-rejected ${M}` },
      { op: "set", namespace: ns, key: "port", value: `bulk-rejected ${M}` },
    ],
  });
  await expect(200, "POST", `/api/v1/configs/${ns}/validate`, { values: { port: `validate ${M}`, other: M } });
  await expect(404, "GET", cfg("never"));

  // Every way to read the values back, revealed or not.
  assert.equal((await expect(200, "GET", cfg("plain"))).json.value, `bulk-updated ${M}`);
  assert.notEqual((await expect(200, "GET", cfg("secret"))).json.value, `secret ${M}`);
  assert.equal((await expect(200, "GET", cfg("secret", "?reveal=true"))).json.value, `secret ${M}`);
  assert.deepEqual((await expect(200, "GET", cfg("nested"))).json.value, nested);
  for (const v of [1, 2, 3, 5]) await expect(200, "GET", cfg(`hist-${s.control}`, `?version=${v}&reveal=true`));
  await expect(200, "GET", cfg(`hist-${s.control}`, "/history?reveal=true"));
  await expect(200, "GET", cfg(`hist-${s.control}`, "/history"));
  await expect(200, "GET", `/api/v1/configs/${ns}?reveal=true`);
  await expect(200, "GET", `/api/v1/configs/${ns}?environment=production&reveal=true&format=dotenv`);
  await expect(200, "GET", `/api/v1/configs/${ns}?reveal=true&format=yaml`);
  await expect(200, "GET", `/api/v1/configs/${ns}?at=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}&reveal=true`);
  await expect(200, "GET", `/api/v1/configs/${ns}/history`);
  assert.deepEqual(
    (await expect(200, "GET", `/api/v1/configs/${encodeURIComponent(`${ns}/bulk`)}/b?environment=staging&reveal=true`)).json.value,
    { list: [M, M] },
  );

  // Bad credentials: a stranger's well-formed key, and a secret pasted where the key goes.
  const stranger = strangerKey();
  await expect(401, "GET", cfg("plain"), undefined, { authorization: `Bearer ${stranger}` });
  await expect(401, "GET", cfg("plain"), undefined, { authorization: `Bearer ${M}` });
  return [stranger];
}

/** Every file under dir, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** The forms of a plaintext we look for: as text, and as the hex a bytea column shows in `t::text`. */
const forms = (needle: string) => [needle, Buffer.from(needle, "utf8").toString("hex")];

/** Every row of every table in schema public, as text. */
async function rowsOf(query: (text: string) => Promise<string[]>): Promise<Map<string, string[]>> {
  const tables = await query(
    "select quote_ident(table_name) from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
  );
  const out = new Map<string, string[]>();
  for (const table of tables) out.set(table, await query(`select t::text from ${table} t`));
  return out;
}

function assertRowsClean(rows: Map<string, string[]>, forbidden: Record<string, string>, control: string) {
  assert.ok(rows.has("config_versions") && rows.has("configs") && rows.has("audit_events"), `tables: ${[...rows.keys()]}`);
  const all = [...rows.values()].flat();
  assert.ok(all.length > 20, "the scan saw the rows written");
  assert.ok(
    all.some((r) => r.includes(control)),
    "control: metadata stored in clear (namespace, key, tags) is found by this scan",
  );
  for (const [table, list] of rows) {
    for (const row of list) {
      for (const [what, needle] of Object.entries(forbidden)) {
        for (const form of forms(needle)) {
          assert.ok(!row.includes(form), `${what} is stored in clear in table ${table}: ${row.slice(0, 300)}`);
        }
      }
    }
  }
}

/** The secret part of a Cairn key: what must never be stored (the prefix is public by design). */
const secretPart = (key: string) => key.split("_")[2] as string;

for (const backend of backends()) {
  describe(`secrets at rest (${backend})`, () => {
    test("no value, secret or API key is stored in clear in any row" + (backend === "pglite" ? " or any file" : ""), {
      timeout: 180_000,
    }, async (t) => {
      const store = await freshStore(backend);
      t.after(() => store.drop());
      const s = newSecrets();

      let cairn = await open(store);
      let closed = false;
      t.after(async () => {
        if (!closed) await cairn.app.close();
      });
      const adminKey = cairn.bootstrap.generatedAdminKey as string;
      assert.ok(adminKey);
      const wrongKeys = await writeAndReadEverywhere(injector(cairn, adminKey), s);
      const forbidden: Record<string, string> = {
        "the marker": s.marker,
        "the admin API key": adminKey,
        "the admin API key's secret part": secretPart(adminKey),
        "the master key": store.env.CAIRN_MASTER_KEY as string,
        ...Object.fromEntries(wrongKeys.map((k, i) => [`rejected credential ${i}`, k])),
      };

      if (backend === "postgres") {
        const rows = await withPg(store.databaseUrl as string, (c) =>
          rowsOf(async (text) => (await c.query({ text, rowMode: "array" })).rows.map((r) => String(r[0]))),
        );
        assertRowsClean(rows, forbidden, s.control);
        return;
      }

      // PGlite: close it, then read every byte it left on disk (heap, indexes, WAL, everything).
      await cairn.app.close();
      closed = true;
      const files = await filesUnder(store.dataDir);
      assert.ok(
        files.some((f) => f.includes(`${path.sep}pg_wal${path.sep}`)),
        "the data dir holds a WAL",
      );
      let controlSeen = false;
      const masterRaw = Buffer.from(store.env.CAIRN_MASTER_KEY as string, "base64");
      for (const file of files) {
        const bytes = await readFile(file);
        if (bytes.indexOf(s.control) >= 0) controlSeen = true;
        for (const [what, needle] of Object.entries(forbidden)) {
          assert.equal(bytes.indexOf(needle), -1, `${what} is on disk in clear in ${path.relative(store.dataDir, file)}`);
        }
        assert.equal(bytes.indexOf(masterRaw), -1, `the raw master key is on disk in ${path.relative(store.dataDir, file)}`);
      }
      assert.ok(controlSeen, "control: metadata stored in clear is found in the raw files, so the scan sees stored text");

      // And row by row, through the app's own connection, on the reopened store.
      cairn = await open(store);
      closed = false;
      const db = cairn.store.db;
      const rows = await rowsOf(async (text) =>
        (await sql<{ t: string }>`${sql.raw(text)}`.execute(db)).rows.map((r) => String(Object.values(r)[0])),
      );
      assertRowsClean(rows, forbidden, s.control);
      // The reopened store still decrypts: the values were sealed, not lost.
      const again = await injector(cairn, adminKey)("GET", `/api/v1/configs/${s.ns}/secret?reveal=true`);
      assert.equal(again.json?.value, `secret ${s.marker}`, again.text);
    });

    test("logs at trace level carry no value, no secret and no API key (the first-start banner aside)", { timeout: 180_000 }, async (t) => {
      const store = await freshStore(backend);
      let server: ServerProcess | undefined;
      t.after(async () => {
        await server?.kill("SIGKILL");
        await store.drop();
      });
      server = await startOn(store, { CAIRN_LOG_LEVEL: "trace" });
      const srv = server;
      await until(
        "the admin key banner",
        () => KEY_LINE.test(srv.output()),
        20_000,
        () => srv.output(),
      );
      const adminKey = KEY_LINE.exec(server.output())?.[1] as string;
      assert.ok(adminKey, server.output());
      const s = newSecrets();
      const wrongKeys = await writeAndReadEverywhere(fetcher(server.url, adminKey), s);
      // A last request, so we know every line before it is in the output.
      const last = `atrest-last-${randomBytes(4).toString("hex")}`;
      await fetch(`${server.url}/health`, { headers: { "x-request-id": last } });
      await until("the last request in the log", () => srv.output().includes(`"reqId":"${last}","res"`));
      const out = server.output();
      await server.kill("SIGKILL");

      assert.ok(out.includes('"msg":"incoming request"'), "the request log is in the output");
      assert.ok(out.includes(s.control), "control: metadata (namespace in URLs) does reach the log");

      for (const [what, needle] of [
        ["the marker", s.marker],
        ...wrongKeys.map((k, i) => [`rejected credential ${i}`, k]),
        ["the master key", store.env.CAIRN_MASTER_KEY as string],
      ] as [string, string][]) {
        const at = out.indexOf(needle);
        assert.equal(at, -1, `${what} is in the log: …${out.slice(Math.max(0, at - 300), at + 100)}`);
      }

      // The admin key is printed on the first start, in its banner, and nowhere else.
      const bannerStart = out.indexOf("Admin API key (shown once");
      assert.ok(bannerStart >= 0, "the first start prints the admin key banner");
      assert.equal(out.indexOf("Admin API key (shown once", bannerStart + 1), -1, "the banner is printed once");
      const bannerEnd = out.indexOf("\n", out.indexOf("Try: ", bannerStart));
      const banner = out.slice(bannerStart, bannerEnd);
      assert.equal(banner.match(KEY_LINE)?.[1], adminKey, "the banner shows the key on a line of its own");
      assert.equal(out.match(new RegExp(`^ {4}${adminKey}$`, "gm"))?.length, 1, "the key's own line is printed exactly once");
      const outside = out.slice(0, bannerStart) + out.slice(bannerEnd);
      for (const needle of [adminKey, secretPart(adminKey)]) {
        const at = outside.indexOf(needle);
        assert.equal(at, -1, `the admin key appears outside the banner: …${outside.slice(Math.max(0, at - 300), at + 100)}`);
      }
    });

    test("a sealed value moved to another row does not decrypt: 5xx, no value, no stack", { timeout: 180_000 }, async (t) => {
      const store = await freshStore(backend);
      t.after(() => store.drop());
      // No read cache: the rows are damaged behind the server's back, and it must read them.
      const cairn = await open(store, { CAIRN_CACHE_MB: "0" });
      t.after(() => cairn.app.close());
      const call = injector(cairn, cairn.bootstrap.generatedAdminKey as string);
      const M = `MARKER-${randomBytes(16).toString("hex")}`;
      /** Runs SQL on the store as someone with database access would (psql for PostgreSQL). */
      const exec = async (text: string): Promise<number> => {
        if (backend === "postgres") return withPg(store.databaseUrl as string, async (c) => (await c.query(text)).rowCount ?? 0);
        const r = await sql`${sql.raw(text)}`.execute(cairn.store.db);
        return Number(r.numAffectedRows ?? 0);
      };
      const put = async (url: string, value: unknown) => {
        const r = await call("PUT", url, { value });
        assert.equal(r.status, 200, r.text);
        return r.json;
      };
      const assertFailsClosed = async (url: string, what: string) => {
        const r = await call("GET", url);
        assert.ok(r.status >= 500 && r.status < 600, `${what}: GET ${url} must fail, got ${r.status} ${r.text}`);
        assert.match(String(r.headers["content-type"]), /^application\/problem\+json/);
        assert.ok(!r.text.includes(M), `${what}: the response carries the moved value: ${r.text}`);
        assert.doesNotMatch(
          r.text,
          /\n\s+at |\.ts:\d+|node_modules|DecryptionError|sealed value/,
          `${what}: internals in the response: ${r.text}`,
        );
        return r.json;
      };
      // The row a value came from, by namespace path, key and environment.
      const row = (table: string, nsPath: string, key: string, env: string, extra = "") =>
        `(select c.value_sealed, c.data_key_id from ${table} c join namespaces n on n.id = c.namespace_id
          where n.path = '${nsPath}' and c.key = '${key}' and c.environment = '${env}' ${extra})`;
      const moveInto = (from: string, nsPath: string, key: string, env: string) =>
        exec(`update configs c set value_sealed = src.value_sealed, data_key_id = src.data_key_id from ${from} src, namespaces n
              where n.id = c.namespace_id and n.path = '${nsPath}' and c.key = '${key}' and c.environment = '${env}'`);

      // Same namespace and version, another key.
      await put("/api/v1/configs/aad/a", `A ${M}`);
      await put("/api/v1/configs/aad/b", "B");
      assert.equal(await moveInto(row("configs", "aad", "a", "base"), "aad", "b", "base"), 1);
      const p1 = await assertFailsClosed("/api/v1/configs/aad/b", "key swap");
      assert.equal((await call("GET", "/api/v1/configs/aad/a")).json.value, `A ${M}`, "the source row still reads");
      assert.equal((await call("GET", "/api/v1/configs/aad/b?version=1")).json.value, "B", "the untouched version row still reads");
      await assertFailsClosed("/api/v1/configs/aad", "key swap, in a list");

      // Same key and version, another environment.
      await put("/api/v1/configs/aad/env", `base ${M}`);
      await put("/api/v1/configs/aad/env?environment=production", "production");
      assert.equal(await moveInto(row("configs", "aad", "env", "base"), "aad", "env", "production"), 1);
      const p2 = await assertFailsClosed("/api/v1/configs/aad/env?environment=production", "environment swap");

      // Same key, another namespace (another data key too).
      await put("/api/v1/configs/aad2/a", "other namespace");
      assert.equal(await moveInto(row("configs", "aad", "a", "base"), "aad2", "a", "base"), 1);
      await assertFailsClosed("/api/v1/configs/aad2/a", "namespace swap");

      // Same row, an older version's ciphertext (the version rows are append-only; the head is not).
      await put("/api/v1/configs/aad/ver", `v1 ${M}`);
      await put("/api/v1/configs/aad/ver", "v2");
      assert.equal(await moveInto(row("config_versions", "aad", "ver", "base", "and c.version = 1"), "aad", "ver", "base"), 1);
      await assertFailsClosed("/api/v1/configs/aad/ver", "version swap");
      assert.equal((await call("GET", "/api/v1/configs/aad/ver?version=1")).json.value, `v1 ${M}`);

      // Garbage instead of a ciphertext.
      await put("/api/v1/configs/aad/junk", "junk");
      assert.equal(await exec(`update configs set value_sealed = decode('00ff', 'hex') where key = 'junk'`), 1);
      const p3 = await assertFailsClosed("/api/v1/configs/aad/junk", "garbage ciphertext");

      // Different causes, one fixed text.
      assert.equal(p1.detail, p2.detail);
      assert.equal(p1.detail, p3.detail);
    });
  });
}

describe("master key", () => {
  test("embedded mode generates master.key with mode 0600 in a private data dir, and uses it again on restart", {
    timeout: 120_000,
  }, async (t) => {
    const root = await mkdtemp(path.join(tmpdir(), "cairn-mk-"));
    t.after(() => rm(root, { recursive: true, force: true }));
    const dataDir = path.join(root, "data");
    const env = { CAIRN_DATA_DIR: dataDir, CAIRN_LOG_LEVEL: "silent" };

    const first = await buildApp(loadSettings(env));
    let closed = false;
    t.after(async () => {
      if (!closed) await first.app.close();
    });
    const file = path.join(dataDir, "master.key");
    assert.equal(first.generatedMasterKeyFile, file);
    assert.equal((await stat(file)).mode & 0o777, 0o600, "master.key is readable by its owner only");
    assert.equal((await stat(dataDir)).mode & 0o077, 0, "the data dir is private to its owner");
    const masterB64 = (await readFile(file, "utf8")).trim();
    assert.equal(Buffer.from(masterB64, "base64").length, 32);

    const key = first.bootstrap.generatedAdminKey as string;
    const value = `kept ${randomBytes(8).toString("hex")}`;
    const put = await injector(first, key)("PUT", "/api/v1/configs/mk/secret", { value, secret: true });
    assert.equal(put.status, 200, put.text);
    await first.app.close();
    closed = true;

    // The master key never lands inside the database files.
    for (const f of await filesUnder(dataDir)) {
      if (f === file) continue;
      const bytes = await readFile(f);
      assert.equal(bytes.indexOf(masterB64), -1, `master key (base64) in ${f}`);
      assert.equal(bytes.indexOf(Buffer.from(masterB64, "base64")), -1, `master key (raw) in ${f}`);
    }

    const second = await buildApp(loadSettings(env));
    t.after(() => second.app.close());
    assert.equal(second.generatedMasterKeyFile, undefined, "a restart reuses the key, it does not make another");
    assert.equal((await readFile(file, "utf8")).trim(), masterB64);
    const read = await injector(second, key)("GET", "/api/v1/configs/mk/secret?reveal=true");
    assert.equal(read.json?.value, value, read.text);
  });

  test("with DATABASE_URL and no master key the server refuses to start and says how to make one", { timeout: 60_000 }, async () => {
    const child = spawn(process.execPath, ["--import", "tsx", serveFixture], {
      env: {
        ...process.env,
        DATABASE_URL: "postgres://cairn@127.0.0.1:1/never",
        CAIRN_MASTER_KEY: "",
        CAIRN_MASTER_KEY_FILE: "",
        CAIRN_PORT: "0",
        CAIRN_LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    assert.notEqual(code, 0, `it must not start:\n${out}`);
    assert.ok(out.includes("openssl rand -base64 32"), `the message says how to make a key:\n${out}`);
    assert.ok(out.includes("CAIRN_MASTER_KEY"), `the message names the setting:\n${out}`);
    assert.ok(!out.includes("listening on"), out);
  });
});
