import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  compileRule,
  decide,
  type EvaluationRequest,
  expandRole,
  findCycle,
  type Grant,
  type RoleDefinition,
} from "../../src/authz/engine.js";
import { parsePattern } from "../../src/authz/permissions.js";
import type { Conditions, Rule } from "../../src/authz/types.js";

/** The pure decision engine, table-driven: no database, no clock. */

const NOON = new Date("2025-06-04T12:00:00Z"); // a Wednesday (ISO day 3)

const allow = (permission: string, conditions?: Conditions): Rule => ({
  effect: "allow",
  permission,
  ...(conditions ? { conditions } : {}),
});
const deny = (permission: string, conditions?: Conditions): Rule => ({ effect: "deny", permission, ...(conditions ? { conditions } : {}) });
const grant = (rule: Rule, extra: Partial<Grant> = {}): Grant => ({ rule: compileRule(rule), source: "key", ...extra });
const req = (r: Partial<EvaluationRequest> & Pick<EvaluationRequest, "resource" | "action">): EvaluationRequest => ({ at: NOON, ...r });

/** One matrix: grants, request, expected outcome and (optionally) the rule that must have decided. */
interface Row {
  name: string;
  grants: Grant[];
  request: EvaluationRequest;
  allowed: boolean;
  decidedBy?: string;
  reason?: RegExp;
}

const shift = (days: number[]) => ({ start: "22:00", end: "06:00", days });

