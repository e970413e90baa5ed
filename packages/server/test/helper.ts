import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, type TestContext } from "node:test";
import pg from "pg";
import { buildApp, type CairnApp } from "../src/app.js";
import { createAuditLog } from "../src/audit/log.js";
import { ensureBuiltinRoles } from "../src/authz/builtin.js";
import { createTenantRecords } from "../src/domains/tenants/service.js";
import { newId } from "../src/ids.js";
import { loadSettings, type Settings } from "../src/settings.js";

/**
 * The stores every contract test runs on: embedded PGlite always, and real PostgreSQL when
 * DATABASE_URL (or TEST_DATABASE_URL) names a server — each test app then gets a database of its own.
 */
export type Backend = "pglite" | "postgres";

export const serverUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

export const backends = (): Backend[] => (serverUrl ? ["pglite", "postgres"] : ["pglite"]);

export interface TestStore {
  backend: Backend;
  /** Settings-style environment that points a server at this store (data dir or database + master key). */
  env: Record<string, string>;
  dataDir: string;
  databaseUrl?: string;
  /** Runs SQL on the store's database from outside Cairn (PostgreSQL only). */
  drop(): Promise<void>;
}

/** A fresh, empty store: a temp data dir, and for PostgreSQL a new database on the server. */
export async function freshStore(backend: Backend): Promise<TestStore> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "cairn-test-"));
  const masterKey = randomBytes(32).toString("base64");
  if (backend === "pglite") {
    return {
      backend,
      dataDir,
      env: { CAIRN_DATA_DIR: dataDir, CAIRN_MASTER_KEY: masterKey },
      drop: () => rm(dataDir, { recursive: true, force: true }),
    };
  }
  if (!serverUrl) throw new Error("postgres backend needs DATABASE_URL");
  const name = `cairn_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  await adminQuery(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  return {
    backend,
    dataDir,
    databaseUrl,
    env: { CAIRN_DATA_DIR: dataDir, DATABASE_URL: databaseUrl, CAIRN_MASTER_KEY: masterKey },
    drop: async () => {
      await adminQuery(`drop database if exists ${name} with (force)`);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function adminQuery(sql: string) {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Queries the store's PostgreSQL database directly, as an operator (or attacker) with a psql would. */
export async function withPg<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestApp extends CairnApp {
  store: CairnApp["store"];
  adminKey: string;
  settings: Settings;
  testStore: TestStore;
  /** `app.inject` with the admin key unless `headers.authorization` says otherwise. */
  call(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** Builds the real app on a fresh store and tears both down after the test (or suite). */
export async function build(
  t: Pick<TestContext, "after"> | { after: (fn: () => Promise<void>) => void },
  backend: Backend,
  env: Record<string, string> = {},
): Promise<TestApp> {
  const testStore = await freshStore(backend);
  const settings = loadSettings({ CAIRN_LOG_LEVEL: "silent", ...testStore.env, ...env });
  const cairn = await buildApp(settings);
  t.after(async () => {
    await cairn.app.close();
    await testStore.drop();
  });
  const adminKey = cairn.bootstrap.generatedAdminKey ?? env.CAIRN_BOOTSTRAP_ADMIN_KEY;
  if (!adminKey) throw new Error("no admin key");
  return {
    ...cairn,
    adminKey,
    settings,
    testStore,
    call: (method, url, body, headers = {}) => inject(cairn, adminKey, method, url, body, headers),
  };
}

export async function inject(
  cairn: CairnApp,
  adminKey: string,
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const res = await cairn.app.inject({
    method: method as "GET",
    url,
    headers: { authorization: `Bearer ${adminKey}`, ...headers },
    ...(body === undefined ? {} : typeof body === "string" ? { payload: body } : { payload: body as object }),
  });
  let json: unknown;
  try {
    json = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers as Response["headers"], text: res.body, json };
}

/** Polls `probe` every 100 ms until it returns something other than undefined, and returns that; gives up after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `production/ml-service` → `production%2Fml-service`, as the API expects. */
export const ns = (path: string) => encodeURIComponent(path);

/**
 * One app for a whole `describe` block: built before its tests, closed (and its store dropped) after.
 * Returns a stand-in that forwards to the built app, so tests read `cairn.call(...)`.
 */
export function useApp(backend: Backend, env: Record<string, string> = {}): TestApp {
  let built: TestApp | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    built = await build({ after: (fn: () => Promise<void>) => cleanups.push(fn) }, backend, env);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return new Proxy({} as TestApp, {
    get(_target, prop) {
      if (!built) throw new Error("the app is used before its suite started");
      return Reflect.get(built, prop);
    },
  });
}

/** A second tenant made by the same code as `POST /tenants` (environments, built-in roles, an admin key). */
export async function secondTenant(cairn: Pick<CairnApp, "store">): Promise<{ tenantId: string; adminKey: string; adminKeyId: string }> {
  return cairn.store.db
    .transaction()
    .execute((trx) =>
      createTenantRecords(
        trx,
        { audit: createAuditLog(), initializers: [ensureBuiltinRoles] },
        { name: `other-${newId("tenant")}`, instanceAdmin: false },
      ),
    );
}
