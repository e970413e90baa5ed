import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { buildApp } from "../../src/app.js";
import type { Db } from "../../src/db/database.js";
import { loadSettings } from "../../src/settings.js";
import { adminKeyOf, httpClient, startOn } from "../fixtures/process.js";
import { backends, freshStore, inject } from "../helper.js";
import {
  alertEnv,
  type Caller,
  configRule,
  createChannel,
  createRule,
  deliveries,
  startReceiver,
  startSmtp,
  until,
  writeConfig,
} from "./support.js";

const WEBHOOK_TOKEN = "whurl-5e1f0c2a9b8d";
const HMAC_SECRET = "whsec-HMAC-9d8c7b6a5f4e3d2c1b";
const SLACK_TOKEN = "slacktoken-3c4d5e6f7a8b";
const SMTP_PASSWORD = "smtp-password-1a2b3c4d5e";
const SECRETS = [WEBHOOK_TOKEN, HMAC_SECRET, SLACK_TOKEN, SMTP_PASSWORD];

const leaked = (text: string) => SECRETS.filter((s) => text.includes(s));

/** Every row of every table of the store, as text. */
async function everyRow(db: Db): Promise<string> {
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(db);
  const out: string[] = [];
  for (const { table_name } of tables.rows) {
    const rows = await sql<{ row: string }>`select t::text as row from ${sql.table(table_name)} t`.execute(db);
    out.push(...rows.rows.map((r) => `${table_name}: ${r.row}`));
  }
  return out.join("\n");
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** Channels of all three kinds with distinctive secrets, a rule sending to them, and one alert through them. */
async function exercise(cairn: Caller, receiverUrl: string, smtpPort: number) {
  const seen: string[] = [];
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await cairn.call(method, url, body);
    seen.push(res.text);
    return res;
  };
  const webhook = await createChannel(cairn, {
    name: "s-webhook",
    type: "webhook",
    config: { url: `${receiverUrl}/hooks/${WEBHOOK_TOKEN}`, secret: HMAC_SECRET },
  });
  const slack = await createChannel(cairn, {
    name: "s-slack",
    type: "slack",
    config: { url: `${receiverUrl}/services/T1/B2/${SLACK_TOKEN}` },
  });
  const email = await createChannel(cairn, {
    name: "s-email",
    type: "email",
    config: {
      host: "127.0.0.1",
      port: smtpPort,
      tls: "none",
      username: "alerts",
      password: SMTP_PASSWORD,
      from: "c@example.com",
      to: ["o@example.com"],
    },
  });
  seen.push(JSON.stringify([webhook, slack, email]));
  assert.deepEqual(webhook.secretsSet, ["secret", "url"]);
  assert.deepEqual(slack.secretsSet, ["url"]);
  assert.deepEqual(email.secretsSet, ["password"]);
  await createRule(cairn, configRule("secrets rule", "sec1", [webhook.id, slack.id, email.id]));
  await call("GET", "/api/v1/alerts/channels");
  for (const c of [webhook, slack, email]) {
    await call("GET", `/api/v1/alerts/channels/${c.id}`);
    await call("POST", `/api/v1/alerts/channels/${c.id}/test`);
  }
  // Re-set a secret, rename: the answers still carry none.
  await call("PATCH", `/api/v1/alerts/channels/${email.id}`, { name: "s-email-2", config: { password: SMTP_PASSWORD } });
  // A refused change must not quote the secret back either.
  await call("POST", "/api/v1/alerts/channels", {
    name: "bad",
    type: "webhook",
    config: { url: `${receiverUrl}/hooks/${WEBHOOK_TOKEN}`, secret: "short" },
  });
  await writeConfig(cairn, "sec1/app");
  await until(
    "three deliveries delivered",
    async () => (await deliveries(cairn, "?status=delivered")).length >= 3,
    20_000,
    () => deliveries(cairn),
  );
  await call("GET", "/api/v1/alerts/deliveries");
  await call("GET", "/api/v1/alerts");
  await call("GET", "/api/v1/audit?limit=1000");
  return seen.join("\n");
}

for (const backend of backends()) {
  describe(`alerts: channel secrets stay secret (${backend})`, () => {
    it("never in API responses, audit events or any table; opened only to deliver (and for PGlite, not in its files)", async () => {
      const receiver = await startReceiver();
      const smtp = await startSmtp({ username: "alerts", password: SMTP_PASSWORD });
      const store = await freshStore(backend);
      try {
        const cairn = await buildApp(loadSettings({ CAIRN_LOG_LEVEL: "silent", ...store.env, ...alertEnv() }));
        const admin = cairn.bootstrap.generatedAdminKey as string;
        try {
          const responses = await exercise({ call: (m, u, b, h) => inject(cairn, admin, m, u, b, h) }, receiver.url, smtp.port);
          assert.deepEqual(leaked(responses), [], "no secret in any API response");
          assert.ok(smtp.messages.length >= 2, "the sealed password worked: test message and alert arrived");
          assert.ok(
            receiver.requests.some((r) => r.path.includes(SLACK_TOKEN)) && receiver.requests.some((r) => r.path.includes(WEBHOOK_TOKEN)),
          );
          const rows = await everyRow(cairn.store.db);
          assert.match(rows, /alert_channels: /, "the scan covers the channel table");
          assert.deepEqual(leaked(rows), [], "no secret in any table (channels, audit events, alerts, deliveries)");
        } finally {
          await cairn.app.close();
        }
        if (backend === "pglite") {
          for (const file of await filesUnder(store.dataDir)) {
            const bytes = await readFile(file);
            for (const s of SECRETS) assert.equal(bytes.indexOf(s), -1, `${s} found in ${file}`);
          }
        }
      } finally {
        await receiver.close();
        await smtp.close();
        await store.drop();
      }
    });

    it("never in the server's logs, even at debug level and when deliveries fail", async () => {
      const receiver = await startReceiver();
      const smtp = await startSmtp({ username: "alerts", password: SMTP_PASSWORD });
      const store = await freshStore(backend);
      const server = await startOn(store, alertEnv({ CAIRN_LOG_LEVEL: "debug" }));
      try {
        const call = httpClient(server.url, await adminKeyOf(server));
        const cairn: Caller = {
          call: async (m, u, b) => {
            const r = await call(m, u, b);
            return { status: r.status, headers: {}, text: r.text, json: r.json };
          },
        };
        receiver.status = 500; // the first attempts fail, and failures are logged
        const exercised = exercise(cairn, receiver.url, smtp.port);
        await until("a failed delivery in the log", () => server.output().includes("alert delivery failed"));
        receiver.status = 200;
        const responses = await exercised;
        assert.deepEqual(leaked(responses), [], "no secret in any API response");
        assert.match(server.output(), /alert delivery failed; will retry/, "failures were logged");
        assert.match(server.output(), /alert delivered/);
        assert.deepEqual(leaked(server.output()), [], "no secret in the logs");
      } finally {
        await server.kill();
        await receiver.close();
        await smtp.close();
        await store.drop();
      }
    });
  });
}
