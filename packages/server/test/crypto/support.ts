import { buildApp, type CairnApp } from "../../src/app.js";
import { loadSettings } from "../../src/settings.js";
import { freshStore, inject, type Response, type TestStore } from "../helper.js";

export interface Running extends CairnApp {
  adminKey: string;
  call(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/** Starts the real app on an existing store (a restart keeps the admin key of the first start). */
export async function startOn(store: TestStore, env: Record<string, string> = {}, adminKey?: string): Promise<Running> {
  const cairn = await buildApp(loadSettings({ CAIRN_LOG_LEVEL: "silent", ...store.env, ...env }));
  const key = adminKey ?? cairn.bootstrap.generatedAdminKey;
  if (!key) throw new Error("no admin key");
  return {
    ...cairn,
    adminKey: key,
    call: (method, url, body, headers) => inject(cairn, key, method, url, body, headers),
    close: () => cairn.app.close(),
  };
}

/** A fresh store and an app on it; `restart(env)` closes it and starts another on the same store. */
export async function session(backend: Parameters<typeof freshStore>[0], env: Record<string, string> = {}) {
  const store = await freshStore(backend);
  let app = await startOn(store, env);
  return {
    store,
    get app() {
      return app;
    },
    async restart(next: Record<string, string> = env) {
      await app.close();
      app = await startOn(store, next, app.adminKey);
      return app;
    },
    async end() {
      await app.close().catch(() => {});
      await store.drop();
    },
  };
}

/** Polls a key rotation until it is no longer pending or running. */
export async function waitForRotation(app: Pick<Running, "call">, id: string, timeoutMs = 30_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.call("GET", `/api/v1/admin/key-rotations/${id}`);
    if (res.status !== 200) throw new Error(`GET key rotation: ${res.status} ${res.text}`);
    if (res.json.status !== "pending" && res.json.status !== "running") return res.json;
    if (Date.now() > until) throw new Error(`rotation ${id} still ${res.json.status} (${res.json.done}/${res.json.total})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every row of every table of the app's database as one text, for "is this string stored anywhere" scans. */
export async function dumpTables(app: Pick<CairnApp, "store">): Promise<string> {
  const { sql } = await import("kysely");
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(app.store.db);
  let out = "";
  for (const { table_name } of tables.rows) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table_name)}`.execute(app.store.db);
    out += JSON.stringify(rows.rows, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("latin1") : v));
  }
  return out;
}
