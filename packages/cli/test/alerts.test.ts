/** `cairn alerts …` against a real server, through the built binary, with a real local webhook receiver. */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { cairn, type RunningServer, startServer } from "./support/cairn.js";

let server: RunningServer;
let env: Record<string, string>;
let receiver: http.Server;
let receiverUrl: string;
const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];

const run = (...args: string[]) => cairn(args, { env });
const json = <T = any>(stdout: string) => JSON.parse(stdout) as T;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(50);
  }
}

before(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  server = await startServer({ CAIRN_ALERTS_ALLOW_PRIVATE_TARGETS: "true", CAIRN_ALERTS_POLL_MS: "50" });
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
});
after(async () => {
  await server?.stop();
  receiver?.closeAllConnections();
  await new Promise<void>((r) => receiver?.close(() => r()));
});

test("alerts: add a webhook channel (signing secret printed once), test it, route a rule to it, see the delivery", async () => {
  const add = await run("alerts", "channels", "add", "hook", "--type", "webhook", "--webhook-url", `${receiverUrl}/cairn`);
  assert.equal(add.code, 0, add.stderr);
  const secret = add.stdout.trim();
  assert.match(secret, /^[0-9a-f]{64}$/, "stdout is the generated secret alone");
  assert.match(add.stderr, /added webhook channel alc_\w+ "hook" \(127\.0\.0\.1\)/);

  const ls = await run("alerts", "channels", "ls", "--json");
  assert.equal(ls.code, 0, ls.stderr);
  const [channel] = json(ls.stdout).items;
  assert.deepEqual(channel.secretsSet, ["secret", "url"]);
  assert.ok(!ls.stdout.includes(secret) && !ls.stdout.includes("/cairn"), "secrets are never shown again");
  const table = await run("alerts", "channels", "ls");
  assert.match(table.stdout, /hook\s+webhook\s+127\.0\.0\.1\s+secret,url\s+enabled/);

  const tested = await run("alerts", "channels", "test", "hook");
  assert.equal(tested.code, 0, tested.stderr);
  assert.match(tested.stdout, /delivered a test message to "hook"/);
  const probe = received.at(-1);
  assert.ok(probe);
  const [t, v1] = String(probe.headers["x-cairn-signature"])
    .split(",")
    .map((p) => p.split("=")[1]);
  assert.equal(v1, createHmac("sha256", secret).update(`${t}.${probe.body}`).digest("hex"), "signed with the printed secret");

  const created = await run("alerts", "rules", "create", "cli writes", "--event", "config.*", "--namespace", "cli/**", "--channel", "hook");
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /created alert rule alr_\w+ "cli writes" \(every event of config\.\*\)/);
  const rules = await run("alerts", "rules", "ls");
  assert.match(rules.stdout, /Revoked API key used/);
  assert.match(rules.stdout, /cli writes\s+config\.\*\s+every event\s+-\s+alc_/);

  assert.equal((await run("set", "cli/app", "db.url", "postgres://db/app")).code, 0);
  await until("the alert", () => received.some((r) => JSON.parse(r.body).type === "alert.fired"));
  await until("a delivered delivery", async () => {
    const d = await run("alerts", "deliveries", "--status", "delivered", "--json");
    return json(d.stdout).items.length === 1;
  });
  const deliveries = await run("alerts", "deliveries");
  assert.equal(deliveries.code, 0, deliveries.stderr);
  assert.match(deliveries.stdout, /ald_\w+\s+delivered\s+1\/20\s+alc_\w+\s+info\s+cli writes: config\.create/);
  const fired = await run("alerts", "ls");
  assert.match(fired.stdout, /info\s+1\s+1\/1\s+cli writes: config\.create/);
});

test("alerts: bad input exits 2 (usage) or 1 (refused by the server) and changes nothing", async () => {
  const before = (await run("alerts", "rules", "ls", "--json")).stdout;
  const noEvent = await run("alerts", "rules", "create", "nothing");
  assert.equal(noEvent.code, 2);
  assert.match(noEvent.stderr, /--event/);
  assert.equal((await run("alerts", "rules", "create", "x", "--event", "a.b", "--threshold", "lots")).code, 2);
  assert.equal((await run("alerts", "rules", "create", "x", "--event", "a.b", "--group-by", "country")).code, 2);
  const unknownChannel = await run("alerts", "rules", "create", "x", "--event", "a.b", "--channel", "nope");
  assert.equal(unknownChannel.code, 1);
  assert.match(unknownChannel.stderr, /no alert channel "nope"/);
  const badPattern = await run("alerts", "rules", "create", "x", "--event", "a.b", "--namespace", "prod/**x");
  assert.equal(badPattern.code, 1);
  assert.match(badPattern.stderr, /match\/0\/namespaces\/0/);
  assert.equal((await run("alerts", "rules", "ls", "--json")).stdout, before);

  const builtin = await run("alerts", "rules", "rm", "Revoked API key used");
  assert.equal(builtin.code, 1);
  assert.match(builtin.stderr, /built in/);
  const inUse = await run("alerts", "channels", "rm", "hook");
  assert.equal(inUse.code, 1);
  assert.match(inUse.stderr, /used by rule/);
  const badType = await run("alerts", "channels", "add", "x", "--type", "pager");
  assert.equal(badType.code, 2);
});

test("alerts: disable and enable a built-in rule, remove a rule and then its channel", async () => {
  const off = await run("alerts", "rules", "disable", "Revoked API key used");
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stdout, /disabled alert rule alr_\w+ "Revoked API key used"/);
  assert.equal((await run("alerts", "rules", "enable", "Revoked API key used")).code, 0);
  assert.equal((await run("alerts", "rules", "rm", "cli writes")).code, 0);
  const rm = await run("alerts", "channels", "rm", "hook");
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(json((await run("alerts", "channels", "ls", "--json")).stdout).items.length, 0);
});

test("alerts --help has examples", async () => {
  for (const args of [["alerts"], ["alerts", "rules", "create"], ["alerts", "channels", "add"], ["alerts", "deliveries"]]) {
    const help = await run(...args, "--help");
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Examples:/, args.join(" "));
  }
});
