import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, inject, secondTenant, useApp } from "../helper.js";
import { alertEnv, createChannel, createRule } from "./support.js";

const SECRET = "whsec_rules_0123456789abcdef";
const hook = (name: string, url = "http://127.0.0.1:9/hook") => ({ name, type: "webhook", config: { url, secret: SECRET } });

for (const backend of backends()) {
  describe(`alerts: rules and channels API (${backend})`, () => {
    const cairn = useApp(backend, alertEnv());
    const rules = async () => (await cairn.call("GET", "/api/v1/alerts/rules")).json.items as any[];
    const channels = async () => (await cairn.call("GET", "/api/v1/alerts/channels")).json.items as any[];

    it("a tenant starts with the built-in rules, enabled, sending to every channel", async () => {
      const items = await rules();
      const builtins: Record<string, any> = Object.fromEntries(items.filter((r) => r.builtin).map((r) => [r.builtin, r]));
      assert.deepEqual(Object.keys(builtins).sort(), [
        "approval-decided",
        "approval-requested",
        "audit-verify-failed",
        "auth-failures",
        "automation-failed",
        "revoked-key-used",
        "secret-reveal-production",
        "secret-rotated",
      ]);
      for (const r of Object.values(builtins)) {
        assert.equal(r.enabled, true);
        assert.deepEqual(r.channels, []);
      }
      assert.deepEqual(builtins["auth-failures"].threshold, { count: 5, windowSeconds: 300 });
      assert.equal(builtins["auth-failures"].groupBy, "sourceIp");
      assert.deepEqual(builtins["secret-reveal-production"].events, ["secret.reveal", "config.reveal"]);
      assert.deepEqual(builtins["revoked-key-used"].match, [{ metadata: { reason: "revoked" } }]);
      assert.equal(builtins["audit-verify-failed"].severity, "critical");
    });

    it("rules: create, show, change, delete", async () => {
      const ch = await createChannel(cairn, hook("crud-hook"));
      const created = await cairn.call("POST", "/api/v1/alerts/rules", {
        name: "denials from one key",
        events: ["authz.denied", "auth.*"],
        match: [{ results: ["denied", "failure"] }],
        minSeverity: "medium",
        threshold: { count: 3, windowSeconds: 60 },
        groupBy: "actor",
        channels: [ch.id],
      });
      assert.equal(created.status, 201, created.text);
      const r = created.json;
      assert.match(r.id, /^alr_/);
      assert.equal(r.builtin, null);
      assert.deepEqual(r.channels, [ch.id]);
      assert.equal(r.severity, null);
      assert.deepEqual((await cairn.call("GET", `/api/v1/alerts/rules/${r.id}`)).json, r);

      const patched = await cairn.call("PATCH", `/api/v1/alerts/rules/${r.id}`, {
        enabled: false,
        channels: [],
        threshold: { count: 10, windowSeconds: 600 },
      });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.json.enabled, false);
      assert.deepEqual(patched.json.channels, []);
      assert.deepEqual(patched.json.threshold, { count: 10, windowSeconds: 600 });
      assert.deepEqual(patched.json.events, ["authz.denied", "auth.*"], "fields not given are kept");

      assert.equal((await cairn.call("DELETE", `/api/v1/alerts/rules/${r.id}`)).status, 204);
      assert.equal((await cairn.call("GET", `/api/v1/alerts/rules/${r.id}`)).status, 404);
      assert.equal((await cairn.call("DELETE", `/api/v1/alerts/rules/${r.id}`)).status, 404);

      const audit = await cairn.store.db
        .selectFrom("audit_events")
        .select("event_type")
        .where("resource_id", "=", r.id)
        .orderBy("seq")
        .execute();
      assert.deepEqual(
        audit.map((e) => e.event_type),
        ["alert_rule.created", "alert_rule.updated", "alert_rule.deleted"],
      );
    });

    it("built-in rules can be changed or disabled (e.g. the reveal event's name), not deleted", async () => {
      const reveal = (await rules()).find((r) => r.builtin === "secret-reveal-production");
      const renamed = await cairn.call("PATCH", `/api/v1/alerts/rules/${reveal.id}`, {
        events: ["secret.reveal", "config.reveal", "secret.read"],
      });
      assert.equal(renamed.status, 200, renamed.text);
      assert.deepEqual(renamed.json.events, ["secret.reveal", "config.reveal", "secret.read"]);
      const del = await cairn.call("DELETE", `/api/v1/alerts/rules/${reveal.id}`);
      assert.equal(del.status, 409);
      assert.match(del.json.detail, /built in.*disable it/);
      const off = await cairn.call("PATCH", `/api/v1/alerts/rules/${reveal.id}`, { enabled: false });
      assert.equal(off.json.enabled, false);
      await cairn.call("PATCH", `/api/v1/alerts/rules/${reveal.id}`, { enabled: true, events: ["secret.reveal", "config.reveal"] });
    });

    it("bad rules get a clear 4xx and change nothing", async () => {
      const before = JSON.stringify(await rules());
      const cases: [unknown, number, RegExp][] = [
        [{ name: "x" }, 400, /events/],
        [{ name: "x", events: [] }, 400, /events/],
        [{ name: "x", events: ["auth failed"] }, 400, /events\/0/],
        [{ name: "x", events: ["auth.*"], threshold: { count: 0, windowSeconds: 60 } }, 400, /threshold\/count/],
        [{ name: "x", events: ["auth.*"], threshold: { count: 2 } }, 400, /windowSeconds/],
        [{ name: "x", events: ["auth.*"], minSeverity: "urgent" }, 400, /minSeverity/],
        [{ name: "x", events: ["auth.*"], groupBy: "country" }, 400, /groupBy/],
        [{ name: "x", events: ["auth.*"], colour: "red" }, 400, /colour/],
        [{ name: "x", events: ["auth.*"], match: [{ namespace: "prod" }] }, 400, /match\/0\/namespace/],
        [{ name: "x", events: ["auth.*"], match: [{ namespaces: ["prod/**x"] }] }, 422, /match\/0\/namespaces\/0/],
        [{ name: "x", events: ["auth.*"], channels: ["alc_0000000000000000000000000"] }, 422, /channels\/0/],
        [{ name: "x", events: ["auth.*"], channels: ["not-a-channel"] }, 400, /channels\/0/],
        [{ name: "Repeated authentication failures from one source", events: ["auth.*"] }, 409, /already exists/],
        ["not json", 415, /application\/json/],
      ];
      for (const [body, status, what] of cases) {
        const res = await cairn.call("POST", "/api/v1/alerts/rules", body);
        assert.equal(res.status, status, `${JSON.stringify(body)} → ${res.status} ${res.text}`);
        assert.equal(res.headers["content-type"], "application/problem+json");
        assert.match(JSON.stringify(res.json), what, `${JSON.stringify(body)}: ${res.text}`);
      }
      const some = (await rules())[0];
      for (const [body, status] of [
        [{}, 400],
        [{ channels: ["alc_0000000000000000000000000"] }, 422],
        [{ threshold: { count: 5000, windowSeconds: 1 } }, 400],
      ] as const) {
        const res = await cairn.call("PATCH", `/api/v1/alerts/rules/${some.id}`, body);
        assert.equal(res.status, status, `PATCH ${JSON.stringify(body)} → ${res.text}`);
      }
      assert.equal((await cairn.call("PATCH", "/api/v1/alerts/rules/alr_0000000000000000000000000", { enabled: false })).status, 404);
      assert.equal((await cairn.call("GET", "/api/v1/alerts/rules/nope")).status, 400);
      assert.equal(JSON.stringify(await rules()), before, "nothing changed");
    });

    it("bad channels get a clear 4xx and change nothing", async () => {
      await createChannel(cairn, hook("taken-name"));
      const before = JSON.stringify(await channels());
      const cases: [unknown, number, RegExp][] = [
        [{ name: "c", type: "pager", config: {} }, 400, /type/],
        [{ name: "c", type: "webhook" }, 400, /config/],
        [{ name: "c", type: "webhook", config: { url: "http://127.0.0.1:9/x" } }, 422, /config\/secret/],
        [{ name: "c", type: "webhook", config: { url: "http://127.0.0.1:9/x", secret: "short" } }, 422, /at least 16/],
        [{ name: "c", type: "webhook", config: { url: "ftp://127.0.0.1/x", secret: SECRET } }, 422, /http or https/],
        [{ name: "c", type: "webhook", config: { url: "not a url", secret: SECRET } }, 422, /not a valid URL/],
        [{ name: "c", type: "webhook", config: { url: "http://127.0.0.1:9/x", secret: SECRET, pasword: "x" } }, 422, /config\/pasword/],
        [{ name: "c", type: "slack", config: {} }, 422, /config\/url/],
        [{ name: "c", type: "email", config: { host: "127.0.0.1", from: "a@example.com" } }, 422, /config\/to/],
        [{ name: "c", type: "email", config: { host: "127.0.0.1", from: "nobody", to: ["a@example.com"] } }, 422, /config\/from/],
        [
          { name: "c", type: "email", config: { host: "127.0.0.1", from: "a@example.com", to: ["b@example.com"], port: 70000 } },
          422,
          /config\/port/,
        ],
        [
          { name: "c", type: "email", config: { host: "127.0.0.1", from: "a@example.com", to: ["b@example.com"], password: "p" } },
          422,
          /username/,
        ],
        [hook("taken-name"), 409, /already exists/],
      ];
      for (const [body, status, what] of cases) {
        const res = await cairn.call("POST", "/api/v1/alerts/channels", body);
        assert.equal(res.status, status, `${JSON.stringify(body)} → ${res.status} ${res.text}`);
        assert.match(JSON.stringify(res.json), what, `${JSON.stringify(body)}: ${res.text}`);
      }
      assert.equal(JSON.stringify(await channels()), before, "nothing changed");
    });

    it("a channel a rule uses cannot be deleted (409); once unused it can, and its pending deliveries are cancelled", async () => {
      const ch = await createChannel(cairn, hook("in-use"));
      const rule = await createRule(cairn, { name: "uses in-use", events: ["key.created"], channels: [ch.id] });
      const refused = await cairn.call("DELETE", `/api/v1/alerts/channels/${ch.id}`);
      assert.equal(refused.status, 409);
      assert.deepEqual(refused.json.rules, ["uses in-use"]);
      assert.equal((await cairn.call("GET", `/api/v1/alerts/channels/${ch.id}`)).status, 200);
      await cairn.call("PATCH", `/api/v1/alerts/rules/${rule.id}`, { channels: [] });
      assert.equal((await cairn.call("DELETE", `/api/v1/alerts/channels/${ch.id}`)).status, 204);
      assert.equal((await cairn.call("GET", `/api/v1/alerts/channels/${ch.id}`)).status, 404);
    });

    it("channels: rename, disable, change one setting and keep the others", async () => {
      const ch = await createChannel(cairn, {
        name: "mail-patch",
        type: "email",
        config: { host: "127.0.0.1", port: 2525, username: "u", password: "first-password", from: "a@example.com", to: ["b@example.com"] },
      });
      assert.deepEqual(ch.secretsSet, ["password"]);
      assert.deepEqual(ch.config, {
        host: "127.0.0.1",
        port: 2525,
        tls: "auto",
        username: "u",
        from: "a@example.com",
        to: ["b@example.com"],
      });
      const res = await cairn.call("PATCH", `/api/v1/alerts/channels/${ch.id}`, {
        name: "mail-patched",
        enabled: false,
        config: { to: ["c@example.com"] },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.name, "mail-patched");
      assert.equal(res.json.enabled, false);
      assert.deepEqual(res.json.config.to, ["c@example.com"]);
      assert.equal(res.json.config.username, "u");
      assert.deepEqual(res.json.secretsSet, ["password"], "the password was kept");
      const removed = await cairn.call("PATCH", `/api/v1/alerts/channels/${ch.id}`, { config: { username: null, password: null } });
      assert.equal(removed.status, 200, removed.text);
      assert.deepEqual(removed.json.secretsSet, []);
      assert.equal(removed.json.config.username, undefined);
      const bad = await cairn.call("PATCH", `/api/v1/alerts/channels/${ch.id}`, { config: { port: "x" } });
      assert.equal(bad.status, 422);
      assert.equal((await cairn.call("GET", `/api/v1/alerts/channels/${ch.id}`)).json.config.port, 2525, "unchanged after a refusal");
    });

    it("tenants are walls: another tenant's rules, channels and deliveries are 404, and its channels unusable", async () => {
      const mine = await createChannel(cairn, hook("wall-a"));
      const myRule = await createRule(cairn, { name: "wall rule", events: ["key.*"], channels: [mine.id] });
      const b = await secondTenant(cairn);
      const asB = (method: string, url: string, body?: unknown) => inject(cairn, b.adminKey, method, url, body);
      for (const [method, url, body] of [
        ["GET", `/api/v1/alerts/rules/${myRule.id}`],
        ["PATCH", `/api/v1/alerts/rules/${myRule.id}`, { enabled: false }],
        ["DELETE", `/api/v1/alerts/rules/${myRule.id}`],
        ["GET", `/api/v1/alerts/channels/${mine.id}`],
        ["PATCH", `/api/v1/alerts/channels/${mine.id}`, { enabled: false }],
        ["DELETE", `/api/v1/alerts/channels/${mine.id}`],
        ["POST", `/api/v1/alerts/channels/${mine.id}/test`],
      ] as [string, string, unknown][]) {
        const res = await asB(method, url, body);
        assert.equal(res.status, 404, `${method} ${url} → ${res.status}`);
      }
      const borrow = await asB("POST", "/api/v1/alerts/rules", { name: "borrow", events: ["key.*"], channels: [mine.id] });
      assert.equal(borrow.status, 422);
      assert.equal((await asB("GET", "/api/v1/alerts/channels")).json.items.length, 0);
      assert.ok(!(await asB("GET", "/api/v1/alerts/rules")).json.items.some((r: any) => r.id === myRule.id));
      assert.equal((await cairn.call("GET", `/api/v1/alerts/rules/${myRule.id}`)).json.enabled, true);
    });

    it("permissions: alerts:read/list to look, write to change; operators read, viewers see nothing", async () => {
      const key = async (roles: string[]) =>
        (await cairn.call("POST", "/api/v1/keys", { name: `k-${roles.join("-")}`, roles })).json.key as string;
      const viewer = await key(["viewer"]);
      const operator = await key(["operator"]);
      assert.equal((await inject(cairn, viewer, "GET", "/api/v1/alerts/rules")).status, 403);
      assert.equal((await inject(cairn, viewer, "GET", "/api/v1/alerts/deliveries")).status, 403);
      assert.equal((await inject(cairn, operator, "GET", "/api/v1/alerts/rules")).status, 200);
      assert.equal((await inject(cairn, operator, "GET", "/api/v1/alerts/deliveries")).status, 200);
      assert.equal((await inject(cairn, operator, "POST", "/api/v1/alerts/rules", { name: "op", events: ["x"] })).status, 403);
      assert.equal((await inject(cairn, operator, "POST", "/api/v1/alerts/channels", hook("op"))).status, 403);
      assert.equal((await inject(cairn, "cairn_AAAAAAAA_000000000000000000000000000000", "GET", "/api/v1/alerts/rules")).status, 401);
    });

    it("GET /alerts/severities tells the severity of each event type", async () => {
      const res = await cairn.call("GET", "/api/v1/alerts/severities");
      assert.equal(res.status, 200);
      assert.deepEqual(res.json.levels, ["info", "low", "medium", "high", "critical"]);
      const of = Object.fromEntries(res.json.eventTypes.map((e: any) => [e.pattern, e.severity]));
      assert.equal(of["audit.verify_failed"], "critical");
      assert.equal(of["secret.reveal"], "high");
      assert.equal(of["auth.failed"], "medium");
    });
  });
}
