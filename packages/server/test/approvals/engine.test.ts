import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { choosePolicy, createApprovalEngine } from "../../src/approvals/engine.js";
import type { ApprovalPolicy, ApprovalSubject } from "../../src/approvals/types.js";
import { createAuditLog } from "../../src/audit/log.js";
import type { CallContext } from "../../src/auth/actor.js";
import { CairnError } from "../../src/errors.js";
import { newId } from "../../src/ids.js";
import { alertEnv, createChannel, until } from "../alerts/support.js";
import { insertKey, insertUser } from "../authz/fixtures.js";
import { backends, useApp } from "../helper.js";

const P = "/api/v1/approval-policies";

describe("approval policy matching (no database)", () => {
  const policy = (id: string, match: ApprovalPolicy["match"]): ApprovalPolicy => ({
    id,
    name: id,
    kind: "access_request",
    match,
    requiredApprovals: 1,
    approvalTtlSeconds: 60,
  });
  const subject = (s: Partial<ApprovalSubject>): ApprovalSubject => ({
    kind: "access_request",
    id: "req_1",
    tenantId: "ten_1",
    requestedBy: "usr_1",
    ...s,
  });
  const policies = [
    policy("p1-any", {}),
    policy("p2-aws", { provider: "aws" }),
    policy("p3-aws-admin", { provider: "aws", role: "admin" }),
    policy("p4-aws-adm-prefix", { provider: "aws", role: "adm*" }),
    policy("p5-gcp", { provider: "gcp" }),
  ];
  const cases: [Partial<ApprovalSubject>, string | undefined][] = [
    [{ provider: "aws", role: "admin" }, "p3-aws-admin"],
    [{ provider: "aws", role: "administrator" }, "p4-aws-adm-prefix"],
    [{ provider: "aws", role: "reader" }, "p2-aws"],
    [{ provider: "gcp", role: "admin" }, "p5-gcp"],
    [{ provider: "azure" }, "p1-any"],
    [{ kind: "config_change", environment: "production" }, undefined],
  ];
  for (const [s, want] of cases) {
    it(`${JSON.stringify(s)} → ${want ?? "no policy"}`, () => {
      assert.equal(choosePolicy(policies, subject(s))?.id, want);
    });
  }
  it("equally specific: the oldest policy (smallest id) wins", () => {
    assert.equal(
      choosePolicy([policy("b", { role: "x" }), policy("a", { provider: "aws" })], subject({ provider: "aws", role: "x" }))?.id,
      "a",
    );
  });
});

