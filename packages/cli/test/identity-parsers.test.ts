/** The identity commands' pure helpers: rule lines, durations, rate limits, meta. No server needed. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { collectMeta, nonNegativeInt, parseDuration, pastTime, rateLimit, timeFromNow } from "../src/input.js";
import { formatRule, parseRule } from "../src/rules.js";

test("parseRule: effect defaults to allow; conditions become the API's shape; formatRule reads back", () => {
  assert.deepEqual(parseRule("configs:payments/**:read"), { effect: "allow", permission: "configs:payments/**:read" });
  assert.deepEqual(parseRule("  deny   secrets:*:reveal "), { effect: "deny", permission: "secrets:*:reveal" });

  const line = "allow secrets:payments/**:reveal env=production,staging ip=10.0.0.0/8,2001:db8::/32 time=22:00-06:00 days=1-3,5";
  const rule = parseRule(line);
  assert.deepEqual(rule, {
    effect: "allow",
    permission: "secrets:payments/**:reveal",
    conditions: {
      environments: ["production", "staging"],
      sourceIps: ["10.0.0.0/8", "2001:db8::/32"],
      timeWindow: { start: "22:00", end: "06:00", days: [1, 2, 3, 5] },
    },
  });
  assert.equal(
    formatRule(rule),
    "allow secrets:payments/**:reveal env=production,staging ip=10.0.0.0/8,2001:db8::/32 time=22:00-06:00 days=1,2,3,5",
  );
  assert.deepEqual(parseRule(formatRule(rule)), rule);
});

test("parseRule: rejects what the server would, with a message saying what is expected", () => {
  for (const [bad, message] of [
    ["", /expected "\[allow\|deny\] resource:namespacePattern:action/],
    ["allow", /expected/],
    ["allow configs:read", /expected/],
    ["permit configs:a:read", /expected/],
    ["allow configs:a:read env", /condition name=value/],
    ["allow configs:a:read colour=red", /unknown condition "colour"/],
    ["allow configs:a:read time=9-17", /time=HH:MM-HH:MM/],
    ["allow configs:a:read days=1-5", /days= needs a time= window/],
    ["allow configs:a:read time=09:00-17:00 days=0", /ISO weekdays/],
    ["allow configs:a:read time=09:00-17:00 days=5-1", /backwards/],
  ] as const) {
    assert.throws(() => parseRule(bad), message, bad);
  }
});

test("durations, --expires-in, --since and --rate-limit", () => {
  assert.equal(parseDuration("90"), 90);
  assert.equal(parseDuration("90s"), 90);
  assert.equal(parseDuration("15m"), 900);
  assert.equal(parseDuration("1h30m"), 5400);
  assert.equal(parseDuration("30d"), 2_592_000);
  assert.equal(parseDuration("2W"), 1_209_600);
  for (const bad of ["", "1y", "h", "1.5h", "-1h", "1h 30m"]) assert.throws(() => parseDuration(bad), /expected a duration/, bad);

  const inAnHour = Date.parse(timeFromNow("1h"));
  assert.ok(Math.abs(inAnHour - (Date.now() + 3_600_000)) < 5_000);
  assert.throws(() => timeFromNow("0"), /at least 1s/);
  const weekAgo = Date.parse(pastTime("7d"));
  assert.ok(Math.abs(weekAgo - (Date.now() - 7 * 86_400_000)) < 5_000);
  assert.equal(pastTime("2025-01-31"), "2025-01-31T00:00:00.000Z");

  assert.deepEqual(rateLimit("100/60s"), { limit: 100, windowSeconds: 60 });
  assert.deepEqual(rateLimit("1000/1h"), { limit: 1000, windowSeconds: 3600 });
  assert.deepEqual(rateLimit("10/s"), { limit: 10, windowSeconds: 1 });
  assert.deepEqual(rateLimit("5 / 30"), { limit: 5, windowSeconds: 30 });
  for (const bad of ["100", "100/", "0/60s", "/60s", "a/60s", "100/60x", "100/0"])
    assert.throws(() => rateLimit(bad), /expected|at least/, bad);
});

test("--meta values are JSON when they parse, else strings; --remaining allows 0", () => {
  assert.deepEqual(collectMeta("tier=3", collectMeta("plan=pro")), { plan: "pro", tier: 3 });
  assert.deepEqual(collectMeta("url=a=b"), { url: "a=b" });
  assert.throws(() => collectMeta("=x"), /key=value/);
  assert.equal(nonNegativeInt("0"), 0);
  for (const bad of ["", "-1", "1.5", "x"]) assert.throws(() => nonNegativeInt(bad), /≥ 0/, bad);
});
