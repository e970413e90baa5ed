import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import { createAwsProvider, parseAwsPrincipal } from "../../src/domains/requests/providers/aws.js";
import { providersFromSettings } from "../../src/domains/requests/providers/index.js";
import { type GrantInput, TransientProviderError } from "../../src/domains/requests/providers/types.js";
import { loadSettings } from "../../src/settings.js";
import { type IamServer, startIamServer } from "../fixtures/iam-server.js";

const ACCESS_KEY = "AKIACAIRNTEST0000001";
const SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYcairnSECRET";
const READONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";

describe("access provider aws (IAM Query API on a local endpoint)", () => {
  let iam: IamServer;
  let aws: ReturnType<typeof createAwsProvider>;
  before(async () => {
    iam = await startIamServer();
    iam.addUser("alice");
    iam.addRole("deployer");
    aws = createAwsProvider({
      endpoint: iam.url,
      region: "us-east-1",
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      maxAttempts: 1,
    });
  });
  after(() => iam.close());

  const request = (over: Partial<GrantInput>): GrantInput => ({
    correlationId: randomUUID(),
    principal: "user/alice",
    expiresAt: new Date("2030-01-02T03:04:05.000Z"),
    ...over,
  });
  const callsSince = (n: number) => iam.calls.slice(n).map((c) => ({ action: c.action, params: c.params }));

  it("attaches a managed policy to a user at grant and detaches it at revoke, signed with SigV4", async () => {
    const input = request({ role: READONLY });
    const n = iam.calls.length;
    const { grantRef } = await aws.grant(input);
    assert.deepEqual(grantRef, { kind: "managed-policy", principalType: "user", principalName: "alice", policyArn: READONLY });
    assert.deepEqual(callsSince(n), [{ action: "AttachUserPolicy", params: { UserName: "alice", PolicyArn: READONLY } }]);
    const call = iam.calls[n];
    assert.equal(call?.method, "POST");
    assert.equal(call?.path, "/");
    assert.match(String(call?.headers["content-type"]), /^application\/x-www-form-urlencoded/);
    assert.match(
      String(call?.headers.authorization),
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/\\d{8}/us-east-1/iam/aws4_request, SignedHeaders=[a-z0-9;-]*x-amz-date[a-z0-9;-]*, Signature=[0-9a-f]{64}$`,
      ),
    );
    assert.match(String(call?.headers["x-amz-date"]), /^\d{8}T\d{6}Z$/);
    assert.ok(iam.users.get("alice")?.attached.has(READONLY));

    await aws.revoke(input, grantRef);
    assert.deepEqual(callsSince(n + 1), [{ action: "DetachUserPolicy", params: { UserName: "alice", PolicyArn: READONLY } }]);
    assert.equal(iam.users.get("alice")?.attached.size, 0);
  });

  it("puts an inline policy cairn-<id> that expires by itself on a role given by ARN, and deletes it at revoke", async () => {
    const input = request({
      principal: "arn:aws:iam::123456789012:role/ops/deployer",
      permissions: ["s3:GetObject", "s3:ListBucket"],
      resource: "arn:aws:s3:::reports/*",
    });
    const n = iam.calls.length;
    const { grantRef } = await aws.grant(input);
    const policyName = `cairn-${input.correlationId}`;
    assert.deepEqual(grantRef, { kind: "inline-policy", principalType: "role", principalName: "deployer", policyName });
    const [put] = callsSince(n);
    assert.equal(put?.action, "PutRolePolicy");
    assert.equal(put?.params.RoleName, "deployer");
    assert.equal(put?.params.PolicyName, policyName);
    assert.deepEqual(JSON.parse(put?.params.PolicyDocument ?? ""), {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "CairnTemporaryAccess",
          Effect: "Allow",
          Action: ["s3:GetObject", "s3:ListBucket"],
          Resource: "arn:aws:s3:::reports/*",
          Condition: { DateLessThan: { "aws:CurrentTime": "2030-01-02T03:04:05.000Z" } },
        },
      ],
    });
    await aws.revoke(input, grantRef);
    assert.deepEqual(callsSince(n + 1), [{ action: "DeleteRolePolicy", params: { RoleName: "deployer", PolicyName: policyName } }]);
    assert.equal(iam.roles.get("deployer")?.inline.size, 0);
  });

  it("is idempotent: grant twice, revoke twice, revoke what never existed, revoke without a stored ref", async () => {
    const input = request({ permissions: ["ec2:Describe*"] });
    const first = await aws.grant(input);
    const second = await aws.grant(input);
    assert.deepEqual(first, second);
    assert.equal(iam.users.get("alice")?.inline.size, 1);
    await aws.revoke(input, first.grantRef);
    await aws.revoke(input, first.grantRef); // IAM answers NoSuchEntity: already gone
    assert.equal(iam.calls.at(-1)?.action, "DeleteUserPolicy");
    assert.equal(iam.users.get("alice")?.inline.size, 0);
    await aws.revoke(request({ role: READONLY }), {}); // never granted; the ref is rebuilt from the request
    assert.deepEqual(callsSince(iam.calls.length - 1), [
      { action: "DetachUserPolicy", params: { UserName: "alice", PolicyArn: READONLY } },
    ]);
    await aws.revoke(request({ principal: "role/ghost", role: READONLY }), {}); // the principal itself is gone
  });

  it("throttling, 5xx and an unreachable endpoint are TransientProviderError", async () => {
    iam.failNext({ status: 400, code: "Throttling", message: "Rate exceeded" });
    await assert.rejects(
      aws.grant(request({ role: READONLY })),
      (e: Error) => e instanceof TransientProviderError && /Throttling/.test(e.message),
    );
    iam.failNext({ status: 500, code: "ServiceFailure", message: "Request processing has failed due to an internal error" });
    await assert.rejects(aws.revoke(request({ role: READONLY }), {}), TransientProviderError);
    iam.failNext({ status: 503, code: "ServiceUnavailable", message: "Service is unavailable" });
    await assert.rejects(aws.grant(request({ role: READONLY })), TransientProviderError);
    const down = createAwsProvider({
      endpoint: "http://127.0.0.1:9",
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      maxAttempts: 1,
    });
    await assert.rejects(down.grant(request({ role: READONLY })), TransientProviderError);
  });

  it("AccessDenied, an unknown principal and bad input are plain errors that say what to do — never with a credential", async () => {
    const errors: Error[] = [];
    const plain = (e: unknown) => {
      assert.ok(e instanceof Error && !(e instanceof TransientProviderError), String(e));
      errors.push(e);
      return true;
    };
    iam.failNext({
      status: 403,
      code: "AccessDenied",
      message: "User: arn:aws:iam::123456789012:user/cairn is not authorized to perform: iam:AttachUserPolicy",
    });
    await assert.rejects(aws.grant(request({ role: READONLY })), plain);
    assert.match(errors[0]?.message ?? "", /AttachUserPolicy for user\/alice failed: AccessDenied: .*not authorized.*need iam:Attach/);
    await assert.rejects(aws.grant(request({ principal: "user/bob", role: READONLY })), plain);
    assert.match(errors[1]?.message ?? "", /NoSuchEntity.*check that user "bob"/);

    const n = iam.calls.length;
    await assert.rejects(aws.grant(request({ principal: "alice", role: READONLY })), plain);
    assert.match(errors[2]?.message ?? "", /use user\/<name>, role\/<name>/);
    await assert.rejects(aws.grant(request({ role: "ReadOnlyAccess" })), plain);
    await assert.rejects(aws.grant(request({})), plain);
    await assert.rejects(aws.grant(request({ permissions: ["not an action"] })), plain);
    await assert.rejects(aws.grant(request({ role: READONLY, permissions: ["s3:GetObject"] })), plain);
    assert.equal(iam.calls.length, n, "bad input makes no call");

    const badKey = createAwsProvider({
      endpoint: iam.url,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      maxAttempts: 1,
    });
    iam.failNext({ status: 403, code: "SignatureDoesNotMatch", message: "The request signature we calculated does not match" });
    await assert.rejects(badKey.grant(request({ role: READONLY })), plain);
    assert.match(errors.at(-1)?.message ?? "", /check AWS_ACCESS_KEY_ID/);
    for (const e of errors) {
      assert.ok(!inspect(e).includes(SECRET_KEY) && !JSON.stringify(e).includes(SECRET_KEY), "no secret key in the error");
    }
  });

  it("is configured from the environment: CAIRN_AWS_IAM_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", async () => {
    assert.equal(providersFromSettings(loadSettings({})).aws, undefined, "off without endpoint, keys or profile");
    const env = {
      CAIRN_AWS_IAM_ENDPOINT: `${iam.url}/`,
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    };
    const fromEnv = providersFromSettings(loadSettings(env)).aws;
    const input = request({ role: READONLY });
    assert.ok(fromEnv);
    await fromEnv.grant(input);
    assert.match(String(iam.calls.at(-1)?.headers.authorization), new RegExp(`Credential=${ACCESS_KEY}/\\d{8}/eu-west-1/iam/aws4_request`));
    await fromEnv.revoke(input, {});
    assert.equal(providersFromSettings(loadSettings({ ...env, CAIRN_AWS_ENABLED: "false" })).aws, undefined);
    assert.throws(
      () => providersFromSettings(loadSettings({ CAIRN_AWS_IAM_ENDPOINT: iam.url })),
      /local IAM endpoint .* needs AWS_ACCESS_KEY_ID/,
    );
    assert.throws(() => loadSettings({ CAIRN_AWS_IAM_ENDPOINT: "iam.local" }), /CAIRN_AWS_IAM_ENDPOINT must be an http\(s\) URL/);
  });

  it("parses principals as users, roles, paths and ARNs", () => {
    assert.deepEqual(parseAwsPrincipal("user/alice"), { type: "user", name: "alice" });
    assert.deepEqual(parseAwsPrincipal("role/team/deployer"), { type: "role", name: "deployer" });
    assert.deepEqual(parseAwsPrincipal("arn:aws:iam::123456789012:user/alice"), { type: "user", name: "alice" });
    assert.throws(() => parseAwsPrincipal("group/admins"), /not an IAM user or role/);
  });
});
