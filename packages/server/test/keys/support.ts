import { type Backend, inject, type Response, secondTenant, type TestApp } from "../helper.js";

/** Redis for the tests that need one (and for the PostgreSQL backend when it is set). */
export const redisUrl = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL;

/**
 * The environment of a test app: embedded PGlite runs without Redis (in-process bus and limits), the
 * PostgreSQL backend with Redis when REDIS_URL is set (Lua limits, pub/sub), so both paths are covered.
 */
export const envFor = (backend: Backend, extra: Record<string, string> = {}): Record<string, string> => ({
  ...(backend === "postgres" && redisUrl ? { REDIS_URL: redisUrl } : {}),
  ...extra,
});

export const label = (backend: Backend) => (backend === "postgres" && redisUrl ? "postgres + redis" : backend);

export interface Created {
  id: string;
  key: string;
  json: any;
  /** A request made with this key. */
  call(method: string, url: string, body?: unknown): Promise<Response>;
}

/** `POST /keys` as the admin; fails the test unless 201. */
export async function createKey(cairn: TestApp, body: Record<string, unknown> = {}): Promise<Created> {
  const res = await cairn.call("POST", "/api/v1/keys", { name: "test", roles: ["admin"], ...body });
  if (res.status !== 201) throw new Error(`POST /keys → ${res.status}: ${res.text}`);
  return keyHandle(cairn, res.json.id, res.json.key, res.json);
}

export const keyHandle = (cairn: TestApp, id: string, key: string, json: any = {}): Created => ({
  id,
  key,
  json,
  call: (method, url, body) => inject(cairn, key, method, url, body),
});

/** A request any authenticated key may make (authentication is what these tests are about). */
export const use = (k: Created) => k.call("GET", "/api/v1/environments");

/** A second tenant, made as `POST /tenants` makes one, with an admin key of its own. */
export async function otherTenant(cairn: TestApp): Promise<{ tenantId: string; admin: Created }> {
  const { tenantId, adminKey, adminKeyId } = await secondTenant(cairn);
  return { tenantId, admin: keyHandle(cairn, adminKeyId, adminKey) };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond` holds (a guard against hanging, not a timing assertion). */
export async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(20);
  }
}
