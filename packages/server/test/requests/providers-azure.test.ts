import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import { createAzureProvider, roleAssignmentName } from "../../src/domains/requests/providers/azure.js";
import { providersFromSettings } from "../../src/domains/requests/providers/index.js";
import { type GrantInput, TransientProviderError } from "../../src/domains/requests/providers/types.js";
import { loadSettings } from "../../src/settings.js";
import { type AzureServer, startAzureServer } from "../fixtures/azure-server.js";

const CLIENT = {
  tenantId: "11111111-2222-3333-4444-555555555555",
  clientId: "cairn-app",
  clientSecret: "azure-client-secret-value-Xyz~123",
};
const SUB = "/subscriptions/00000000-aaaa-bbbb-cccc-000000000001";
const SCOPE = `${SUB}/resourceGroups/prod-rg`;
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const PRINCIPAL = "9f8e7d6c-5b4a-4321-8fed-cba987654321";

describe("access provider azure (ARM role assignments on a local endpoint)", () => {
  let az: AzureServer;
  let azure: ReturnType<typeof createAzureProvider>;
  before(async () => {
    az = await startAzureServer(CLIENT);
    azure = createAzureProvider({ endpoint: az.url, authorityHost: az.url, ...CLIENT, subscriptionId: SUB.split("/")[2] });
  });
  after(() => az.close());

  const request = (over: Partial<GrantInput> = {}): GrantInput => ({
    correlationId: randomUUID(),
    principal: PRINCIPAL,
    role: READER,
    resource: SCOPE,
    expiresAt: new Date("2030-01-02T03:04:05.000Z"),
    ...over,
  });
  const path = (scope: string, id: string) => `${scope}/providers/Microsoft.Authorization/roleAssignments/${roleAssignmentName(id)}`;

  it("gets a client-credentials token, PUTs the role assignment at grant and DELETEs it at revoke", async () => {
    const input = request();
    const n = az.calls.length;
    const { grantRef } = await azure.grant(input);
    const name = roleAssignmentName(input.correlationId);
    assert.match(name, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const roleDefinitionId = `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${READER}`;
    assert.deepEqual(grantRef, { scope: SCOPE, roleAssignmentName: name, roleDefinitionId, principalId: PRINCIPAL });
    const [tokenCall, put] = az.calls.slice(n);
    assert.deepEqual(tokenCall, {
      method: "POST",
      path: `/${CLIENT.tenantId}/oauth2/v2.0/token`,
      query: {},
      authorization: undefined,
      body: {
        grant_type: "client_credentials",
        client_id: CLIENT.clientId,
        client_secret: CLIENT.clientSecret,
        scope: `${az.url}/.default`,
      },
    });
    assert.deepEqual(put, {
      method: "PUT",
      path: path(SCOPE, input.correlationId),
      query: { "api-version": "2022-04-01" },
      authorization: "Bearer tok-1",
      body: {
        properties: {
          roleDefinitionId,
          principalId: PRINCIPAL,
          description: `Cairn access request ${input.correlationId}, until 2030-01-02T03:04:05.000Z`,
        },
      },
    });
    assert.equal(az.assignments.size, 1);

    await azure.revoke(input, grantRef);
    assert.deepEqual(
      az.calls.slice(n + 2).map((c) => [c.method, c.path, c.query["api-version"], c.authorization]),
      [["DELETE", path(SCOPE, input.correlationId), "2022-04-01", "Bearer tok-1"]],
      "the token is reused",
    );
    assert.equal(az.assignments.size, 0);
  });

  it("takes built-in role names and full role definition ids, and defaults the scope to the subscription", async () => {
    const byName = request({ role: "Contributor", resource: undefined });
    const { grantRef } = await azure.grant(byName);
    assert.equal(grantRef.scope, SUB);
    assert.equal(
      grantRef.roleDefinitionId,
      `${SUB}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c`,
    );
    await azure.revoke(byName, grantRef);
    const custom = `/providers/Microsoft.Authorization/roleDefinitions/${randomUUID()}`;
    const full = request({ role: custom, resource: "/providers/Microsoft.Management/managementGroups/platform" });
    assert.equal((await azure.grant(full)).grantRef.roleDefinitionId, custom);
    await azure.revoke(full, {});
    assert.equal(az.assignments.size, 0);
  });

  it("is idempotent: grant twice, revoke twice (204), revoke what never existed, revoke without a stored ref", async () => {
    const input = request();
    const a = await azure.grant(input);
    const b = await azure.grant(input);
    assert.deepEqual(a, b);
    assert.equal(az.assignments.size, 1);
    await azure.revoke(input, a.grantRef);
    await azure.revoke(input, a.grantRef);
    await azure.revoke(request(), {});
    assert.equal(az.assignments.size, 0);
    assert.deepEqual(
      az.calls.slice(-3).map((c) => c.method),
      ["DELETE", "DELETE", "DELETE"],
    );
  });

  it("a rejected token is renewed once; 429, 5xx, token endpoint outages and an unreachable host are TransientProviderError", async () => {
    az.expireTokens();
    const input = request();
    await azure.grant(input);
    assert.deepEqual(
      az.calls.slice(-3).map((c) => `${c.method} ${c.authorization ?? ""}`.trim()),
      ["PUT Bearer tok-1", "POST", "PUT Bearer tok-2"],
    );
    await azure.revoke(input, {});

    az.failNext({ status: 429, code: "TooManyRequests", message: "Too many requests", headers: { "retry-after": "7" } });
    await assert.rejects(azure.grant(request()), (e: Error) => e instanceof TransientProviderError && /after 7s/.test(e.message));
    az.failNext({ status: 500, code: "InternalServerError", message: "Encountered internal server error." });
    await assert.rejects(azure.revoke(request(), {}), TransientProviderError);
    az.failNext({ status: 503, code: "temporarily_unavailable", message: "AADSTS50000: try again", target: "token" });
    const fresh = createAzureProvider({ endpoint: az.url, authorityHost: az.url, ...CLIENT });
    await assert.rejects(fresh.grant(request()), TransientProviderError);
    const down = createAzureProvider({ endpoint: "http://127.0.0.1:9", authorityHost: "http://127.0.0.1:9", ...CLIENT });
    await assert.rejects(down.grant(request()), TransientProviderError);
  });

  it("denials, a wrong secret, someone else's assignment and bad input are plain errors that say what to do — never with the secret", async () => {
    const errors: Error[] = [];
    const plain = (e: unknown) => {
      assert.ok(e instanceof Error && !(e instanceof TransientProviderError), String(e));
      errors.push(e);
      return true;
    };
    az.failNext({
      status: 403,
      code: "AuthorizationFailed",
      message: `The client '${CLIENT.clientId}' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write'`,
    });
    await assert.rejects(azure.grant(request()), plain);
    assert.match(errors.at(-1)?.message ?? "", /AuthorizationFailed: .*roleAssignments\/write.* needs Microsoft\.Authorization/);

    const wrong = createAzureProvider({ endpoint: az.url, authorityHost: az.url, ...CLIENT, clientSecret: "not-the-secret-Qq" });
    await assert.rejects(wrong.grant(request()), plain);
    assert.match(
      errors.at(-1)?.message ?? "",
      /token request for client cairn-app failed: invalid_client: AADSTS7000215.*check AZURE_TENANT_ID/,
    );
    assert.ok(!errors.at(-1)?.message.includes("not-the-secret-Qq"));

    const mine = request();
    await azure.grant(mine);
    await assert.rejects(azure.grant(request()), plain); // same principal, role and scope, another assignment
    assert.match(errors.at(-1)?.message ?? "", /RoleAssignmentExists.*did not make/);
    await azure.revoke(mine, {});

    const n = az.calls.length;
    for (const bad of [
      request({ principal: "alice@example.com" }),
      request({ role: "Chief Wizard" }),
      request({ role: undefined, permissions: ["Microsoft.Compute/virtualMachines/read"] }),
      request({ resource: "subscriptions/x/../y" }),
    ]) {
      await assert.rejects(azure.grant(bad), plain);
    }
    await assert.rejects(createAzureProvider({ endpoint: az.url }).grant(request()), plain);
    assert.match(errors.at(-1)?.message ?? "", /not configured: set AZURE_TENANT_ID/);
    assert.equal(az.calls.length, n, "bad input makes no call");
    for (const e of errors) assert.ok(!inspect(e).includes(CLIENT.clientSecret), "no client secret in the error");
  });

  it("is configured from the environment: AZURE_TENANT_ID/CLIENT_ID/CLIENT_SECRET, CAIRN_AZURE_ENDPOINT, CAIRN_AZURE_AUTHORITY_HOST", async () => {
    assert.equal(
      providersFromSettings(loadSettings({ AZURE_TENANT_ID: CLIENT.tenantId })).azure,
      undefined,
      "off without a full service principal",
    );
    const settings = loadSettings({
      CAIRN_AZURE_ENDPOINT: az.url,
      CAIRN_AZURE_AUTHORITY_HOST: az.url,
      AZURE_TENANT_ID: CLIENT.tenantId,
      AZURE_CLIENT_ID: CLIENT.clientId,
      AZURE_CLIENT_SECRET: CLIENT.clientSecret,
      AZURE_SUBSCRIPTION_ID: SUB.split("/")[2],
    });
    const fromEnv = providersFromSettings(settings).azure;
    assert.ok(fromEnv);
    const input = request({ resource: undefined });
    assert.equal((await fromEnv.grant(input)).grantRef.scope, SUB);
    await fromEnv.revoke(input, {});
    assert.equal(az.assignments.size, 0);
  });
});
