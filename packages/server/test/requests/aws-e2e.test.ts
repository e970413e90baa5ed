import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type IamServer, startIamServer } from "../fixtures/iam-server.js";
import { type TestApp, useApp } from "../helper.js";

// The aws provider end to end: intake → queue → worker → IAM (a local endpoint speaking the Query
// protocol) → SUCCESS, then revocation at the end of the grant and on request, with the exact IAM calls.
let iam: IamServer;
before(async () => {
  iam = await startIamServer();
  iam.addUser("alice");
  iam.addRole("deployer");
});
after(() => iam.close());

async function statusOf(cairn: TestApp, id: string, wanted: string[]): Promise<Record<string, any>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const res = await cairn.call("GET", `/api/v1/requests/${id}`);
    if (wanted.includes(res.json?.status)) return res.json;
    if (Date.now() > deadline) throw new Error(`request ${id} stayed ${res.json?.status}, wanted ${wanted.join("/")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("access requests: the aws provider through the app", () => {
  const cairn = useApp("pglite", {
    CAIRN_AWS_ENABLED: "true",
    get CAIRN_AWS_IAM_ENDPOINT() {
      return iam.url;
    },
    AWS_ACCESS_KEY_ID: "AKIAEXAMPLEEXAMPLE01",
    AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    CAIRN_ACCESS_POLL_MS: "100",
    CAIRN_ACCESS_RETRY_BASE_MS: "20",
  } as Record<string, string>);

  it("attaches the managed policy, and detaches it when the grant ends", async () => {
    const created = await cairn.call("POST", "/api/v1/requests", {
      provider: "aws",
      principal: "user/alice",
      role: "arn:aws:iam::aws:policy/ReadOnlyAccess",
      durationSeconds: 2,
      justification: "incident 4711: read the logs",
    });
    assert.equal(created.status, 202, created.text);
    const granted = await statusOf(cairn, created.json.correlationId, ["SUCCESS", "FAILED"]);
    assert.equal(granted.status, "SUCCESS", JSON.stringify(granted));
    const attach = iam.calls.find((c) => c.action === "AttachUserPolicy");
    assert.ok(attach, "an AttachUserPolicy call reached IAM");
    assert.equal(attach.params.UserName, "alice");
    assert.equal(attach.params.PolicyArn, "arn:aws:iam::aws:policy/ReadOnlyAccess");
    assert.match(
      String(attach.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE01\/\d{8}\/us-east-1\/iam\/aws4_request/,
    );
    assert.ok(iam.users.get("alice")?.attached.has("arn:aws:iam::aws:policy/ReadOnlyAccess"));

    const ended = await statusOf(cairn, created.json.correlationId, ["EXPIRED"]);
    assert.ok(ended.completedAt);
    assert.ok(iam.calls.some((c) => c.action === "DetachUserPolicy" && c.params.UserName === "alice"));
    assert.equal(iam.users.get("alice")?.attached.size, 0, "the policy is gone when the grant expires");
  });

  it("puts a time-bound inline policy on a role and deletes it on early revoke", async () => {
    const created = await cairn.call("POST", "/api/v1/requests", {
      provider: "aws",
      principal: "role/deployer",
      permissions: ["s3:GetObject"],
      resource: "arn:aws:s3:::audit-logs/*",
      durationSeconds: 3600,
      justification: "quarterly audit",
    });
    assert.equal(created.status, 202, created.text);
    const id = created.json.correlationId;
    await statusOf(cairn, id, ["SUCCESS"]);
    const put = iam.calls.find((c) => c.action === "PutRolePolicy");
    assert.ok(put);
    assert.equal(put.params.RoleName, "deployer");
    assert.equal(put.params.PolicyName, `cairn-${id}`);
    const document = JSON.parse(put.params.PolicyDocument as string);
    assert.deepEqual(document.Statement[0].Action, ["s3:GetObject"]);
    assert.ok(document.Statement[0].Condition.DateLessThan["aws:CurrentTime"], "the policy also stops by itself");

    const revoked = await cairn.call("POST", `/api/v1/requests/${id}/revoke`, { comment: "done early" });
    assert.ok([200, 202].includes(revoked.status), revoked.text);
    await statusOf(cairn, id, ["REVOKED"]);
    assert.ok(iam.calls.some((c) => c.action === "DeleteRolePolicy" && c.params.PolicyName === `cairn-${id}`));
    assert.equal(iam.roles.get("deployer")?.inline.size, 0);
    const events = await cairn.store.db.selectFrom("audit_events").select("event_type").where("resource_id", "=", id).execute();
    const types = events.map((e) => e.event_type);
    for (const t of ["request.created", "request.granted", "request.revoked"]) assert.ok(types.includes(t), `${t} in ${types.join(", ")}`);
  });
});
