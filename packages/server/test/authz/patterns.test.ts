import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cidrContains, parseCidr, parseIp } from "../../src/authz/cidr.js";
import { compileRule } from "../../src/authz/engine.js";
import { matchPattern, parsePattern, parsePermission } from "../../src/authz/permissions.js";
import type { Conditions, Rule } from "../../src/authz/types.js";

/** The building blocks of the engine, table-driven: namespace patterns, permission strings, conditions, CIDRs. */

const allow = (permission: string, conditions?: Conditions): Rule => ({
  effect: "allow",
  permission,
  ...(conditions ? { conditions } : {}),
});

describe("namespace patterns: * is one segment, ** any depth including none", () => {
  const rows: [pattern: string, namespace: string | undefined, expected: boolean][] = [
    ["**", undefined, true],
    ["**", "a", true],
    ["**", "a/b/c/d", true],
    ["*", "a", true],
    ["*", "a/b", false],
    ["*", undefined, false],
    ["payments", "payments", true],
    ["payments", "payments/api", false],
    ["payments/*", "payments/api", true],
    ["payments/*", "payments", false],
    ["payments/*", "payments/api/v2", false],
    ["payments/**", "payments", true],
    ["payments/**", "payments/api", true],
    ["payments/**", "payments/api/v2/x", true],
    ["payments/**", "paymentsx/api", false],
    ["payments/**", "billing/payments", false],
    ["*/api", "payments/api", true],
    ["*/api", "payments/eu/api", false],
    ["**/api", "api", true],
    ["**/api", "payments/eu/api", true],
    ["**/api", "payments/eu/api/x", false],
    ["a/**/b", "a/b", true],
    ["a/**/b", "a/x/y/b", true],
    ["a/**/b", "a/x/y/c", false],
    ["a/*/**", "a", false],
    ["a/*/**", "a/b", true],
    ["a/*/**", "a/b/c/d", true],
    ["**/**", "x/y", true],
    ["*/*", "x/y", true],
    ["*/*", "x", false],
    ["Prod.EU/app-1", "Prod.EU/app-1", true],
    ["Prod.EU/app-1", "prod.eu/app-1", false],
  ];
  for (const [pattern, ns, expected] of rows) {
    it(`${pattern} ${expected ? "matches" : "does not match"} ${ns ?? "(root)"}`, () => {
      assert.equal(matchPattern(parsePattern(pattern), ns), expected);
    });
  }
});

describe("permission parsing: clear errors", () => {
  const bad: [string, RegExp][] = [
    ["configs:**", /has 2 part/],
    ["configs:**:read:x", /has 4 part/],
    ["cfg:**:read", /unknown resource "cfg"/],
    ["configs:**:peek", /unknown action "peek"/],
    ["configs::read", /pattern is empty/],
    ["configs:pay*/x:read", /whole segments/],
    ["configs:a//b:read", /not a valid segment/],
    ["configs:.hidden:read", /not a valid segment/],
    ["configs:a b:read", /not a valid segment/],
  ];
  for (const [permission, message] of bad) {
    it(`refuses ${JSON.stringify(permission)}`, () => {
      assert.throws(() => parsePermission(permission), message);
      assert.throws(
        () => compileRule(allow(permission)),
        (e: Error & { path?: string }) => e.path === "/permission" && e.message.includes(permission),
      );
    });
  }
  for (const ok of ["*:**:*", "configs:payments/**:read", "secrets:*:reveal", "keys:**:admin", "roles:*:read", "*:a/*/b:list"]) {
    it(`accepts ${ok}`, () => assert.equal(parsePermission(ok).source, ok));
  }
});

describe("condition validation", () => {
  const bad: [Conditions, string, RegExp][] = [
    [{ environments: [] }, "/conditions/environments", /non-empty/],
    [{ environments: ["Prod!"] }, "/conditions/environments/0", /not an environment name/],
    [{ sourceIps: ["10.0.0.0/33"] }, "/conditions/sourceIps/0", /prefix length must be 0–32/],
    [{ sourceIps: ["10.0.0.0/8", "not-an-ip"] }, "/conditions/sourceIps/1", /not an IPv4 or IPv6/],
    [{ sourceIps: ["2001:db8::/129"] }, "/conditions/sourceIps/0", /0–128/],
    [{ timeWindow: { start: "9:00", end: "17:00" } }, "/conditions/timeWindow/start", /HH:MM/],
    [{ timeWindow: { start: "09:00", end: "24:00" } }, "/conditions/timeWindow/end", /HH:MM/],
    [{ timeWindow: { start: "09:00", end: "09:00" } }, "/conditions/timeWindow", /equal/],
    [{ timeWindow: { start: "09:00", end: "17:00", days: [0] } }, "/conditions/timeWindow/days/0", /ISO weekday/],
    [{ ipRanges: ["10.0.0.0/8"] } as Conditions, "/conditions/ipRanges", /unknown condition/],
  ];
  for (const [conditions, path, message] of bad) {
    it(`refuses ${JSON.stringify(conditions)} at ${path}`, () => {
      assert.throws(
        () => compileRule(allow("configs:**:read", conditions)),
        (e: Error & { path?: string }) => e.path === path && message.test(e.message),
      );
    });
  }
});

describe("CIDR matching (IPv4 and IPv6)", () => {
  const rows: [cidr: string, ip: string, expected: boolean][] = [
    ["10.0.0.0/8", "10.200.3.4", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["10.1.2.3", "10.1.2.3", true],
    ["10.1.2.3", "10.1.2.4", false],
    ["0.0.0.0/0", "203.0.113.9", true],
    ["192.168.1.0/24", "::ffff:192.168.1.77", true],
    ["2001:db8::/32", "2001:db8:1234::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    ["2001:db8:abcd:12::/64", "2001:db8:abcd:12:ffff:ffff:ffff:ffff", true],
    ["2001:db8:abcd:12::/64", "2001:db8:abcd:13::", false],
    ["::1/128", "::1", true],
    ["::1", "127.0.0.1", false],
    ["::/0", "10.0.0.1", true],
    ["::ffff:10.0.0.0/104", "10.9.9.9", true],
    ["fe80::/10", "fe80::1", true],
    ["10.0.0.0/8", "2001:db8::1", false],
  ];
  for (const [cidr, ip, expected] of rows) {
    it(`${ip} ${expected ? "is" : "is not"} in ${cidr}`, () => {
      const parsed = parseIp(ip);
      assert.ok(parsed, ip);
      assert.equal(cidrContains(parseCidr(cidr), parsed), expected);
    });
  }
  it("refuses zone ids and garbage", () => {
    assert.equal(parseIp("fe80::1%eth0"), undefined);
    assert.equal(parseIp("10.0.0.256"), undefined);
    assert.equal(parseIp("nope"), undefined);
  });
});
