import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { interpretQuery, type SearchFilter } from "../../src/domains/requests/search.js";

// Wednesday 25 November 2026, 15:30 UTC: every relative time below is anchored here.
const NOW = new Date("2026-11-25T15:30:00Z");
const day = (d: string) => `2026-${d}T00:00:00.000Z`;

const cases: [query: string, filter: SearchFilter, ignored?: string[]][] = [
  ["show me all failed requests for AWS yesterday", { status: ["FAILED"], provider: ["aws"], from: day("11-24"), to: day("11-25") }],
  ["last week", { from: "2026-11-18T15:30:00.000Z" }],
  ["granted requests since monday", { status: ["SUCCESS"], from: day("11-23") }],
  ["in the last 3 hours", { from: "2026-11-25T12:30:00.000Z" }],
  ["pending requests for alice", { status: ["PENDING"], principal: "alice" }],
  ["by bob@example.com on gcp", { provider: ["gcp"], principal: "bob@example.com" }],
  ["role admin denied", { status: ["DENIED"], role: "admin" }],
  ["awaiting approval azure", { status: ["AWAITING_APPROVAL"], provider: ["azure"] }],
  ["errored postgres requests today", { status: ["FAILED"], provider: ["postgres"], from: day("11-25"), to: day("11-26") }],
  ["revoked or expired between monday and tuesday", { status: ["REVOKED", "EXPIRED"], from: day("11-23"), to: day("11-25") }],
  ["failed before friday", { status: ["FAILED"], to: day("11-20") }],
  ["after nov 20", { from: day("11-21") }],
  ["this week granted", { status: ["SUCCESS"], from: day("11-23") }],
  ["frobnicate the widgets", {}, ["frobnicate", "widgets"]],
  ["requests by carol in the past 30 minutes", { principal: "carol", from: "2026-11-25T15:00:00.000Z" }],
  ["role=readonly database", { provider: ["postgres"], role: "readonly" }],
  ["failing amazon requests from 2026-11-01", { status: ["FAILED"], provider: ["aws"], from: day("11-01") }],
  [
    "successful microsoft requests for dave last month",
    { status: ["SUCCESS"], provider: ["azure"], principal: "dave", from: "2026-10-25T15:30:00.000Z" },
  ],
  ["needs approval for eve@corp.example role admin", { status: ["AWAITING_APPROVAL"], principal: "eve@corp.example", role: "admin" }],
  ["postgresql errors since yesterday", { status: ["FAILED"], provider: ["postgres"], from: day("11-24") }],
  ["denied requests until tuesday", { status: ["DENIED"], to: day("11-25") }],
  ["Failed AWS or GCP requests?", { status: ["FAILED"], provider: ["aws", "gcp"] }],
  ["revoked requests for mallory on monday", { status: ["REVOKED"], principal: "mallory", from: day("11-23"), to: day("11-24") }],
  ["processing requests in progress", { status: ["PROCESSING"] }],
  ["expired google requests xyzzy", { status: ["EXPIRED"], provider: ["gcp"] }, ["xyzzy"]],
  ["pending requests from ana last week", { status: ["PENDING"], principal: "ana", from: "2026-11-18T15:30:00.000Z" }],
  ["from bob since monday", { principal: "bob", from: day("11-23") }],
  ["", {}],
];

describe("plain-words search: interpretQuery (fixed now, UTC)", () => {
  for (const [query, filter, ignored = []] of cases) {
    it(`${JSON.stringify(query)} → ${JSON.stringify(filter)}`, () => {
      const got = interpretQuery(query, NOW);
      assert.deepEqual(got.filter, filter);
      assert.deepEqual(got.ignored, ignored);
    });
  }

  it("interpretedAs says the filter in words", () => {
    assert.equal(
      interpretQuery("failed requests for AWS yesterday", NOW).interpretedAs,
      "FAILED requests on aws received 2026-11-24T00:00:00.000Z – 2026-11-25T00:00:00.000Z",
    );
    assert.equal(interpretQuery("pending for alice role admin", NOW).interpretedAs, "PENDING requests for alice with role admin");
    assert.equal(interpretQuery("", NOW).interpretedAs, "requests");
  });

  it("is deterministic: the same query and now give the same answer", () => {
    const q = "granted gcp requests for bob since monday";
    assert.deepEqual(interpretQuery(q, NOW), interpretQuery(q, new Date(NOW)));
  });
});
