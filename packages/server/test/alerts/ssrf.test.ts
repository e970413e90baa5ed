import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { isPrivateAddress } from "../../src/alerts/ssrf.js";
import { buildApp } from "../../src/app.js";
import { loadSettings } from "../../src/settings.js";
import { backends, freshStore, inject, useApp } from "../helper.js";
import { alertEnv, configRule, deliveries, type Receiver, startReceiver, until } from "./support.js";

const SECRET = "whsec_ssrf_0123456789abcdef";

describe("alerts: which addresses count as private", () => {
  it("refuses loopback, private, link-local, CGNAT, multicast and reserved addresses, in IPv4 and IPv6 spellings", () => {
    for (const a of [
      "127.0.0.1",
      "127.1.2.3",
      "10.0.0.5",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.10",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "255.255.255.255",
      "::1",
      "::",
      "fe80::1",
      "fc00::1",
      "fd12:3456::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:169.254.169.254",
      "64:ff9b::a9fe:a9fe",
      "2002:7f00:1::",
      "not-an-ip",
    ]) {
      assert.equal(isPrivateAddress(a), true, a);
    }
    for (const a of ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) {
      assert.equal(isPrivateAddress(a), false, a);
    }
  });
});

for (const backend of backends()) {
  describe(`alerts: SSRF refusal without CAIRN_ALERTS_ALLOW_PRIVATE_TARGETS (${backend})`, () => {
    const cairn = useApp(backend, alertEnv({ CAIRN_ALERTS_ALLOW_PRIVATE_TARGETS: "false" }));

    it("webhook and Slack channels aimed at private, loopback or link-local targets are refused (422), nothing is made", async () => {
      const receiver = await startReceiver();
      try {
        for (const url of [
          `${receiver.url}/hook`,
          `http://localhost:${receiver.port}/hook`,
          "http://169.254.169.254/latest/meta-data/",
          "http://10.1.2.3/hook",
          "http://192.168.0.10:8080/",
          "http://[::1]:9/",
          "http://[::ffff:127.0.0.1]:9/",
          "http://0.0.0.0:9/",
        ]) {
          for (const body of [
            { name: "internal", type: "webhook", config: { url, secret: SECRET } },
            { name: "internal-slack", type: "slack", config: { url } },
          ]) {
            const res = await cairn.call("POST", "/api/v1/alerts/channels", body);
            assert.equal(res.status, 422, `${body.type} ${url} → ${res.status} ${res.text}`);
            assert.equal(res.json.errors[0].path, "/config/url");
            assert.match(res.json.errors[0].message, /private, loopback or link-local/);
            assert.ok(!res.text.includes("/hook"), "the refusal names the host, not the URL");
          }
        }
        assert.deepEqual((await cairn.call("GET", "/api/v1/alerts/channels")).json.items, []);
        assert.equal(receiver.requests.length, 0);
      } finally {
        await receiver.close();
      }
    });
  });

  describe(`alerts: SSRF check at delivery time (${backend})`, () => {
    let receiver: Receiver;
    after(async () => receiver?.close());

    it("a channel made while private targets were allowed is refused at delivery once they are not: the receiver gets nothing", async () => {
      receiver = await startReceiver();
      const store = await freshStore(backend);
      try {
        // First run: internal targets allowed; a channel and a rule are made.
        let cairn = await buildApp(loadSettings({ CAIRN_LOG_LEVEL: "silent", ...store.env, ...alertEnv() }));
        const admin = cairn.bootstrap.generatedAdminKey as string;
        const channel = await inject(cairn, admin, "POST", "/api/v1/alerts/channels", {
          name: "was-allowed",
          type: "webhook",
          config: { url: `http://localhost:${receiver.port}/hook`, secret: SECRET },
        });
        assert.equal(channel.status, 201, channel.text);
        const rule = await inject(cairn, admin, "POST", "/api/v1/alerts/rules", configRule("ssrf rule", "ssrf1", [channel.json.id]));
        assert.equal(rule.status, 201, rule.text);
        await cairn.app.close();

        // Second run on the same store, with the default (private targets refused).
        cairn = await buildApp(
          loadSettings({ CAIRN_LOG_LEVEL: "silent", ...store.env, ...alertEnv({ CAIRN_ALERTS_ALLOW_PRIVATE_TARGETS: "false" }) }),
        );
        try {
          const app = { call: (m: string, u: string, b?: unknown) => inject(cairn, admin, m, u, b) };
          const write = await app.call("PUT", `/api/v1/configs/${encodeURIComponent("ssrf1/app")}/k`, { value: 1 });
          assert.ok(write.status < 300, write.text);
          await until("a refused attempt", async () => (await deliveries(app))[0]?.attempts >= 1 && (await deliveries(app))[0]?.lastError);
          const [d] = await deliveries(app);
          assert.equal(d.status, "pending", "refused, kept (the setting may come back), never sent");
          assert.match(d.lastError, /localhost resolves to (127\.0\.0\.1|::1), a private, loopback or link-local address/);
          const test = await app.call("POST", `/api/v1/alerts/channels/${channel.json.id}/test`);
          assert.equal(test.json.delivered, false);
          assert.match(test.json.error, /private, loopback or link-local/);
          assert.equal(receiver.requests.length, 0, "nothing reached the internal receiver");
        } finally {
          await cairn.app.close();
        }
      } finally {
        await store.drop();
      }
    });
  });
}
