import assert from "node:assert/strict";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import { createGcpProvider, gcpMember } from "../../src/domains/requests/providers/gcp.js";
import { providersFromSettings } from "../../src/domains/requests/providers/index.js";
import { type GrantInput, TransientProviderError } from "../../src/domains/requests/providers/types.js";
import { loadSettings } from "../../src/settings.js";
import { type GcpServer, startGcpServer } from "../fixtures/gcp-server.js";

const EMAIL = "cairn@cairn-prod.iam.gserviceaccount.com";
const STATIC_TOKEN = "ya29.static-token-for-tests";
const OWNER = { role: "roles/owner", members: ["user:owner@example.com"] };

describe("access provider gcp (Resource Manager IAM policy on a local endpoint)", () => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  let gcp: GcpServer;
  let dir: string;
  let keyFile: string;
  let provider: ReturnType<typeof createGcpProvider>;
  before(async () => {
    gcp = await startGcpServer({ clientEmail: EMAIL, publicKey }, ["cairn-prod", "cairn-dev"]);
    gcp.acceptToken(STATIC_TOKEN);
    dir = await mkdtemp(path.join(tmpdir(), "cairn-gcp-"));
    keyFile = path.join(dir, "sa.json");
    const key = {
      type: "service_account",
      project_id: "cairn-prod",
      private_key_id: "k1",
      private_key: pem,
      client_email: EMAIL,
      token_uri: gcp.tokenUri,
    };
    await writeFile(keyFile, JSON.stringify(key));
    provider = createGcpProvider({ endpoint: gcp.url, credentialsFile: keyFile });
  });
  after(async () => {
    await gcp.close();
    await rm(dir, { recursive: true, force: true });
  });

  const request = (over: Partial<GrantInput> = {}): GrantInput => ({
    correlationId: randomUUID(),
    principal: "user:alice@example.com",
    role: "roles/storage.objectViewer",
    resource: "cairn-dev",
    expiresAt: new Date("2030-01-02T03:04:05.000Z"),
    ...over,
  });
  const binding = (input: GrantInput, member = input.principal) => ({
    role: input.role,
    members: [member],
    condition: {
      title: `cairn-${input.correlationId}`,
      description: `Cairn access request ${input.correlationId}`,
      expression: "request.time < timestamp('2030-01-02T03:04:05.000Z')",
    },
  });
  const since = (n: number) => gcp.calls.slice(n).map((c) => c.path);

  it("signs a JWT for a token, adds a conditional binding with the read etag, and removes exactly it at revoke", async () => {
    const input = request();
    const n = gcp.calls.length;
    const etag = gcp.policies.get("cairn-dev")?.etag;
    const { grantRef } = await provider.grant(input);
    assert.deepEqual(grantRef, {
      project: "cairn-dev",
      role: "roles/storage.objectViewer",
      member: "user:alice@example.com",
      conditionTitle: `cairn-${input.correlationId}`,
    });
    const [token, get, set] = gcp.calls.slice(n);
    assert.equal(token?.path, "/token");
    assert.equal((token?.body as Record<string, string> | undefined)?.grant_type, "urn:ietf:params:oauth:grant-type:jwt-bearer");
    assert.deepEqual(get, {
      method: "POST",
      path: "/v1/projects/cairn-dev:getIamPolicy",
      authorization: get?.authorization,
      body: { options: { requestedPolicyVersion: 3 } },
    });
    assert.match(String(get?.authorization), /^Bearer ya29\.test-\d+$/);
    assert.equal(set?.path, "/v1/projects/cairn-dev:setIamPolicy");
    assert.deepEqual(set?.body, { policy: { version: 3, etag, bindings: [OWNER, binding(input)] } });
    assert.deepEqual(gcp.policies.get("cairn-dev")?.bindings, [OWNER, binding(input)]);

    const m = gcp.calls.length;
    await provider.revoke(input, grantRef);
    assert.deepEqual(since(m), ["/v1/projects/cairn-dev:getIamPolicy", "/v1/projects/cairn-dev:setIamPolicy"], "the token is reused");
    assert.deepEqual(gcp.policies.get("cairn-dev")?.bindings, [OWNER]);
  });

  it("takes the key file's project, bare e-mail addresses and short role names", async () => {
    const input = request({ resource: undefined, principal: "deploy@ci-123.iam.gserviceaccount.com", role: "viewer" });
    const { grantRef } = await provider.grant(input);
    assert.deepEqual(
      [grantRef.project, grantRef.member, grantRef.role],
      ["cairn-prod", "serviceAccount:deploy@ci-123.iam.gserviceaccount.com", "roles/viewer"],
    );
    await provider.revoke(input, grantRef);
    assert.deepEqual(gcp.policies.get("cairn-prod")?.bindings, [OWNER]);
    assert.equal(gcpMember("bob@example.com"), "user:bob@example.com");
  });

  it("is idempotent: a second grant or revoke, and a revoke of what never existed, read and write nothing", async () => {
    const input = request();
    const first = await provider.grant(input);
    let n = gcp.calls.length;
    assert.deepEqual(await provider.grant(input), first);
    assert.deepEqual(since(n), ["/v1/projects/cairn-dev:getIamPolicy"]);
    await provider.revoke(input, first.grantRef);
    n = gcp.calls.length;
    await provider.revoke(input, first.grantRef);
    await provider.revoke(request(), {});
    assert.deepEqual(since(n), ["/v1/projects/cairn-dev:getIamPolicy", "/v1/projects/cairn-dev:getIamPolicy"]);
    assert.deepEqual(gcp.policies.get("cairn-dev")?.bindings, [OWNER]);
  });

  it("an etag conflict restarts the read-modify-write and keeps the other writer's change; endless conflicts are transient", async () => {
    const input = request();
    const n = gcp.calls.length;
    gcp.concurrentWrites(2);
    await provider.grant(input);
    assert.equal(since(n).filter((p) => p.endsWith(":setIamPolicy")).length, 3);
    const bindings = gcp.policies.get("cairn-dev")?.bindings ?? [];
    assert.equal(bindings.filter((b) => b.role === "roles/browser").length, 2, "the concurrent writes survive");
    assert.deepEqual(bindings.at(-1), binding(input));

    const impatient = createGcpProvider({ endpoint: gcp.url, accessToken: STATIC_TOKEN, maxConflictRetries: 1 });
    gcp.concurrentWrites(5);
    await assert.rejects(
      impatient.revoke(input, {}),
      (e: Error) => e instanceof TransientProviderError && /etag conflicts/.test(e.message),
    );
    gcp.concurrentWrites(0);
    await impatient.revoke(input, {});
    assert.ok(!gcp.policies.get("cairn-dev")?.bindings.some((b) => b.condition));
  });

  it("5xx, 429, a token endpoint outage and an unreachable host are TransientProviderError", async () => {
    gcp.failNext({ status: 500, grpcStatus: "INTERNAL", message: "Internal error encountered." });
    await assert.rejects(provider.grant(request()), TransientProviderError);
    gcp.failNext({ status: 429, grpcStatus: "RESOURCE_EXHAUSTED", message: "Quota exceeded for quota metric 'Write requests'" });
    await assert.rejects(provider.revoke(request(), {}), TransientProviderError);
    gcp.failNext({ status: 503, grpcStatus: "temporarily_unavailable", message: "try later", target: "token" });
    await assert.rejects(createGcpProvider({ endpoint: gcp.url, credentialsFile: keyFile }).grant(request()), TransientProviderError);
    await assert.rejects(
      createGcpProvider({ endpoint: "http://127.0.0.1:9", accessToken: STATIC_TOKEN }).grant(request()),
      TransientProviderError,
    );
  });

  it("denials, rejected credentials and bad input are plain errors that say what to do — never with a key or token", async () => {
    const errors: Error[] = [];
    const plain = (e: unknown) => {
      assert.ok(e instanceof Error && !(e instanceof TransientProviderError), String(e));
      errors.push(e);
      return true;
    };
    await assert.rejects(provider.grant(request({ resource: "someone-elses" })), plain);
    assert.match(errors.at(-1)?.message ?? "", /getIamPolicy on project someone-elses failed: PERMISSION_DENIED.*projectIamAdmin/);

    const stale = createGcpProvider({ endpoint: gcp.url, accessToken: "ya29.expired-static-token" });
    await assert.rejects(stale.grant(request()), plain);
    assert.match(errors.at(-1)?.message ?? "", /UNAUTHENTICATED.*CAIRN_GCP_ACCESS_TOKEN was rejected/);
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const wrongKey = path.join(dir, "wrong.json");
    await writeFile(
      wrongKey,
      JSON.stringify({ type: "service_account", private_key: other, client_email: EMAIL, token_uri: gcp.tokenUri }),
    );
    await assert.rejects(createGcpProvider({ endpoint: gcp.url, credentialsFile: wrongKey }).grant(request()), plain);
    assert.match(errors.at(-1)?.message ?? "", /token request for .* failed: invalid_grant: Invalid JWT Signature/);

    const n = gcp.calls.length;
    for (const bad of [
      request({ principal: "allUsers" }),
      request({ principal: "alice" }),
      request({ role: "roles/not a role" }),
      request({ role: undefined, permissions: ["storage.objects.get"] }),
      request({ resource: "Not_A_Project" }),
    ]) {
      await assert.rejects(provider.grant(bad), plain);
    }
    await assert.rejects(createGcpProvider({ endpoint: gcp.url }).grant(request()), plain);
    assert.match(errors.at(-1)?.message ?? "", /not configured: set CAIRN_GCP_CREDENTIALS_FILE/);
    await assert.rejects(createGcpProvider({ endpoint: gcp.url, credentialsFile: path.join(dir, "missing.json") }).grant(request()), plain);
    assert.match(errors.at(-1)?.message ?? "", /cannot read the credentials file .*missing\.json: ENOENT/);
    assert.equal(gcp.calls.length, n, "bad input makes no call");

    for (const e of errors) {
      const text = `${inspect(e)} ${JSON.stringify(e)}`;
      assert.ok(
        !text.includes("PRIVATE KEY") && !text.includes(pem.slice(40, 80)) && !text.includes("expired-static-token"),
        "no key or token in the error",
      );
    }
  });

  it("with a static access token, calls carry it and no token is requested", async () => {
    const input = request();
    const n = gcp.calls.length;
    const withToken = createGcpProvider({ endpoint: gcp.url, accessToken: STATIC_TOKEN });
    await withToken.grant(input);
    await withToken.revoke(input, {});
    assert.equal(since(n).length, 4);
    assert.ok(gcp.calls.slice(n).every((c) => c.authorization === `Bearer ${STATIC_TOKEN}`));
  });

  it("is configured from the environment: CAIRN_GCP_CREDENTIALS_FILE or CAIRN_GCP_ACCESS_TOKEN, CAIRN_GCP_ENDPOINT, CAIRN_GCP_PROJECT", async () => {
    assert.equal(providersFromSettings(loadSettings({})).gcp, undefined, "off without credentials");
    const fromFile = providersFromSettings(loadSettings({ CAIRN_GCP_ENDPOINT: gcp.url, CAIRN_GCP_CREDENTIALS_FILE: keyFile })).gcp;
    const fromToken = providersFromSettings(
      loadSettings({ CAIRN_GCP_ENDPOINT: gcp.url, CAIRN_GCP_ACCESS_TOKEN: STATIC_TOKEN, CAIRN_GCP_PROJECT: "cairn-dev" }),
    ).gcp;
    assert.ok(fromFile && fromToken);
    const input = request({ resource: undefined });
    assert.equal((await fromFile.grant(input)).grantRef.project, "cairn-prod");
    await fromFile.revoke(input, {});
    assert.equal((await fromToken.grant(input)).grantRef.project, "cairn-dev");
    await fromToken.revoke(input, {});
    assert.ok(![...gcp.policies.values()].some((p) => p.bindings.some((b) => b.condition)));
  });
});
