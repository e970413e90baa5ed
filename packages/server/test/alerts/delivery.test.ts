import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { backends, useApp } from "../helper.js";
import {
  alertEnv,
  configRule,
  createChannel,
  createRule,
  decodeQuotedPrintable,
  deliveries,
  type Receiver,
  startReceiver,
  startSmtp,
  until,
  verifySignature,
  writeConfig,
} from "./support.js";

const SECRET = "whsec_0123456789abcdef0123456789abcdef";

for (const backend of backends()) {
  describe(`alerts: delivery to real receivers (${backend})`, () => {
    const cairn = useApp(backend, alertEnv());
    const receivers: Receiver[] = [];
    const receiver = async (options: { listening?: boolean } = {}) => {
      const r = await startReceiver(options);
      receivers.push(r);
      return r;
    };
    after(async () => {
      for (const r of receivers) await r.close();
    });

    it("a webhook receives the alert as JSON, signed with X-Cairn-Signature (HMAC-SHA256, t=…,v1=…)", async () => {
      const hook = await receiver();
      const channel = await createChannel(cairn, {
        name: "hook-signed",
        type: "webhook",
        config: { url: `${hook.url}/cairn?token=t0k`, secret: SECRET },
      });
      const rule = await createRule(cairn, configRule("writes under wh1", "wh1", [channel.id]));
      await writeConfig(cairn, "wh1/app", "db.url", "postgres://db/app");

      await until("the webhook request", () => hook.requests.length === 1);
      const req = hook.requests[0] as (typeof hook.requests)[number];
      assert.equal(req.method, "POST");
      assert.equal(req.path, "/cairn?token=t0k");
      assert.equal(req.headers["content-type"], "application/json");
      assert.equal(req.headers["x-cairn-event"], "alert.fired");
      assert.match(String(req.headers["x-cairn-delivery"]), /^ald_/);
      assert.match(String(req.headers["x-cairn-signature"]), /^t=\d+,v1=[0-9a-f]{64}$/);
      assert.ok(verifySignature(SECRET, req.headers["x-cairn-signature"], req.body), "the signature verifies with the channel's secret");
      assert.ok(!verifySignature(`${SECRET}x`, req.headers["x-cairn-signature"], req.body), "and not with another secret");
      assert.ok(!verifySignature(SECRET, req.headers["x-cairn-signature"], req.body.replace("wh1", "wh2")), "nor over another body");

      const alert = JSON.parse(req.body);
      assert.equal(alert.type, "alert.fired");
      assert.equal(alert.rule.id, rule.id);
      assert.equal(alert.deliveryId, req.headers["x-cairn-delivery"]);
      assert.equal(alert.trigger.eventType, "config.create");
      assert.equal(alert.trigger.resource.namespace, "wh1/app");
      assert.equal(alert.count, 1);
      assert.match(alert.summary, /writes under wh1: config\.create/);
      assert.ok(!req.body.includes("postgres://db/app"), "an alert carries no value");

      await until(
        "the delivery to be recorded as delivered",
        async () => (await deliveries(cairn, `?channelId=${channel.id}`))[0]?.status === "delivered",
      );
      const [d] = await deliveries(cairn, `?channelId=${channel.id}`);
      assert.equal(d.attempts, 1);
      assert.equal(d.lastError, null);
      assert.equal(d.alert.ruleId, rule.id);
      assert.ok(d.deliveredAt);
    });

    it("an email arrives at a real SMTP server, sent with the stored (encrypted) password", async () => {
      const smtp = await startSmtp({ username: "alerts", password: "smtp-pass-9f8e7d6c" });
      try {
        const channel = await createChannel(cairn, {
          name: "oncall-mail",
          type: "email",
          config: {
            host: "127.0.0.1",
            port: smtp.port,
            tls: "none",
            username: "alerts",
            password: "smtp-pass-9f8e7d6c",
            from: "cairn@example.com",
            to: ["oncall@example.com", "sec@example.com"],
          },
        });
        await createRule(cairn, configRule("writes under mail1", "mail1", [channel.id], { severity: "high" }));
        await writeConfig(cairn, "mail1/app");

        await until("the email", () => smtp.messages.length === 1);
        const m = smtp.messages[0] as (typeof smtp.messages)[number];
        assert.equal(m.user, "alerts", "the SMTP session logged in");
        assert.equal(m.from, "cairn@example.com");
        assert.deepEqual(m.to.sort(), ["oncall@example.com", "sec@example.com"]);
        assert.match(m.raw, /^Subject: \[Cairn HIGH\] writes under mail1: config\.create/m);
        assert.match(m.raw, /^X-Cairn-Delivery: ald_/m);
        const text = decodeQuotedPrintable(m.raw);
        assert.match(text, /^writes under mail1: config\.create by key_\w+ on mail1\/app\/k \(base\)$/m);
        assert.match(text, /"namespace": "mail1\/app"/);
        await until("delivered", async () => (await deliveries(cairn, `?channelId=${channel.id}`))[0]?.status === "delivered");
      } finally {
        await smtp.close();
      }
    });

    it("a Slack incoming webhook gets the message (text and blocks)", async () => {
      const slack = await receiver();
      const channel = await createChannel(cairn, {
        name: "slack-sec",
        type: "slack",
        config: { url: `${slack.url}/services/T000/B000/XXXXSECRET`, username: "cairn" },
      });
      await createRule(cairn, configRule("writes under slack1", "slack1", [channel.id]));
      await writeConfig(cairn, "slack1/app");
      await until("the Slack request", () => slack.requests.length === 1);
      const req = slack.requests[0] as (typeof slack.requests)[number];
      assert.equal(req.path, "/services/T000/B000/XXXXSECRET");
      const body = JSON.parse(req.body);
      assert.match(body.text, /writes under slack1: config\.create/);
      assert.equal(body.username, "cairn");
      assert.equal(body.blocks[0].type, "section");
    });

    it("a receiver that is down delays the alert, never drops it: it arrives once it is up, with attempts > 1", async () => {
      const hook = await receiver({ listening: false });
      const channel = await createChannel(cairn, {
        name: "hook-down",
        type: "webhook",
        config: { url: `${hook.url}/down`, secret: SECRET },
      });
      await createRule(cairn, configRule("writes under down1", "down1", [channel.id]));
      await writeConfig(cairn, "down1/app");

      await until(
        "two failed attempts",
        async () => ((await deliveries(cairn, `?channelId=${channel.id}`))[0]?.attempts ?? 0) >= 2,
        20_000,
        () => deliveries(cairn, `?channelId=${channel.id}`),
      );
      let [d] = await deliveries(cairn, `?channelId=${channel.id}`);
      assert.equal(d.status, "pending");
      assert.match(d.lastError, /connection refused by 127\.0\.0\.1/);
      assert.ok(d.nextAttemptAt, "the next attempt is scheduled");
      assert.equal(hook.requests.length, 0);

      await hook.up();
      await until(
        "delivered after the receiver came up",
        async () => (await deliveries(cairn, `?channelId=${channel.id}`))[0]?.status === "delivered",
      );
      [d] = await deliveries(cairn, `?channelId=${channel.id}`);
      assert.ok(d.attempts > 1, `attempts = ${d.attempts}`);
      assert.equal(hook.requests.length, 1, "delivered exactly once");
      assert.ok(verifySignature(SECRET, hook.requests[0]?.headers["x-cairn-signature"], hook.requests[0]?.body ?? ""));
    });

    it("a receiver answering 500 gets retried with backoff until it answers 2xx; the last error is recorded", async () => {
      const hook = await receiver();
      hook.status = 500;
      const channel = await createChannel(cairn, {
        name: "hook-500",
        type: "webhook",
        config: { url: `${hook.url}/flaky`, secret: SECRET },
      });
      await createRule(cairn, configRule("writes under flaky1", "flaky1", [channel.id]));
      await writeConfig(cairn, "flaky1/app");
      await until("two refused attempts", () => hook.requests.length >= 2);
      const [pending] = await deliveries(cairn, `?channelId=${channel.id}`);
      assert.equal(pending.status, "pending");
      assert.match(pending.lastError, /127\.0\.0\.1 answered HTTP 500/);
      hook.status = 204;
      await until("delivered", async () => (await deliveries(cairn, `?channelId=${channel.id}`))[0]?.status === "delivered");
      const [d] = await deliveries(cairn, `?channelId=${channel.id}`);
      assert.equal(d.attempts, hook.requests.length, "one request per attempt");
      assert.ok(d.attempts > 1);
      const ids = new Set(hook.requests.map((r) => r.headers["x-cairn-delivery"]));
      assert.equal(ids.size, 1, "every attempt carries the same delivery id, so a receiver can deduplicate");
    });

    it("POST /alerts/channels/{id}/test sends a test message now and says whether it was accepted", async () => {
      const hook = await receiver();
      const channel = await createChannel(cairn, { name: "hook-test", type: "webhook", config: { url: `${hook.url}/t`, secret: SECRET } });
      const ok = await cairn.call("POST", `/api/v1/alerts/channels/${channel.id}/test`);
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.delivered, true);
      assert.equal(hook.requests.length, 1);
      assert.equal(JSON.parse(hook.requests[0]?.body ?? "{}").type, "alert.test");
      assert.ok(verifySignature(SECRET, hook.requests[0]?.headers["x-cairn-signature"], hook.requests[0]?.body ?? ""));

      await hook.down();
      const down = await cairn.call("POST", `/api/v1/alerts/channels/${channel.id}/test`);
      assert.equal(down.status, 200);
      assert.equal(down.json.delivered, false);
      assert.match(down.json.error, /connection refused/);
    });
  });

  describe(`alerts: dead deliveries (${backend})`, () => {
    const cairn = useApp(backend, alertEnv({ CAIRN_ALERTS_MAX_ATTEMPTS: "2" }));
    let hook: Receiver;
    before(async () => {
      hook = await startReceiver({ listening: false });
    });
    after(async () => hook.close());

    it("after the last attempt a delivery is dead, listed by the API, and can be queued again", async () => {
      const channel = await createChannel(cairn, { name: "hook-dead", type: "webhook", config: { url: `${hook.url}/x`, secret: SECRET } });
      await createRule(cairn, configRule("writes under dead1", "dead1", [channel.id]));
      await writeConfig(cairn, "dead1/app");
      await until("dead", async () => (await deliveries(cairn, "?status=dead")).length === 1);
      const [dead] = await deliveries(cairn, "?status=dead");
      assert.equal(dead.attempts, 2);
      assert.equal(dead.maxAttempts, 2);
      assert.equal(dead.nextAttemptAt, null);
      assert.match(dead.lastError, /connection refused/);

      await hook.up();
      const retried = await cairn.call("POST", `/api/v1/alerts/deliveries/${dead.id}/retry`);
      assert.equal(retried.status, 200, retried.text);
      assert.equal(retried.json.id, dead.id);
      await until("delivered", async () => (await deliveries(cairn, `?channelId=${channel.id}`))[0]?.status === "delivered");
      assert.equal(hook.requests.length, 1);

      const again = await cairn.call("POST", `/api/v1/alerts/deliveries/${dead.id}/retry`);
      assert.equal(again.status, 409, "a delivered one is not sent twice");
      const unknown = await cairn.call("POST", "/api/v1/alerts/deliveries/ald_0000000000000000000000000/retry");
      assert.equal(unknown.status, 404);
    });
  });
}
