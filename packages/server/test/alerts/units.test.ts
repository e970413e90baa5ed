import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { signatureHeader, validateChannelConfig } from "../../src/alerts/channels.js";
import { retryDelayMs } from "../../src/alerts/outbox.js";
import { type AlertEvent, addToWindow, compileRule, emptyWindow, type RuleDefinition } from "../../src/alerts/rules.js";
import { globMatcher, severityOf } from "../../src/alerts/severity.js";
import { verifySignature } from "./support.js";

const rule = (over: Partial<RuleDefinition> = {}): RuleDefinition => ({
  id: "alr_1",
  tenantId: "ten_1",
  name: "r",
  builtin: null,
  enabled: true,
  events: ["auth.*"],
  match: [],
  minSeverity: "info",
  severity: null,
  threshold: { count: 3, windowSeconds: 60 },
  groupBy: "sourceIp",
  channels: [],
  createdAt: new Date(0),
  ...over,
});

let index = 0;
const event = (over: Partial<AlertEvent> = {}): AlertEvent => ({
  index: index++,
  id: `evt_${index}`,
  tenantId: "ten_1",
  occurredAt: new Date(1_000_000),
  eventType: "auth.failed",
  action: "authenticate",
  result: "failure",
  actorId: null,
  actorType: null,
  resourceType: null,
  resourceId: null,
  namespace: null,
  sourceIp: "203.0.113.9",
  metadata: {},
  ...over,
});
const at = (seconds: number, over: Partial<AlertEvent> = {}) => event({ occurredAt: new Date(1_000_000 + seconds * 1000), ...over });

describe("alerts: rule matching and threshold windows", () => {
  it("globs: * is any run of characters; literals match exactly", () => {
    assert.ok(globMatcher("auth.*")("auth.failed"));
    assert.ok(globMatcher("auth.*")("auth.login_failed"));
    assert.ok(!globMatcher("auth.*")("authz.denied"));
    assert.ok(globMatcher("*.reveal")("secret.reveal"));
    assert.ok(globMatcher("secret.reveal")("secret.reveal"));
    assert.ok(!globMatcher("secret.reveal")("secret.revealed"));
    assert.ok(!globMatcher("a.b")("aXb"), "a dot is a dot");
  });

  it("severity per event type", () => {
    assert.equal(severityOf("audit.verify_failed"), "critical");
    assert.equal(severityOf("secret.reveal"), "high");
    assert.equal(severityOf("auth.failed"), "medium");
    assert.equal(severityOf("key.created"), "low");
    assert.equal(severityOf("config.update"), "info");
  });

  it("match: alternatives of filters; namespaces as permission patterns; environments; metadata; minSeverity", () => {
    const r = compileRule(
      rule({
        events: ["secret.reveal", "config.*"],
        match: [{ namespaces: ["production/**"] }, { environments: ["production"], results: ["success"] }],
      }),
    );
    assert.ok(r.matches(event({ eventType: "secret.reveal", namespace: "production/api" })));
    assert.ok(r.matches(event({ eventType: "secret.reveal", namespace: "production" })));
    assert.ok(
      r.matches(event({ eventType: "secret.reveal", namespace: "payments", result: "success", metadata: { environment: "production" } })),
    );
    assert.ok(
      !r.matches(event({ eventType: "secret.reveal", namespace: "payments", result: "denied", metadata: { environment: "production" } })),
    );
    assert.ok(!r.matches(event({ eventType: "secret.reveal", namespace: "productionx/api" })));
    assert.ok(!r.matches(event({ eventType: "key.created", namespace: "production/api" })));
    const revoked = compileRule(rule({ events: ["auth.failed"], match: [{ metadata: { reason: "revoked" } }] }));
    assert.ok(revoked.matches(event({ metadata: { reason: "revoked" } })));
    assert.ok(!revoked.matches(event({ metadata: { reason: "invalid" } })));
    const severe = compileRule(rule({ events: ["*"], minSeverity: "high" }));
    assert.ok(!severe.matches(event({ eventType: "auth.failed" })), "medium < high");
    assert.ok(severe.matches(event({ eventType: "secret.reveal" })));
    const young = compileRule(rule({ createdAt: new Date(2_000_000) }));
    assert.ok(!young.matches(event()), "an event from before the rule existed");
  });

  it("fires at the count within the window, per group; then stays quiet for one window", () => {
    const r = rule();
    const states = new Map<string, ReturnType<typeof emptyWindow>>();
    const feed = (e: AlertEvent) => {
      const key = compileRule(r).groupKey(e);
      const state = states.get(key) ?? emptyWindow();
      states.set(key, state);
      return addToWindow(state, r, e);
    };
    assert.equal(feed(at(0)), undefined);
    assert.equal(feed(at(10, { sourceIp: "198.51.100.1" })), undefined, "another source counts apart");
    assert.equal(feed(at(20)), undefined);
    const fired = feed(at(30));
    assert.ok(fired);
    assert.equal(fired.events.length, 3);
    assert.equal(fired.severity, "medium", "the highest severity of its events");
    assert.equal(feed(at(40)), undefined, "quiet for a window after firing");
    assert.equal(feed(at(50)), undefined);
    assert.equal(feed(at(60)), undefined);
    // Quiet until 30 + 60 = 90 s; then a fresh window.
    assert.equal(feed(at(100)), undefined);
    assert.equal(feed(at(110)), undefined);
    const again = feed(at(120));
    assert.ok(again);
    assert.equal(again.suppressedBefore, 3, "the next alert says how many were swallowed");
  });

  it("events older than the window fall out of it", () => {
    const r = rule({ threshold: { count: 2, windowSeconds: 10 } });
    const state = emptyWindow();
    assert.equal(addToWindow(state, r, at(0)), undefined);
    assert.equal(addToWindow(state, r, at(11)), undefined, "the first is 11 s old");
    assert.ok(addToWindow(state, r, at(15)));
  });

  it("count 1 fires on every event, with the rule's severity when it sets one", () => {
    const r = rule({ threshold: { count: 1, windowSeconds: 60 }, severity: "critical" });
    const state = emptyWindow();
    assert.equal(addToWindow(state, r, at(0))?.severity, "critical");
    assert.ok(addToWindow(state, r, at(0)));
  });
});

