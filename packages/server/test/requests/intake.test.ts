import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { backends, secondTenant, useApp } from "../helper.js";

// Intake, status, list and the API-side transitions. Role `api`: no worker runs, so requests stay where
// intake put them (the grant path is tested against a real PostgreSQL in postgres-grant.test.ts).
const TARGET = "postgres://postgres@127.0.0.1:5432/test";
const valid = { provider: "postgres", principal: "ana", role: "pg_read_all_data", durationSeconds: 600, justification: "incident 42" };

for (const backend of backends()) {
  describe(`access requests: intake (${backend})`, () => {
    const cairn = useApp(backend, { CAIRN_ROLE: "api", CAIRN_ACCESS_POSTGRES_URL: TARGET, CAIRN_ACCESS_MAX_DURATION_SECONDS: "3600" });
    const rows = async () => Number((await sql<{ n: string }>`select count(*) as n from requests`.execute(cairn.store.db)).rows[0]?.n);

    it("202 with a correlation id, stored PENDING with its audit event, queued on its provider's queue", async () => {
      const res = await cairn.call("POST", "/api/v1/requests", valid);
      assert.equal(res.status, 202, res.text);
      const { correlationId, status, links } = res.json;
      assert.match(correlationId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(status, "PENDING");
      assert.equal(links.self, `/api/v1/requests/${correlationId}`);
      assert.equal(res.headers.location, links.self);
      const job = await cairn.store.db.selectFrom("queue_jobs").selectAll().where("id", "=", correlationId).executeTakeFirst();
      assert.equal(job?.queue, "postgres");
      const events = await cairn.store.db
        .selectFrom("audit_events")
        .select("event_type")
        .where("resource_id", "=", correlationId)
        .orderBy("seq")
        .execute();
      assert.deepEqual(
        events.map((e) => e.event_type).filter((t) => t.startsWith("request.")),
        ["request.created", "request.approved"],
      );

      const shown = await cairn.call("GET", links.self);
      assert.equal(shown.status, 200, shown.text);
      assert.equal(shown.json.status, "PENDING");
      assert.equal(shown.json.provider, "postgres");
      assert.equal(shown.json.role, "pg_read_all_data");
      assert.equal(shown.json.credentialsAvailable, false);
      // revoked before any grant: cancelled at once, and the cached status follows
      const revoked = await cairn.call("POST", `${links.self}/revoke`);
      assert.equal(revoked.status, 202, revoked.text);
      assert.equal(revoked.json.status, "REVOKED");
      assert.equal((await cairn.call("GET", links.self)).json.status, "REVOKED");
      assert.equal((await cairn.call("POST", `${links.self}/revoke`)).status, 409);
      assert.equal((await cairn.call("POST", `${links.self}/credentials`)).status, 409);
      assert.equal((await cairn.call("POST", `${links.self}/approve`)).status, 409);
    });

    it("bad payloads: 400 listing every problem, 413 when oversized, and no row written", async () => {
      const before = await rows();
      const cases: [string, unknown, number, string[]][] = [
        ["missing fields", { provider: "postgres" }, 400, ["body/principal", "body/durationSeconds", "body/justification"]],
        ["unknown provider", { ...valid, provider: "oracle" }, 400, ["body/provider"]],
        ["duration over the maximum", { ...valid, durationSeconds: 7200 }, 400, ["body/durationSeconds"]],
        ["neither role nor permissions", { ...valid, role: undefined }, 400, ["body/role", "body/permissions"]],
        ["unknown field", { ...valid, extra: 1 }, 400, ["body/extra"]],
        ["provider not configured", { ...valid, provider: "azure" }, 400, ["/provider"]],
        [
          "bad postgres names",
          { ...valid, principal: "Ana; drop", permissions: ["SELECT", "x"], role: undefined },
          400,
          ["/principal", "/permissions/1", "/resource"],
        ],
      ];
      for (const [what, body, status, paths] of cases) {
        const res = await cairn.call("POST", "/api/v1/requests", body);
        assert.equal(res.status, status, `${what}: ${res.text}`);
        assert.equal(res.headers["content-type"], "application/problem+json", what);
        const got = (res.json.errors ?? []).map((e: { path: string }) => e.path);
        for (const p of paths) assert.ok(got.includes(p), `${what}: ${p} listed in ${JSON.stringify(got)}`);
      }
      const big = await cairn.call("POST", "/api/v1/requests", { ...valid, justification: "x".repeat(20_000) });
      assert.equal(big.status, 413, big.text);
      assert.equal(await rows(), before, "nothing stored");
    });

    it("Idempotency-Key: the same key and body answer the same correlation id; another body is refused", async () => {
      const before = await rows();
      const headers = { "idempotency-key": "deploy-7f3a" };
      const first = await cairn.call("POST", "/api/v1/requests", valid, headers);
      const again = await cairn.call("POST", "/api/v1/requests", { ...valid }, headers);
      assert.equal(first.status, 202);
      assert.equal(again.status, 202);
      assert.equal(again.json.correlationId, first.json.correlationId);
      assert.equal(again.headers["idempotent-replayed"], "true");
      const other = await cairn.call("POST", "/api/v1/requests", { ...valid, durationSeconds: 60 }, headers);
      assert.equal(other.status, 422, other.text);
      assert.equal(other.json.correlationId, first.json.correlationId);
      assert.equal(await rows(), before + 1);
      const fresh = await cairn.call("POST", "/api/v1/requests", valid, { "idempotency-key": "deploy-7f3b" });
      assert.notEqual(fresh.json.correlationId, first.json.correlationId);
    });

    it("approval policies: over the maximum → 400 and no row; otherwise AWAITING_APPROVAL until someone else approves or denies", async () => {
      const policy = await cairn.call("POST", "/api/v1/approval-policies", {
        name: "pg-writers",
        kind: "access_request",
        match: { provider: "postgres", role: "pg_write_all_data" },
        maxDurationSeconds: 900,
        requiredApprovals: 1,
      });
      assert.equal(policy.status, 201, policy.text);
      const writer = { ...valid, role: "pg_write_all_data" };
      const before = await rows();
      const tooLong = await cairn.call("POST", "/api/v1/requests", { ...writer, durationSeconds: 1200 });
      assert.equal(tooLong.status, 400, tooLong.text);
      assert.equal(tooLong.json.errors[0].path, "/durationSeconds");
      assert.equal(await rows(), before);

      const approver = await cairn.call("POST", "/api/v1/keys", { name: "approver", roles: ["admin"] });
      const asApprover = { authorization: `Bearer ${approver.json.key}` };
      const asked = await cairn.call("POST", "/api/v1/requests", writer);
      assert.equal(asked.json.status, "AWAITING_APPROVAL");
      const self = `/api/v1/requests/${asked.json.correlationId}`;
      assert.equal((await cairn.call("POST", `${self}/approve`)).status, 403, "no approving your own request");
      const approved = await cairn.call("POST", `${self}/approve`, { comment: "ok" }, asApprover);
      assert.equal(approved.status, 200, approved.text);
      assert.equal(approved.json.status, "APPROVED");
      assert.equal((await cairn.call("GET", self)).json.status, "APPROVED");
      assert.ok(await cairn.store.db.selectFrom("queue_jobs").select("id").where("id", "=", asked.json.correlationId).executeTakeFirst());

      const denied = await cairn.call("POST", "/api/v1/requests", writer);
      const no = await cairn.call("POST", `/api/v1/requests/${denied.json.correlationId}/deny`, undefined, asApprover);
      assert.equal(no.json.status, "DENIED", no.text);
      assert.equal((await cairn.call("GET", `/api/v1/requests/${denied.json.correlationId}`)).json.status, "DENIED");
    });

    it("list: structured filters and cursor pagination, newest first; other tenants see nothing", async () => {
      for (const principal of ["list_a", "list_b", "list_c"]) {
        assert.equal((await cairn.call("POST", "/api/v1/requests", { ...valid, principal })).status, 202);
      }
      const page1 = await cairn.call("GET", "/api/v1/requests?status=pending&provider=postgres&limit=2");
      assert.equal(page1.status, 200, page1.text);
      assert.equal(page1.json.items.length, 2);
      assert.deepEqual(
        page1.json.items.map((i: { principal: string }) => i.principal),
        ["list_c", "list_b"],
      );
      const page2 = await cairn.call("GET", `/api/v1/requests?status=PENDING&limit=2&cursor=${page1.json.nextCursor}`);
      assert.equal(page2.json.items[0].principal, "list_a");
      const one = await cairn.call("GET", "/api/v1/requests?principal=list_b");
      assert.deepEqual(
        one.json.items.map((i: { principal: string }) => i.principal),
        ["list_b"],
      );
      const future = await cairn.call("GET", `/api/v1/requests?from=${new Date(Date.now() + 60_000).toISOString()}`);
      assert.equal(future.json.items.length, 0);
      assert.equal((await cairn.call("GET", "/api/v1/requests?status=NOPE")).status, 400);

      const other = await secondTenant(cairn);
      const theirs = await cairn.call("GET", "/api/v1/requests", undefined, { authorization: `Bearer ${other.adminKey}` });
      assert.equal(theirs.json.items.length, 0);
      const id = page1.json.items[0].correlationId;
      const hidden = await cairn.call("GET", `/api/v1/requests/${id}`, undefined, { authorization: `Bearer ${other.adminKey}` });
      assert.equal(hidden.status, 404);
    });
  });
}
