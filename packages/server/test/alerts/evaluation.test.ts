import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildApp, type CairnApp } from "../../src/app.js";
import { createAuditLog } from "../../src/audit/log.js";
import { loadSettings } from "../../src/settings.js";
import { backends, freshStore, inject, ns, type TestApp, useApp } from "../helper.js";
import { alertEnv, configRule, createChannel, createRule, type Receiver, startReceiver, until, writeConfig } from "./support.js";

const SECRET = "whsec_eval_0123456789abcdef";

/** Everything written so far is sequenced, evaluated and sent (or attempted). */
async function settle(cairn: Pick<CairnApp, "sequencer" | "alerts">) {
  await cairn.sequencer.flush();
  await cairn.alerts.evaluator.flush();
  await cairn.alerts.outbox.flush();
}

async function firedBy(cairn: Pick<TestApp, "call">, builtin: string): Promise<any[]> {
  const rule = (await cairn.call("GET", "/api/v1/alerts/rules")).json.items.find((r: any) => r.builtin === builtin);
  return (await cairn.call("GET", `/api/v1/alerts?ruleId=${rule.id}`)).json.items;
}

const BAD_KEY = "cairn_AAAAAAAA_000000000000000000000000000000";

for (const backend of backends()) {
  describe(`alerts: built-in rules (${backend})`, () => {
    const cairn = useApp(backend, alertEnv());
    let hook: Receiver;
    const alertsReceived = () => hook.requests.map((r) => JSON.parse(r.body)).filter((a) => a.type === "alert.fired");
    before(async () => {
      hook = await startReceiver();
      // Built-in rules send to every enabled channel of the tenant.
      await createChannel(cairn, { name: "everything", type: "webhook", config: { url: `${hook.url}/all`, secret: SECRET } });
    });
    after(async () => hook.close());

    it("5 failed authentications from one source within 5 minutes fire 'Repeated authentication failures' once", async () => {
      for (let i = 0; i < 4; i++) assert.equal((await inject(cairn, BAD_KEY, "GET", "/api/v1/environments")).status, 401);
      await settle(cairn);
      assert.equal((await firedBy(cairn, "auth-failures")).length, 0, "4 are below the threshold");
      assert.equal((await inject(cairn, BAD_KEY, "GET", "/api/v1/environments")).status, 401);
      await until("the alert to arrive", () => alertsReceived().some((a) => a.rule.builtin === "auth-failures"));
      const alert = alertsReceived().find((a) => a.rule.builtin === "auth-failures");
      assert.equal(alert.count, 5);
      assert.equal(alert.severity, "high");
      assert.deepEqual(alert.group, { by: "sourceIp", value: "127.0.0.1" });
      assert.equal(alert.log, "", "unknown keys have no tenant: instance-level events, judged by the first tenant's rules");
      assert.equal(alert.trigger.eventType, "auth.failed");
      assert.match(alert.summary, /Repeated authentication failures from one source: 5 events in 300s \(sourceIp 127\.0\.0\.1\)/);

      // More failures in the same window add to the quiet period instead of one alert each.
      for (let i = 0; i < 6; i++) await inject(cairn, BAD_KEY, "GET", "/api/v1/environments");
      await settle(cairn);
      assert.equal((await firedBy(cairn, "auth-failures")).length, 1);
    });

    it("a revoked API key used fires 'Revoked API key used'", async () => {
      const key = (await cairn.call("POST", "/api/v1/keys", { name: "to-revoke", roles: ["viewer"] })).json;
      assert.equal((await cairn.call("POST", `/api/v1/keys/${key.id}/revoke`)).status, 200);
      assert.equal((await inject(cairn, key.key, "GET", "/api/v1/environments")).status, 401);
      await until("the alert", () => alertsReceived().some((a) => a.rule.builtin === "revoked-key-used"));
      const alert = alertsReceived().find((a) => a.rule.builtin === "revoked-key-used");
      assert.equal(alert.trigger.resource.id, key.id);
      assert.equal(alert.trigger.metadata.reason, "revoked");
      assert.equal(alert.severity, "high");
      assert.ok(!JSON.stringify(alert).includes(key.key), "the key itself is never in an alert");
    });

    it("a secret revealed in a production namespace or the production environment fires; elsewhere it does not", async () => {
      const put = async (namespace: string, environment: string) => {
        const res = await cairn.call("PUT", `/api/v1/configs/${ns(namespace)}/api.token?environment=${environment}`, {
          value: "tok_live_123",
          secret: true,
        });
        assert.ok(res.status < 300, res.text);
      };
      const reveal = async (namespace: string, environment: string) => {
        const res = await cairn.call("GET", `/api/v1/configs/${ns(namespace)}/api.token?environment=${environment}&reveal=true`);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.value, "tok_live_123");
      };
      await put("production/payments", "base");
      await put("payments/api", "production");
      await put("dev/payments", "staging");
      await reveal("dev/payments", "staging");
      await reveal("production/payments", "base");
      await reveal("payments/api", "production");
      await settle(cairn);
      const fired = await firedBy(cairn, "secret-reveal-production");
      assert.deepEqual(fired.map((a) => a.document.trigger.resource.namespace).sort(), ["payments/api", "production/payments"]);
      for (const a of fired) {
        assert.equal(a.severity, "high");
        assert.ok(!JSON.stringify(a).includes("tok_live_123"), "an alert never carries the value");
      }
      await until("both delivered", () => alertsReceived().filter((a) => a.rule.builtin === "secret-reveal-production").length === 2);
    });

    it("an audit verification failure (audit.verify_failed) fires a critical alert", async () => {
      await createAuditLog().append(cairn.store.db, {
        tenantId: null,
        eventType: "audit.verify_failed",
        action: "verify",
        result: "failure",
        metadata: { firstBadIndex: 42, reason: "leaf hash mismatch" },
      });
      cairn.sequencer.kick();
      await until("the alert", () => alertsReceived().some((a) => a.rule.builtin === "audit-verify-failed"));
      const alert = alertsReceived().find((a) => a.rule.builtin === "audit-verify-failed");
      assert.equal(alert.severity, "critical");
      assert.equal(alert.trigger.metadata.firstBadIndex, 42);
    });

    it("a rule sees what happens after it was made, not the history before it", async () => {
      await cairn.call("POST", "/api/v1/environments", { name: "before-rule" });
      await settle(cairn);
      const rule = await createRule(cairn, { name: "new environments", events: ["environment.created"] });
      await cairn.call("POST", "/api/v1/environments", { name: "after-rule" });
      const firedBy = async () => (await cairn.call("GET", `/api/v1/alerts?ruleId=${rule.id}`)).json.items;
      await until("the alert on the new event", async () => (await firedBy()).length > 0);
      await settle(cairn);
      const fired = await firedBy();
      assert.deepEqual(
        fired.map((a: any) => a.document.trigger.resource.id),
        ["after-rule"],
      );
      await until("its delivery", async () => (await firedBy())[0]?.deliveries.delivered === 1);
      assert.deepEqual((await firedBy())[0].deliveries, { pending: 0, delivered: 1, dead: 0, cancelled: 0 });
    });
  });

  describe(`alerts: evaluation is durable (${backend})`, () => {
    let hook: Receiver;
    before(async () => {
      hook = await startReceiver();
    });
    after(async () => hook.close());

    it("windows and the cursor survive a restart: nothing evaluated twice, nothing skipped", async () => {
      const store = await freshStore(backend);
      const start = () => buildApp(loadSettings({ CAIRN_LOG_LEVEL: "silent", ...store.env, ...alertEnv() }));
      try {
        let cairn = await start();
        const admin = cairn.bootstrap.generatedAdminKey as string;
        const api = (c: CairnApp) => ({ call: (m: string, u: string, b?: unknown) => inject(c, admin, m, u, b) });
        const channel = await createChannel(api(cairn), {
          name: "durable",
          type: "webhook",
          config: { url: `${hook.url}/d`, secret: SECRET },
        });
        await createRule(api(cairn), configRule("three writes", "dur", [channel.id], { threshold: { count: 3, windowSeconds: 3600 } }));
        await writeConfig(api(cairn), "dur/a", "k1");
        await writeConfig(api(cairn), "dur/a", "k2");
        await settle(cairn);
        await cairn.app.close();

        cairn = await start();
        try {
          await settle(cairn);
          assert.equal(hook.requests.length, 0, "two writes: below the threshold, before and after the restart");
          await writeConfig(api(cairn), "dur/a", "k3");
          await until("the alert", () => hook.requests.length === 1);
          const alert = JSON.parse(hook.requests[0]?.body ?? "{}");
          assert.equal(alert.count, 3, "the window kept the two writes from before the restart");
          await settle(cairn);
          assert.equal(hook.requests.length, 1, "fired once");
        } finally {
          await cairn.app.close();
        }
      } finally {
        await store.drop();
      }
    });
  });

  if (backend === "postgres") {
    describe("alerts: two replicas on one database", () => {
      it("evaluate one at a time and deliver each alert exactly once", async () => {
        const hook = await startReceiver();
        const store = await freshStore("postgres");
        const start = () => buildApp(loadSettings({ CAIRN_LOG_LEVEL: "silent", ...store.env, ...alertEnv() }));
        const a = await start();
        const b = await start();
        try {
          const admin = a.bootstrap.generatedAdminKey as string;
          const via = (c: CairnApp) => ({ call: (m: string, u: string, body?: unknown) => inject(c, admin, m, u, body) });
          const channel = await createChannel(via(a), {
            name: "replicas",
            type: "webhook",
            config: { url: `${hook.url}/r`, secret: SECRET },
          });
          await createRule(via(b), configRule("every write", "rep", [channel.id]));
          const writes = 20;
          await Promise.all(Array.from({ length: writes }, (_, i) => writeConfig(via(i % 2 ? a : b), "rep/app", `k${i}`)));
          await until("every alert delivered", () => hook.requests.length >= writes, 30_000);
          await Promise.all([settle(a), settle(b)]);
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(hook.requests.length, writes, "one request per alert: none twice");
          const keys = hook.requests.map((r) => JSON.parse(r.body).trigger.resource.id).sort();
          assert.deepEqual(keys, Array.from({ length: writes }, (_, i) => `rep/app/k${i}`).sort());
          assert.equal(new Set(hook.requests.map((r) => r.headers["x-cairn-delivery"])).size, writes);
        } finally {
          await a.app.close();
          await b.app.close();
          await store.drop();
          await hook.close();
        }
      });
    });
  }
}