describe("alerts: delivery helpers", () => {
  it("retry delays grow exponentially, with jitter between half and all of the step, capped", () => {
    assert.equal(
      retryDelayMs(1, 1000, 60_000, () => 0),
      500,
    );
    assert.equal(
      retryDelayMs(1, 1000, 60_000, () => 1),
      1000,
    );
    assert.equal(
      retryDelayMs(4, 1000, 60_000, () => 1),
      8000,
    );
    assert.equal(
      retryDelayMs(30, 1000, 60_000, () => 1),
      60_000,
    );
    assert.equal(
      retryDelayMs(30, 1000, 60_000, () => 0),
      30_000,
    );
  });

  it("signatures are HMAC-SHA256 over '<t>.<body>', Stripe style", () => {
    const header = signatureHeader("s3cret-s3cret-s3cret", '{"a":1}');
    assert.ok(verifySignature("s3cret-s3cret-s3cret", header, '{"a":1}'));
    assert.ok(!verifySignature("s3cret-s3cret-s3cret", header, '{"a":2}'));
    const old = signatureHeader("s3cret-s3cret-s3cret", '{"a":1}', Math.floor(Date.now() / 1000) - 3600);
    assert.ok(!verifySignature("s3cret-s3cret-s3cret", old, '{"a":1}'), "a receiver rejects old timestamps");
  });

  it("channel settings are split into shown and sealed parts; secret fields never land in the shown part", () => {
    const { split } = validateChannelConfig("webhook", { url: "https://hooks.example.com/x/tok", secret: "0123456789abcdef" });
    assert.deepEqual(split?.config, { host: "hooks.example.com" });
    assert.deepEqual(split?.secrets, { url: "https://hooks.example.com/x/tok", secret: "0123456789abcdef" });
    const mail = validateChannelConfig("email", {
      host: "smtp.example.com",
      username: "u",
      password: "p",
      from: "a@example.com",
      to: ["b@example.com"],
    });
    assert.deepEqual(mail.split?.secrets, { password: "p" });
    assert.equal(JSON.stringify(mail.split?.config).includes('"p"'), false);
    assert.equal(mail.split?.config.port, 587);
  });
});
