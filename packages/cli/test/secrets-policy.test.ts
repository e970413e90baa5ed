/** `cairn secrets policy …` against a real server, through the built binary. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { formatDuration, parseDuration } from "../src/commands/secrets-policy.js";
import { cairn, type RunningServer, startServer } from "./support/cairn.js";

let server: RunningServer;
let env: Record<string, string>;
const run = (...args: string[]) => cairn(args, { env });

before(async () => {
  server = await startServer();
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
  const res = await fetch(`${server.url}/api/v1/secrets/${encodeURIComponent("prod/pay")}/stripe`, {
    method: "PUT",
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "api_key", value: "sk_live_0123456789abcdefghijklmnop" }),
  });
  assert.ok(res.ok, await res.text());
});
after(async () => {
  await server?.stop();
});

test("durations: 30d, 12h, 90m, 2w and plain seconds; shown in the largest exact unit", () => {
  assert.deepEqual(
    ["30d", "12h", "90m", "2w", "45"].map((d) => parseDuration(d)),
    [2_592_000, 43_200, 5400, 1_209_600, 45],
  );
  assert.throws(() => parseDuration("5x", "--interval"), /--interval must look like/);
  assert.deepEqual([2_592_000, 5400, 61].map(formatDuration), ["30d", "90m", "61s"]);
});

test("set, change one field, show, remove; bad input exits 2 or 1 with a message", async () => {
  const set = await run("secrets", "policy", "prod/pay", "stripe", "--interval", "30d", "--grace", "1h", "--json");
  assert.equal(set.code, 0, set.stderr);
  const policy = JSON.parse(set.stdout);
  assert.equal(policy.intervalSeconds, 2_592_000);
  assert.equal(policy.gracePeriodSeconds, 3600);

  const changed = await run("secrets", "policy", "prod/pay", "stripe", "--grace", "2h");
  assert.equal(changed.code, 0, changed.stderr);
  assert.match(changed.stdout, /interval:\s+30d/);
  assert.match(changed.stdout, /grace:\s+2h/);

  const shown = await run("secrets", "policy", "prod/pay", "stripe", "--show", "--json");
  assert.equal(JSON.parse(shown.stdout).gracePeriodSeconds, 7200);

  const bad = await run("secrets", "policy", "prod/pay", "stripe", "--interval", "soon");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--interval must look like/);
  const tooShort = await run("secrets", "policy", "prod/pay", "stripe", "--interval", "1h", "--grace", "1h");
  assert.equal(tooShort.code, 1);
  assert.match(tooShort.stderr, /shorter than intervalSeconds/);

  assert.equal((await run("secrets", "policy", "prod/pay", "stripe", "--remove")).code, 0);
  const gone = await run("secrets", "policy", "prod/pay", "stripe", "--show");
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no rotation policy/);
});
