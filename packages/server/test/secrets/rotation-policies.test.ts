import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sql } from "kysely";
import { retryDelaySeconds } from "../../src/secrets/scheduler.js";
import { backends, ns, useApp } from "../helper.js";

// Rotation policies over the API and the scheduler in one process (PGlite, and PostgreSQL when DATABASE_URL is set).

const NS = ns("prod/payments");
const base = "/api/v1/secrets";

test("retry delays double from the base and stop at the cap", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 10].map((a) => retryDelaySeconds(a, 60, 600)),
    [60, 120, 240, 480, 600],
  );
});

for (const backend of backends()) {
  describe(`rotation policies (${backend})`, () => {
    const cairn = useApp(backend, {
      CAIRN_ROTATION_POLL_SECONDS: "3600",
      CAIRN_ROTATION_RETRY_BASE_SECONDS: "30",
      CAIRN_ALERTS_POLL_MS: "3600000",
      CAIRN_ALERTS_ALLOW_PRIVATE_TARGETS: "true",
    });
    const policyOf = async (key: string) =>
      cairn.store.db.selectFrom("secret_rotation_policies").selectAll().where("key", "=", key).executeTakeFirstOrThrow();
    const makeDue = (key: string) =>
      cairn.store.db
        .updateTable("secret_rotation_policies")
        .set({ next_rotation_at: sql<Date>`now() - interval '1 second'` })
        .where("key", "=", key)
        .execute();
    const events = async (type: string) =>
      cairn.store.db
        .selectFrom("audit_events")
        .select(["event_type", "metadata", "resource_id", "result"])
        .where("event_type", "=", type)
        .execute();

    test("PUT creates (201) and updates (200) a policy; GET shows it; DELETE removes it; each change audited", async () => {
      assert.equal(
        (await cairn.call("PUT", `${base}/${NS}/stripe`, { type: "api_key", value: "sk_live_abcdefghijklmnopqrstuvwxyz123456" })).status <
          300,
        true,
      );
      const created = await cairn.call("PUT", `${base}/${NS}/stripe/policy`, { intervalSeconds: 30 * 86400, gracePeriodSeconds: 3600 });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.autoRotate, true);
      assert.equal(created.json.notify, true);
      assert.equal(created.json.strategy, null);
      const due = Date.parse(created.json.nextRotationAt) - Date.now();
      assert.ok(due > 29 * 86400_000 && due <= 30 * 86400_000, "first rotation one interval from now");
      const updated = await cairn.call("PUT", `${base}/${NS}/stripe/policy`, { intervalSeconds: 7 * 86400, autoRotate: false });
      assert.equal(updated.status, 200);
      assert.equal(updated.json.nextRotationAt, null, "no schedule without autoRotate");
      const got = await cairn.call("GET", `${base}/${NS}/stripe/policy`);
      assert.equal(got.json.intervalSeconds, 7 * 86400);
      assert.equal((await cairn.call("DELETE", `${base}/${NS}/stripe/policy`)).status, 204);
      assert.equal((await cairn.call("GET", `${base}/${NS}/stripe/policy`)).status, 404);
      assert.equal((await cairn.call("DELETE", `${base}/${NS}/stripe/policy`)).status, 404);
      const set = await events("secret.policy_set");
      assert.equal(set.length, 2);
      assert.equal((await events("secret.policy_removed")).length, 1);
    });

    test("bad policies get a 4xx saying what to fix, and change nothing", async () => {
      await cairn.call("PUT", `${base}/${NS}/plain`, { value: "hello-world" });
      const cases: [unknown, number, RegExp, string?][] = [
        [{ intervalSeconds: 3600, gracePeriodSeconds: 3600 }, 422, /shorter than intervalSeconds/],
        [{ intervalSeconds: 10 }, 400, /intervalSeconds/],
        [{ intervalSeconds: 3600, strategy: "postgres-alternating-users" }, 422, /database_credentials/],
        [{ intervalSeconds: 3600, adminSecret: "prod/db/admin" }, 422, /set strategy/],
        [{ intervalSeconds: 3600, notify: ["no-such-channel"] }, 422, /no alert channel named "no-such-channel"/],
        [{ intervalSeconds: 3600 }, 404, /create it before/, "missing"],
      ];
      for (const [body, status, message, key] of cases) {
        const res = await cairn.call("PUT", `${base}/${NS}/${key ?? "plain"}/policy`, body);
        assert.equal(res.status, status, `${JSON.stringify(body)} → ${res.text}`);
        assert.match(res.json.detail ?? JSON.stringify(res.json), message);
      }
      assert.equal((await cairn.call("GET", `${base}/${NS}/plain/policy`)).status, 404);
    });

    test("a key that may only read secrets can view but not set a policy", async () => {
      await cairn.call("PUT", `${base}/${NS}/ro`, { value: "abcdefgh" });
      await cairn.call("PUT", `${base}/${NS}/ro/policy`, { intervalSeconds: 3600 });
      const key = await cairn.call("POST", "/api/v1/keys", {
        name: "reader",
        permissions: [{ effect: "allow", permission: "secrets:**:read" }],
      });
      assert.equal(key.status, 201, key.text);
      const auth = { authorization: `Bearer ${key.json.key}` };
      assert.equal((await cairn.call("GET", `${base}/${NS}/ro/policy`, undefined, auth)).status, 200);
      assert.equal((await cairn.call("PUT", `${base}/${NS}/ro/policy`, { intervalSeconds: 7200 }, auth)).status, 403);
      assert.equal((await cairn.call("DELETE", `${base}/${NS}/ro/policy`, undefined, auth)).status, 403);
    });

    test("a due policy is rotated once: new version, previous readable in grace, schedule moved, audited", async () => {
      await cairn.call("PUT", `${base}/${NS}/token`, { type: "api_key", value: "tok_0123456789abcdefghijklmnopqrstuv" });
      await cairn.call("PUT", `${base}/${NS}/token/policy`, { intervalSeconds: 86400, gracePeriodSeconds: 600 });
      await makeDue("token");
      const outcomes = await cairn.rotation.runOnce();
      assert.deepEqual(
        outcomes.map((o) => [o.address.key, o.ok, o.version]),
        [["token", true, 2]],
      );
      assert.deepEqual(await cairn.rotation.runOnce(), [], "nothing due any more");
      const current = await cairn.call("GET", `${base}/${NS}/token?reveal=true`);
      assert.equal(current.json.version, 2);
      assert.notEqual(current.json.value, "tok_0123456789abcdefghijklmnopqrstuv");
      const previous = await cairn.call("GET", `${base}/${NS}/token?reveal=true&version=previous`);
      assert.equal(previous.json.value, "tok_0123456789abcdefghijklmnopqrstuv");
      const policy = await policyOf("token");
      assert.equal(policy.attempts, 0);
      assert.equal(policy.last_rotated_version, 2);
      assert.equal(policy.claim_id, null);
      const next = new Date(policy.next_rotation_at as Date).getTime() - new Date(policy.last_rotated_at as Date).getTime();
      assert.ok(Math.abs(next - 86400_000) < 5000, "next rotation one interval after this one");
      const rotated = await events("secret.rotated");
      assert.equal(rotated.length, 1);
      const meta = typeof rotated[0]?.metadata === "string" ? JSON.parse(rotated[0].metadata) : rotated[0]?.metadata;
      assert.equal(meta.trigger, "schedule");
      assert.equal(meta.version, 2);
    });

    test("a failing strategy retries with backoff, keeps the old value, audits and alerts to the policy's channels", async () => {
      for (const name of ["ops", "other"]) {
        const ch = await cairn.call("POST", "/api/v1/alerts/channels", {
          name,
          type: "webhook",
          config: { url: "http://127.0.0.1:9/hook", secret: "0123456789abcdef0123" },
        });
        assert.equal(ch.status, 201, ch.text);
      }
      const creds = { host: "127.0.0.1", port: 1, database: "app", username: "app", password: "old-password-123" };
      await cairn.call("PUT", `${base}/${NS}/db`, { type: "database_credentials", value: creds });
      const put = await cairn.call("PUT", `${base}/${NS}/db/policy`, {
        intervalSeconds: 86400,
        strategy: "postgres-alternating-users",
        notify: ["ops"],
      });
      assert.equal(put.status, 201, put.text);
      await makeDue("db");
      const [first] = await cairn.rotation.runOnce();
      assert.equal(first?.ok, false);
      assert.match(first?.error ?? "", /cannot log in to 127\.0\.0\.1:1/);
      let policy = await policyOf("db");
      assert.equal(policy.attempts, 1);
      assert.match(policy.last_error ?? "", /cannot log in/);
      const gap1 = new Date(policy.next_rotation_at as Date).getTime() - new Date(policy.last_attempt_at as Date).getTime();
      assert.ok(Math.abs(gap1 - 30_000) < 5000, `first retry after the base delay (${gap1} ms)`);

      await makeDue("db");
      await cairn.rotation.runOnce();
      policy = await policyOf("db");
      assert.equal(policy.attempts, 2);
      const gap2 = new Date(policy.next_rotation_at as Date).getTime() - new Date(policy.last_attempt_at as Date).getTime();
      assert.ok(Math.abs(gap2 - 60_000) < 5000, `second retry after twice the base (${gap2} ms)`);

      const still = await cairn.call("GET", `${base}/${NS}/db?reveal=true`);
      assert.equal(still.json.version, 1, "the old value stays active");
      assert.deepEqual(still.json.value, creds);
      const failed = await events("secret.rotation_failed");
      assert.equal(failed.length, 2);
      assert.ok(failed.every((e) => e.result === "failure" && e.resource_id === "prod/payments/db"));
      assert.ok(!JSON.stringify(failed).includes("old-password-123"), "no credential in the audit events");

      await cairn.sequencer.flush();
      await cairn.alerts.evaluator.flush();
      const alerts = await cairn.store.db.selectFrom("alerts").select(["id", "document"]).execute();
      const mine = alerts.filter((a) => JSON.stringify(a.document).includes("secret.rotation_failed"));
      assert.ok(mine.length >= 1, "a failed rotation raises an alert");
      const channels = await cairn.store.db.selectFrom("alert_channels").select(["id", "name"]).execute();
      const deliveries = await cairn.store.db
        .selectFrom("alert_deliveries")
        .select("channel_id")
        .where(
          "alert_id",
          "in",
          mine.map((a) => a.id),
        )
        .execute();
      const names = new Set(deliveries.map((d) => channels.find((c) => c.id === d.channel_id)?.name));
      assert.deepEqual([...names], ["ops"], "delivered only to the channels the policy names");
    });
  });
}