for (const backend of backends()) {
  describe(`approval engine and policies (${backend})`, () => {
    const cairn = useApp(backend, alertEnv());
    let now = new Date("2026-11-25T12:00:00Z");
    const engineOf = () => createApprovalEngine({ db: cairn.store.db, audit: createAuditLog(), authz: cairn.authorizer, clock: () => now });
    const tenantId = () => cairn.bootstrap.tenantId;
    const userCtx = (id: string): CallContext => ({
      actor: { id, type: "user", tenantId: tenantId(), name: id, roles: [] },
      requestId: "t",
    });
    const subject = (s: Partial<ApprovalSubject> = {}): ApprovalSubject => ({
      kind: "access_request",
      id: newId("request"),
      tenantId: tenantId(),
      requestedBy: "usr_requester",
      provider: "postgres",
      role: "readonly",
      durationSeconds: 3600,
      ...s,
    });
    /** Runs check + decide the way a route does: check outside, decide in a transaction. */
    const decide = async (engine: ReturnType<typeof engineOf>, ctx: CallContext, s: ApprovalSubject, d: "approve" | "deny") => {
      await engine.checkApprover(ctx, s);
      return cairn.store.db.transaction().execute((trx) => engine.decide(trx, ctx, s, d));
    };
    const refusal = async (p: Promise<unknown>): Promise<CairnError> => {
      try {
        await p;
      } catch (e) {
        assert.ok(e instanceof CairnError, String(e));
        return e;
      }
      assert.fail("expected a refusal");
    };

    it("policy CRUD: admin only, 201/409/422/404, audit event for every change", async () => {
      const viewer = await insertKey(cairn, { roles: ["viewer"] });
      const body = { name: "pg-readonly", kind: "access_request", match: { provider: "postgres" }, requiredApprovals: 1 };
      assert.equal((await viewer.call("POST", P, body)).status, 403);
      assert.equal((await viewer.call("GET", P)).status, 403);
      const created = await cairn.call("POST", P, body);
      assert.equal(created.status, 201, created.text);
      assert.match(created.json.id, /^apol_/);
      assert.equal(created.json.approvalTtlSeconds, 86400);
      assert.equal((await cairn.call("POST", P, body)).status, 409);
      const badGroup = await cairn.call("POST", P, { ...body, name: "x", approverGroup: "no-such-group" });
      assert.equal(badGroup.status, 422);
      assert.equal(badGroup.json.errors[0].path, "/approverGroup");
      assert.equal((await cairn.call("POST", P, { ...body, name: "y", requiredApprovals: 0 })).status, 400);
      const updated = await cairn.call("PUT", `${P}/pg-readonly`, { ...body, requiredApprovals: 3 });
      assert.equal(updated.status, 200, updated.text);
      assert.equal(updated.json.requiredApprovals, 3);
      assert.equal((await cairn.call("GET", `${P}/${created.json.id}`)).json.requiredApprovals, 3);
      assert.equal((await cairn.call("GET", `${P}?kind=access_request`)).json.items.length, 1);
      assert.equal((await cairn.call("DELETE", `${P}/pg-readonly`)).status, 204);
      assert.equal((await cairn.call("DELETE", `${P}/pg-readonly`)).status, 404);
      const events = await cairn.store.db
        .selectFrom("audit_events")
        .select("event_type")
        .where("resource_id", "=", created.json.id)
        .orderBy("seq")
        .execute();
      assert.deepEqual(
        events.map((e) => e.event_type),
        ["approval_policy.created", "approval_policy.updated", "approval_policy.deleted"],
      );
    });

    it("auto-approves at or below the duration, refuses over the maximum, otherwise needs approval", async () => {
      const engine = engineOf();
      const res = await cairn.call("POST", P, {
        name: "aws-readonly",
        kind: "access_request",
        match: { provider: "aws", role: "readonly" },
        autoApproveBelowSeconds: 3600,
        maxDurationSeconds: 28800,
        requiredApprovals: 1,
      });
      assert.equal(res.status, 201, res.text);
      const conn = cairn.store.db;
      const aws = (d: number) => subject({ provider: "aws", role: "readonly", durationSeconds: d });
      assert.equal((await engine.evaluate(conn, aws(3600))).outcome, "auto_approved");
      const refused = await engine.evaluate(conn, aws(28801));
      assert.equal(refused.outcome, "refused");
      assert.match(refused.outcome === "refused" ? refused.reason : "", /over the maximum of 28800/);
      const needs = await engine.evaluate(conn, aws(3601));
      assert.equal(needs.outcome, "needs_approval");
      // No policy for this provider/role: auto-approved, nothing recorded.
      const free = subject({ provider: "azure", role: "reader" });
      assert.deepEqual(await engine.evaluate(conn, free), { outcome: "auto_approved" });
      assert.equal((await engine.state(conn, free)).state, "approved");
    });

    it("N approvals from a group: requester refused (403), outsiders refused, one decision per approver (409)", async () => {
      const engine = engineOf();
      const [u0, u1, u2, u3, outsider] = [
        await insertUser(cairn),
        await insertUser(cairn),
        await insertUser(cairn),
        await insertUser(cairn),
        await insertUser(cairn),
      ];
      const group = await cairn.call("POST", "/api/v1/groups", { name: "db-approvers" });
      assert.equal(group.status, 201, group.text);
      for (const u of [u0, u1, u2, u3])
        assert.equal((await cairn.call("POST", `/api/v1/groups/${group.json.id}/members/${u}`)).status, 200);
      const res = await cairn.call("POST", P, {
        name: "pg-admin",
        kind: "access_request",
        match: { provider: "postgres", role: "admin" },
        requiredApprovals: 2,
        approverGroup: "db-approvers",
        approvalTtlSeconds: 600,
      });
      assert.equal(res.status, 201, res.text);
      const s = subject({ role: "admin", requestedBy: u0 });
      const verdict = await cairn.store.db.transaction().execute((trx) => engine.evaluate(trx, s));
      assert.equal(verdict.outcome, "needs_approval");

      const self = await refusal(decide(engine, userCtx(u0), s, "approve"));
      assert.equal(self.code, "forbidden");
      assert.match(self.message, /you asked for access request .*cannot approve/);
      const out = await refusal(decide(engine, userCtx(outsider), s, "approve"));
      assert.equal(out.code, "forbidden");
      assert.match(out.message, /only members of group "db-approvers"/);
      const key = await insertKey(cairn, { roles: ["admin"] });
      const keyCtx: CallContext = {
        actor: { id: key.id, type: "api_key", tenantId: tenantId(), name: "k", roles: ["admin"] },
        requestId: "t",
      };
      assert.equal((await refusal(decide(engine, keyCtx, s, "approve"))).code, "forbidden");

      const first = await decide(engine, userCtx(u1), s, "approve");
      assert.deepEqual([first.state, first.approvals, first.required], ["pending", 1, 2]);
      const twice = await refusal(decide(engine, userCtx(u1), s, "approve"));
      assert.equal(twice.code, "conflict");
      assert.match(twice.message, /one decision per approver/);
      const second = await decide(engine, userCtx(u2), s, "approve");
      assert.deepEqual([second.state, second.approvals], ["approved", 2]);
      assert.equal((await refusal(decide(engine, userCtx(u3), s, "deny"))).code, "conflict");

      // Any deny → denied, whatever the approvals so far.
      const s2 = subject({ role: "admin", requestedBy: u0 });
      await engine.evaluate(cairn.store.db, s2);
      await decide(engine, userCtx(u1), s2, "approve");
      const denied = await decide(engine, userCtx(u3), s2, "deny");
      assert.equal(denied.state, "denied");
      const events = await cairn.store.db
        .selectFrom("audit_events")
        .select(["event_type", "result"])
        .where("resource_id", "=", s.id)
        .orderBy("seq")
        .execute();
      assert.deepEqual(
        events.map((e) => `${e.event_type}:${e.result}`),
        [
          "approval.requested:success",
          "authz.denied:denied",
          "authz.denied:denied",
          "authz.denied:denied",
          "approval.decided:success",
          "approval.decided:success",
        ],
      );
    });

    it("without a group, approvers need requests:**:approve", async () => {
      const engine = engineOf();
      await cairn.call("POST", P, { name: "gcp-any", kind: "access_request", match: { provider: "gcp" }, requiredApprovals: 1 });
      const s = subject({ provider: "gcp", role: "viewer" });
      await engine.evaluate(cairn.store.db, s);
      const nobody = await refusal(decide(engine, userCtx(await insertUser(cairn)), s, "approve"));
      assert.match(nobody.message, /needs the requests:\*\*:approve permission/);
      const key = await insertKey(cairn, { roles: ["admin"] });
      const ok = await decide(
        engine,
        { actor: { id: key.id, type: "api_key", tenantId: tenantId(), name: "k", roles: ["admin"] }, requestId: "t" },
        s,
        "approve",
      );
      assert.equal(ok.state, "approved");
    });

    it("approvals expire: past approvalTtlSeconds no decision is accepted (409, expired)", async () => {
      const engine = engineOf();
      await cairn.call("POST", P, {
        name: "pg-rw",
        kind: "access_request",
        match: { role: "readwrite" },
        requiredApprovals: 1,
        approvalTtlSeconds: 300,
      });
      const s = subject({ role: "readwrite" });
      const verdict = await engine.evaluate(cairn.store.db, s);
      assert.equal(verdict.outcome === "needs_approval" && verdict.expiresAt.toISOString(), "2026-11-25T12:05:00.000Z");
      now = new Date("2026-11-25T12:05:01Z");
      const key = await insertKey(cairn, { roles: ["admin"] });
      const ctx: CallContext = {
        actor: { id: key.id, type: "api_key", tenantId: tenantId(), name: "k", roles: ["admin"] },
        requestId: "t",
      };
      const late = await refusal(decide(engine, ctx, s, "approve"));
      assert.equal(late.code, "conflict");
      assert.equal(late.extensions?.expired, true);
      assert.equal((await engine.state(cairn.store.db, s)).expired, true);
      now = new Date("2026-11-25T12:00:00Z");
    });

    it("notifies the alert channels when approval is needed and when it is decided", async () => {
      const channel = await createChannel(cairn, {
        name: "approvals-hook",
        type: "webhook",
        config: { url: "http://127.0.0.1:9/approvals", secret: "approval-hook-secret-0123456789" },
      });
      const engine = engineOf();
      await cairn.call("POST", P, { name: "notify", kind: "access_request", match: { role: "notify" }, requiredApprovals: 1 });
      const s = subject({ role: "notify" });
      await engine.evaluate(cairn.store.db, s);
      const key = await insertKey(cairn, { roles: ["admin"] });
      await decide(
        engine,
        { actor: { id: key.id, type: "api_key", tenantId: tenantId(), name: "k", roles: ["admin"] }, requestId: "t" },
        s,
        "approve",
      );
      // Fired by the built-in approval rules and queued for delivery to the tenant's channel.
      const fired = async () =>
        (
          await cairn.store.db
            .selectFrom("alerts")
            .innerJoin("alert_deliveries", "alert_deliveries.alert_id", "alerts.id")
            .select(["alerts.document", "alert_deliveries.channel_id"])
            .execute()
        )
          .filter((r) => (r.document as any).trigger?.resource?.id === s.id && r.channel_id === channel.id)
          .map((r) => (r.document as any).rule.builtin as string);
      await until("both approval notifications", async () => (await fired()).length >= 2, 20_000, fired);
      assert.deepEqual((await fired()).sort(), ["approval-decided", "approval-requested"]);
    });
  });
}