const matrix: Row[] = [
  // wildcards over resources and actions
  {
    name: "*:**:* allows anything",
    grants: [grant(allow("*:**:*"))],
    request: req({ resource: "secrets", namespace: "a/b", action: "reveal" }),
    allowed: true,
  },
  {
    name: "action * covers every action",
    grants: [grant(allow("configs:**:*"))],
    request: req({ resource: "configs", namespace: "x", action: "delete" }),
    allowed: true,
  },
  {
    name: "resource must match",
    grants: [grant(allow("configs:**:*"))],
    request: req({ resource: "secrets", namespace: "x", action: "read" }),
    allowed: false,
  },
  {
    name: "action must match",
    grants: [grant(allow("configs:**:read"))],
    request: req({ resource: "configs", namespace: "x", action: "write" }),
    allowed: false,
  },
  {
    name: "nothing → denied, naming the permission",
    grants: [],
    request: req({ resource: "configs", namespace: "p/q", action: "read" }),
    allowed: false,
    reason: /no rule allows configs:p\/q:read/,
  },
  // * vs ** on namespaced resources
  {
    name: "* matches one segment",
    grants: [grant(allow("configs:payments/*:read"))],
    request: req({ resource: "configs", namespace: "payments/api", action: "read" }),
    allowed: true,
  },
  {
    name: "* does not match two segments",
    grants: [grant(allow("configs:payments/*:read"))],
    request: req({ resource: "configs", namespace: "payments/api/v2", action: "read" }),
    allowed: false,
  },
  {
    name: "** matches deep",
    grants: [grant(allow("configs:payments/**:read"))],
    request: req({ resource: "configs", namespace: "payments/api/v2", action: "read" }),
    allowed: true,
  },
  {
    name: "** matches zero segments",
    grants: [grant(allow("configs:payments/**:read"))],
    request: req({ resource: "configs", namespace: "payments", action: "read" }),
    allowed: true,
  },
  {
    name: "a namespaced request without a namespace is the root",
    grants: [grant(allow("configs:payments/**:list"))],
    request: req({ resource: "configs", action: "list" }),
    allowed: false,
  },
  {
    name: "** reaches the root",
    grants: [grant(allow("configs:**:list"))],
    request: req({ resource: "configs", action: "list" }),
    allowed: true,
  },
  // non-namespaced resources
  {
    name: "keys ignore the pattern of a rule naming them",
    grants: [grant(allow("keys:payments/*:read"))],
    request: req({ resource: "keys", action: "read" }),
    allowed: true,
  },
  {
    name: "* with a narrow pattern does not reach keys",
    grants: [grant(allow("*:payments/**:*"))],
    request: req({ resource: "keys", action: "admin" }),
    allowed: false,
  },
  {
    name: "* with ** reaches roles",
    grants: [grant(allow("*:**:read"))],
    request: req({ resource: "roles", action: "read" }),
    allowed: true,
  },
  {
    name: "a namespace on a non-namespaced request is ignored",
    grants: [grant(allow("audit:**:read"))],
    request: req({ resource: "audit", namespace: "zzz", action: "read" }),
    allowed: true,
  },
  // deny wins
  {
    name: "deny wins over allow (deny listed last)",
    grants: [grant(allow("secrets:**:*")), grant(deny("secrets:payments/**:reveal"))],
    request: req({ resource: "secrets", namespace: "payments/api", action: "reveal" }),
    allowed: false,
    decidedBy: "secrets:payments/**:reveal",
    reason: /denied by deny rule/,
  },
  {
    name: "deny wins over allow (deny listed first)",
    grants: [grant(deny("configs:**:delete")), grant(allow("*:**:*"))],
    request: req({ resource: "configs", namespace: "a", action: "delete" }),
    allowed: false,
    decidedBy: "configs:**:delete",
  },
  {
    name: "a deny elsewhere does not stop an allow here",
    grants: [grant(allow("secrets:**:*")), grant(deny("secrets:payments/**:reveal"))],
    request: req({ resource: "secrets", namespace: "billing/api", action: "reveal" }),
    allowed: true,
    decidedBy: "secrets:**:*",
  },
  // environment conditions
  {
    name: "environment condition met",
    grants: [grant(allow("configs:**:write", { environments: ["development", "staging"] }))],
    request: req({ resource: "configs", namespace: "a", action: "write", environment: "staging" }),
    allowed: true,
  },
  {
    name: "environment condition not met",
    grants: [grant(allow("configs:**:write", { environments: ["development"] }))],
    request: req({ resource: "configs", namespace: "a", action: "write", environment: "production" }),
    allowed: false,
    reason: /environment "production" is not one of development/,
  },
  {
    name: "allow with an environment condition, request without environment → not allowed (fail safe)",
    grants: [grant(allow("configs:**:write", { environments: ["development"] }))],
    request: req({ resource: "configs", namespace: "a", action: "write" }),
    allowed: false,
    reason: /names no environment/,
  },
  {
    name: "deny with an environment condition, request without environment → denied (fail safe)",
    grants: [grant(allow("configs:**:write")), grant(deny("configs:**:write", { environments: ["production"] }))],
    request: req({ resource: "configs", namespace: "a", action: "write" }),
    allowed: false,
    reason: /cannot be evaluated/,
  },
  {
    name: "deny with an environment condition does not apply to another environment",
    grants: [grant(allow("configs:**:write")), grant(deny("configs:**:write", { environments: ["production"] }))],
    request: req({ resource: "configs", namespace: "a", action: "write", environment: "development" }),
    allowed: true,
  },
  // source IP conditions
  {
    name: "IPv4 CIDR met",
    grants: [grant(allow("secrets:**:reveal", { sourceIps: ["10.0.0.0/8"] }))],
    request: req({ resource: "secrets", namespace: "a", action: "reveal", sourceIp: "10.1.2.3" }),
    allowed: true,
  },
  {
    name: "IPv4 CIDR not met",
    grants: [grant(allow("secrets:**:reveal", { sourceIps: ["10.0.0.0/8"] }))],
    request: req({ resource: "secrets", namespace: "a", action: "reveal", sourceIp: "192.168.0.1" }),
    allowed: false,
    reason: /not in 10\.0\.0\.0\/8/,
  },
  {
    name: "IPv6 CIDR met",
    grants: [grant(allow("secrets:**:reveal", { sourceIps: ["10.0.0.0/8", "2001:db8::/32"] }))],
    request: req({ resource: "secrets", namespace: "a", action: "reveal", sourceIp: "2001:db8:0:1::42" }),
    allowed: true,
  },
  {
    name: "IPv6 CIDR not met",
    grants: [grant(allow("secrets:**:reveal", { sourceIps: ["2001:db8::/32"] }))],
    request: req({ resource: "secrets", namespace: "a", action: "reveal", sourceIp: "2001:db9::1" }),
    allowed: false,
  },
  {
    name: "IPv4-mapped IPv6 caller matches an IPv4 block",
    grants: [grant(allow("secrets:**:reveal", { sourceIps: ["127.0.0.0/8"] }))],
    request: req({ resource: "secrets", namespace: "a", action: "reveal", sourceIp: "::ffff:127.0.0.1" }),
    allowed: true,
  },
  {
    name: "allow with an IP condition and no source IP → not allowed",
    grants: [grant(allow("secrets:**:reveal", { sourceIps: ["0.0.0.0/0"] }))],
    request: req({ resource: "secrets", namespace: "a", action: "reveal" }),
    allowed: false,
  },
  {
    name: "deny outside the office network (IP not in list) applies",
    grants: [grant(allow("*:**:*")), grant(deny("secrets:**:reveal", { sourceIps: ["203.0.113.0/24"] }))],
    request: req({ resource: "secrets", namespace: "a", action: "reveal", sourceIp: "203.0.113.5" }),
    allowed: false,
  },
  {
    name: "deny with an IP condition and an unparsable source IP → denied",
    grants: [grant(allow("*:**:*")), grant(deny("secrets:**:reveal", { sourceIps: ["203.0.113.0/24"] }))],
    request: req({ resource: "secrets", namespace: "a", action: "reveal", sourceIp: "garbage" }),
    allowed: false,
  },
  // time windows
  {
    name: "inside a day window",
    grants: [grant(allow("configs:**:write", { timeWindow: { start: "09:00", end: "17:00" } }))],
    request: req({ resource: "configs", namespace: "a", action: "write", at: new Date("2025-06-04T16:59:00Z") }),
    allowed: true,
  },
  {
    name: "the end of a window is exclusive",
    grants: [grant(allow("configs:**:write", { timeWindow: { start: "09:00", end: "17:00" } }))],
    request: req({ resource: "configs", namespace: "a", action: "write", at: new Date("2025-06-04T17:00:00Z") }),
    allowed: false,
    reason: /outside 09:00–17:00 UTC/,
  },
  {
    name: "weekday window on a weekday",
    grants: [grant(allow("configs:**:write", { timeWindow: { start: "09:00", end: "17:00", days: [1, 2, 3, 4, 5] } }))],
    request: req({ resource: "configs", namespace: "a", action: "write" }),
    allowed: true,
  },
  {
    name: "weekday window on a Sunday",
    grants: [grant(allow("configs:**:write", { timeWindow: { start: "09:00", end: "17:00", days: [1, 2, 3, 4, 5] } }))],
    request: req({ resource: "configs", namespace: "a", action: "write", at: new Date("2025-06-08T12:00:00Z") }),
    allowed: false,
  },
  {
    name: "midnight-wrapping window: late evening is inside",
    grants: [grant(allow("configs:**:write", { timeWindow: { start: "22:00", end: "06:00" } }))],
    request: req({ resource: "configs", namespace: "a", action: "write", at: new Date("2025-06-04T23:30:00Z") }),
    allowed: true,
  },
  {
    name: "midnight-wrapping window: early morning is inside",
    grants: [grant(allow("configs:**:write", { timeWindow: { start: "22:00", end: "06:00" } }))],
    request: req({ resource: "configs", namespace: "a", action: "write", at: new Date("2025-06-04T05:59:00Z") }),
    allowed: true,
  },
  {
    name: "midnight-wrapping window: noon is outside",
    grants: [grant(allow("configs:**:write", { timeWindow: { start: "22:00", end: "06:00" } }))],
    request: req({ resource: "configs", namespace: "a", action: "write" }),
    allowed: false,
  },
  {
    name: "Friday-night shift: Saturday 02:00 belongs to Friday's window",
    grants: [grant(allow("configs:**:write", { timeWindow: shift([5]) }))],
    request: req({ resource: "configs", namespace: "a", action: "write", at: new Date("2025-06-07T02:00:00Z") }),
    allowed: true,
  },
  {
    name: "Friday-night shift: Friday 02:00 belongs to Thursday's window",
    grants: [grant(allow("configs:**:write", { timeWindow: shift([5]) }))],
    request: req({ resource: "configs", namespace: "a", action: "write", at: new Date("2025-06-06T02:00:00Z") }),
    allowed: false,
  },
  {
    name: "Sunday-night shift wraps into Monday (day 7 → 1)",
    grants: [grant(allow("configs:**:write", { timeWindow: shift([7]) }))],
    request: req({ resource: "configs", namespace: "a", action: "write", at: new Date("2025-06-09T01:00:00Z") }),
    allowed: true,
  },
  {
    name: "deny during a maintenance freeze",
    grants: [grant(allow("*:**:*")), grant(deny("configs:**:write", { timeWindow: { start: "23:00", end: "01:00" } }))],
    request: req({ resource: "configs", namespace: "a", action: "write", at: new Date("2025-06-04T00:30:00Z") }),
    allowed: false,
  },
  {
    name: "every condition must hold (env ok, IP not)",
    grants: [grant(allow("configs:**:write", { environments: ["production"], sourceIps: ["10.0.0.0/8"] }))],
    request: req({ resource: "configs", namespace: "a", action: "write", environment: "production", sourceIp: "8.8.8.8" }),
    allowed: false,
  },
  {
    name: "every condition must hold (all ok)",
    grants: [
      grant(
        allow("configs:**:write", {
          environments: ["production"],
          sourceIps: ["10.0.0.0/8"],
          timeWindow: { start: "08:00", end: "18:00" },
        }),
      ),
    ],
    request: req({ resource: "configs", namespace: "a", action: "write", environment: "production", sourceIp: "10.0.0.8" }),
    allowed: true,
  },
  {
    name: "a deny whose known condition is false does not apply, even if another is unknown",
    grants: [grant(allow("*:**:*")), grant(deny("configs:**:write", { environments: ["production"], sourceIps: ["10.0.0.0/8"] }))],
    request: req({ resource: "configs", namespace: "a", action: "write", environment: "development" }),
    allowed: true,
  },
  // binding scope and expiry
  {
    name: "binding scope narrows a broad rule: inside",
    grants: [
      grant(allow("configs:**:write"), { source: "role", role: "developer", bindingId: "rb_1", scope: parsePattern("payments/**") }),
    ],
    request: req({ resource: "configs", namespace: "payments/api", action: "write" }),
    allowed: true,
    decidedBy: "configs:**:write",
  },
  {
    name: "binding scope narrows a broad rule: outside",
    grants: [
      grant(allow("configs:**:write"), { source: "role", role: "developer", bindingId: "rb_1", scope: parsePattern("payments/**") }),
    ],
    request: req({ resource: "configs", namespace: "billing/api", action: "write" }),
    allowed: false,
    reason: /scope/,
  },
  {
    name: "scope and rule pattern intersect",
    grants: [grant(allow("configs:*/api:read"), { source: "role", role: "r", bindingId: "rb_1", scope: parsePattern("payments/**") })],
    request: req({ resource: "configs", namespace: "billing/api", action: "read" }),
    allowed: false,
  },
  {
    name: "a scoped admin binding does not reach keys",
    grants: [grant(allow("*:**:*"), { source: "role", role: "admin", bindingId: "rb_1", scope: parsePattern("payments/**") })],
    request: req({ resource: "keys", action: "admin" }),
    allowed: false,
  },
  {
    name: "an unscoped binding reaches keys",
    grants: [grant(allow("*:**:*"), { source: "role", role: "admin", bindingId: "rb_1", scope: parsePattern("**") })],
    request: req({ resource: "keys", action: "admin" }),
    allowed: true,
  },
  {
    name: "a scoped deny binding does not deny outside its scope",
    grants: [
      grant(allow("*:**:*")),
      grant(deny("configs:**:*"), { source: "role", role: "freeze", bindingId: "rb_2", scope: parsePattern("payments/**") }),
    ],
    request: req({ resource: "configs", namespace: "billing", action: "write" }),
    allowed: true,
  },
  {
    name: "a scoped deny binding denies inside its scope",
    grants: [
      grant(allow("*:**:*")),
      grant(deny("configs:**:*"), { source: "role", role: "freeze", bindingId: "rb_2", scope: parsePattern("payments/**") }),
    ],
    request: req({ resource: "configs", namespace: "payments/x", action: "write" }),
    allowed: false,
    decidedBy: "configs:**:*",
  },
  {
    name: "an expired binding grants nothing",
    grants: [
      grant(allow("configs:**:read"), { source: "role", role: "viewer", bindingId: "rb_3", expiresAt: new Date("2025-06-04T11:59:59Z") }),
    ],
    request: req({ resource: "configs", namespace: "a", action: "read" }),
    allowed: false,
    reason: /expired at 2025-06-04T11:59:59/,
  },
  {
    name: "a binding expiring exactly now grants nothing",
    grants: [grant(allow("configs:**:read"), { source: "role", role: "viewer", bindingId: "rb_3", expiresAt: NOON })],
    request: req({ resource: "configs", namespace: "a", action: "read" }),
    allowed: false,
  },
  {
    name: "a binding not yet expired grants",
    grants: [
      grant(allow("configs:**:read"), { source: "role", role: "viewer", bindingId: "rb_3", expiresAt: new Date("2025-06-04T12:00:01Z") }),
    ],
    request: req({ resource: "configs", namespace: "a", action: "read" }),
    allowed: true,
  },
  {
    name: "an expired deny binding no longer denies",
    grants: [
      grant(allow("*:**:*")),
      grant(deny("configs:**:*"), { source: "role", role: "freeze", bindingId: "rb_4", expiresAt: new Date("2025-01-01T00:00:00Z") }),
    ],
    request: req({ resource: "configs", namespace: "a", action: "write" }),
    allowed: true,
  },
];

