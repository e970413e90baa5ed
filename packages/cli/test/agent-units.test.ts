/** The agent's pieces that need no server: the template language, option parsers, names, the sealed cache. */
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import type { ResolvedConfig } from "@cairn/sdk";
import { CacheUnreadableError, createDiskCache } from "../src/agent/cache.js";
import { environmentOf, envVarName } from "../src/agent/names.js";
import { listenAddress } from "../src/agent/server.js";
import type { Snapshot } from "../src/agent/snapshot.js";
import { compileTemplate, parseTemplateSpec, renderTemplate } from "../src/agent/templates.js";
import { tempDir } from "./support/cairn.js";

const item = (key: string, value: unknown, secret = false): ResolvedConfig => ({
  namespace: "ns",
  key,
  environment: "base",
  value,
  version: 1,
  secret,
  tags: {},
  updatedAt: "2026-01-01T00:00:00.000Z",
  updatedBy: "key_x",
  resolvedFrom: "base",
});

const items = new Map(
  [item("database.url", "postgres://db/app"), item("pool", { size: 5 }), item("name", " Ada "), item("token", "s3cr3t", true)].map((i) => [
    i.key,
    i,
  ]),
);
const render = (text: string, revealed = true) => renderTemplate(compileTemplate(text, "t.tmpl"), items, revealed);

describe("templates", () => {
  test("values, filters, defaults, comments and escapes", () => {
    assert.equal(render("url={{ database.url }}"), "url=postgres://db/app");
    assert.equal(render("{{pool}} {{ pool | json }}"), '{"size":5} {"size":5}');
    assert.equal(render("{{ name | quote }}|{{ name | trim | upper }}|{{ name | lower }}"), '" Ada "|ADA| ada ');
    assert.equal(render("{{ database.url | base64 }}"), Buffer.from("postgres://db/app").toString("base64"));
    assert.equal(render('{{ missing | default "x \\"y\\"" }}-{{ missing | default 8080 }}'), 'x "y"-8080');
    assert.equal(render("a{{! a comment }}b{{!-- {{ not.a.key }} --}}c"), "abc");
    assert.equal(render("\\{{ database.url }}"), "{{ database.url }}");
    assert.equal(render("{{ token }}"), "s3cr3t");
  });

  test("a key with no value, or a masked secret, fails the render with the place", () => {
    assert.throws(() => render("line\n  {{ missing }}"), /t\.tmpl:2:3: missing has no value \(add a fallback/);
    assert.throws(() => render("{{ token }}", false), /token is a secret the agent's credential may not reveal/);
  });

  test("malformed templates are refused when compiled", () => {
    assert.throws(() => compileTemplate("{{ a ", "t"), /t:1:1: \{\{ is not closed/);
    assert.throws(() => compileTemplate("{{ a | shout }}", "t"), /unknown filter "shout"/);
    assert.throws(() => compileTemplate("{{ a | default }}", "t"), /filter default takes 1 argument/);
    assert.throws(() => compileTemplate("{{ }}", "t"), /expected a key name/);
    assert.throws(() => compileTemplate("{{ a b }}", "t"), /expected \| before "b"/);
    assert.throws(() => compileTemplate("{{!-- open", "t"), /not closed with --\}\}/);
    assert.deepEqual(compileTemplate("{{ a }}{{ b | json }}{{ a }}", "t").keys, ["a", "b"]);
  });

  test("--template specs", () => {
    assert.deepEqual(parseTemplateSpec("@dotenv:out.env").source, { document: "dotenv" });
    assert.match(parseTemplateSpec("in.tmpl:/etc/app.conf").output, /^\/etc\/app\.conf$/);
    assert.throws(() => parseTemplateSpec("no-colon"), /expected in:out/);
    assert.throws(() => parseTemplateSpec(":out"), /expected in:out/);
    assert.throws(() => parseTemplateSpec("in:"), /expected in:out/);
    assert.throws(() => parseTemplateSpec("@toml:out"), /unknown document @toml/);
  });
});

test("--listen addresses", () => {
  assert.deepEqual(listenAddress("127.0.0.1:7070"), { host: "127.0.0.1", port: 7070 });
  assert.deepEqual(listenAddress("[::1]:80"), { host: "::1", port: 80 });
  assert.deepEqual(listenAddress("7070"), { host: "127.0.0.1", port: 7070 });
  assert.deepEqual(listenAddress(":0"), { host: "127.0.0.1", port: 0 });
  assert.throws(() => listenAddress("localhost"), /host:port/);
  assert.throws(() => listenAddress("h:99999"), /host:port/);
});

test("environment variable names", () => {
  assert.equal(envVarName("database.url"), "DATABASE_URL");
  assert.equal(envVarName("feature-flags.beta"), "FEATURE_FLAGS_BETA");
  assert.equal(envVarName("Already_OK_1"), "ALREADY_OK_1");
  const set = environmentOf([item("a", 1), item("b.c", [1, "x"]), item("s", "v", true)], false);
  assert.deepEqual(set, { vars: { A: "1", B_C: '[1,"x"]' }, skipped: ["s"] });
  assert.throws(() => environmentOf([item("a.b", 1), item("a-b", 2)], true), /"a\.b" and "a-b" both become the variable A_B/);
});

describe("the sealed disk cache", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir("agent-cache");
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const scope = { url: "http://127.0.0.1:8080", namespace: "ns", environment: "production" };
  const snapshot: Snapshot = {
    namespace: "ns",
    environment: "production",
    revision: 7,
    syncedAt: "2026-01-01T00:00:00.000Z",
    revealed: true,
    items: [item("token", "plain-secret-value", true)],
  };

  test("round-trips, opens only with the same secret and scope, and detects tampering", async () => {
    const cache = createDiskCache(dir, "cairn_AAAAAAAA_secret-of-the-agent", scope);
    assert.equal(await cache.load(), undefined, "no file yet");
    await cache.save(snapshot);
    assert.deepEqual(await cache.load(), snapshot);
    const text = await readFile(cache.path, "utf8");
    assert.equal(text.includes("plain-secret-value"), false);

    await assert.rejects(createDiskCache(dir, "another-secret-entirely", scope).load(), CacheUnreadableError);
    // Same file name only for the same scope; a file moved into another scope's place does not open.
    const other = createDiskCache(dir, "cairn_AAAAAAAA_secret-of-the-agent", { ...scope, environment: "staging" });
    assert.notEqual(other.path, cache.path);
    await writeFile(other.path, text);
    await assert.rejects(other.load(), CacheUnreadableError);

    const sealed = JSON.parse(text) as { data: string };
    const bytes = Buffer.from(sealed.data, "base64");
    bytes[0] = (bytes[0] as number) ^ 1;
    await writeFile(cache.path, JSON.stringify({ ...sealed, data: bytes.toString("base64") }));
    await assert.rejects(cache.load(), CacheUnreadableError);
  });
});
