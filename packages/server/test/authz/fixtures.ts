import { generateApiKey } from "../../src/auth/api-key.js";
import type { Rule } from "../../src/authz/types.js";
import { newId } from "../../src/ids.js";
import { inject, type Response, secondTenant, type TestApp } from "../helper.js";

/** Rows written straight into the store, as other domains (keys, users, tenants) would. */

export interface TestKey {
  id: string;
  key: string;
  call(method: string, url: string, body?: unknown): Promise<Response>;
}

export async function insertKey(
  cairn: TestApp,
  opts: { tenantId?: string; roles?: string[]; permissions?: Rule[]; instanceAdmin?: boolean; name?: string } = {},
): Promise<TestKey> {
  const { key, prefix, hash } = generateApiKey();
  const id = newId("apiKey");
  await cairn.store.db
    .insertInto("api_keys")
    .values({
      id,
      tenant_id: opts.tenantId ?? cairn.bootstrap.tenantId,
      name: opts.name ?? `test-${id}`,
      prefix,
      key_hash: hash,
      roles: JSON.stringify(opts.roles ?? []),
      permissions: JSON.stringify(opts.permissions ?? []),
      instance_admin: opts.instanceAdmin ?? false,
    })
    .execute();
  return { id, key, call: (method, url, body) => inject(cairn, key, method, url, body) };
}

export async function insertUser(cairn: TestApp, tenantId = cairn.bootstrap.tenantId): Promise<string> {
  const id = newId("user");
  await cairn.store.db
    .insertInto("users")
    .values({ id, tenant_id: tenantId, email: `${id}@example.test`, password_hash: "not-a-real-hash" })
    .execute();
  return id;
}

/** A second tenant with its built-in roles and an admin key (not the instance admin). */
export async function insertTenant(cairn: TestApp): Promise<{ tenantId: string; admin: TestKey }> {
  const { tenantId, adminKey: key, adminKeyId: id } = await secondTenant(cairn);
  return { tenantId, admin: { id, key, call: (method, url, body) => inject(cairn, key, method, url, body) } };
}

export const check = (who: { call: TestApp["call"] | TestKey["call"] }, body: Record<string, unknown>) =>
  who.call("POST", "/api/v1/authz/check", body);