describe("decision matrix", () => {
  for (const row of matrix) {
    it(row.name, () => {
      const d = decide(row.grants, row.request);
      assert.equal(d.allowed, row.allowed, d.reason);
      if (row.decidedBy) assert.equal(d.decidedBy?.rule.permission, row.decidedBy, d.reason);
      if (row.reason) assert.match(d.reason, row.reason);
      if (!d.allowed && !d.decidedBy) assert.match(d.reason, /^no rule allows /);
    });
  }
});

describe("role inheritance", () => {
  const role = (name: string, rules: Rule[], inherits: string[] = []): [string, RoleDefinition] => [
    name,
    { name, rules: rules.map(compileRule), inherits },
  ];
  const roles = new Map([
    role("viewer", [allow("configs:**:read")]),
    role("developer", [allow("configs:**:write")], ["viewer"]),
    role("lead", [deny("secrets:**:reveal")], ["developer", "viewer"]),
    role("loop-a", [allow("audit:**:read")], ["loop-b"]),
    role("loop-b", [allow("audit:**:list")], ["loop-a"]),
  ]);
  const grantsOf = (name: string): Grant[] => expandRole(roles, name).map(({ rule, role, path }) => ({ rule, source: "role", role, path }));

  const rows: [role: string, request: EvaluationRequest, allowed: boolean, decidingRole?: string, path?: string[]][] = [
    ["viewer", req({ resource: "configs", namespace: "a", action: "read" }), true, "viewer"],
    ["viewer", req({ resource: "configs", namespace: "a", action: "write" }), false],
    ["developer", req({ resource: "configs", namespace: "a", action: "write" }), true, "developer"],
    ["developer", req({ resource: "configs", namespace: "a", action: "read" }), true, "viewer", ["developer", "viewer"]],
    ["lead", req({ resource: "configs", namespace: "a", action: "read" }), true, "viewer", ["lead", "developer", "viewer"]],
    ["lead", req({ resource: "secrets", namespace: "a", action: "reveal" }), false, "lead"],
    ["loop-a", req({ resource: "audit", action: "list" }), true, "loop-b"],
    ["loop-b", req({ resource: "audit", action: "read" }), true, "loop-a"],
  ];
  for (const [name, request, allowed, decidingRole, path] of rows) {
    it(`${name}: ${request.resource}:${request.action} → ${allowed ? "allowed" : "denied"}`, () => {
      const d = decide(grantsOf(name), request);
      assert.equal(d.allowed, allowed, d.reason);
      if (decidingRole) assert.equal(d.decidedBy?.role, decidingRole);
      if (path) assert.deepEqual(d.decidedBy?.path, path);
    });
  }

  it("a diamond includes each role once; a cycle terminates", () => {
    assert.equal(expandRole(roles, "lead").length, 3);
    assert.equal(expandRole(roles, "loop-a").length, 2);
  });

  it("findCycle reports the cycle path, or nothing", () => {
    assert.deepEqual(findCycle(roles, "loop-a"), ["loop-a", "loop-b", "loop-a"]);
    assert.equal(findCycle(roles, "lead"), undefined);
    const graph = new Map([
      ["a", { inherits: ["b"] }],
      ["b", { inherits: ["c"] }],
      ["c", { inherits: ["a"] }],
    ]);
    assert.deepEqual(findCycle(graph, "a"), ["a", "b", "c", "a"]);
  });
});
