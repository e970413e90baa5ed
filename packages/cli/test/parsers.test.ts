/** The CLI's pure helpers: .env parsing, format detection, value parsing, JSON diff. No server needed. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { detectFormat, parseDocument, toImportEntries } from "../src/documents.js";
import { parseDotenv } from "../src/dotenv.js";
import { parseValue } from "../src/input.js";
import { diffValues, toPatch } from "../src/json-patch.js";

test("parseDotenv: comments, export, quotes, escapes, inline comments, CRLF", () => {
  const text = [
    "# a comment",
    "",
    "PLAIN=value",
    "export EXPORTED=yes",
    "SPACED = padded ",
    'DOUBLE="a \\"quoted\\" \\n line"',
    "SINGLE='no $expansion \\n here'",
    "INLINE=value # comment",
    'HASH="keep # this"',
    'MULTI="first',
    'second"',
    "EMPTY=",
    "URL=postgres://u:p@h/db?x=1",
  ].join("\r\n");
  assert.deepEqual(parseDotenv(text), {
    PLAIN: "value",
    EXPORTED: "yes",
    SPACED: "padded",
    DOUBLE: 'a "quoted" \n line',
    SINGLE: "no $expansion \\n here",
    INLINE: "value",
    HASH: "keep # this",
    MULTI: "first\nsecond",
    EMPTY: "",
    URL: "postgres://u:p@h/db?x=1",
  });
});

test("parseDotenv: reports the line of a malformed entry", () => {
  assert.throws(() => parseDotenv("A=1\nnot an assignment\n", "app.env"), /app\.env:2: expected KEY=value/);
  assert.throws(() => parseDotenv('A="open\n', "app.env"), /unterminated double quote/);
});

test("detectFormat: by extension, then by content", () => {
  assert.equal(detectFormat("x.json", ""), "json");
  assert.equal(detectFormat("x.YML", ""), "yaml");
  assert.equal(detectFormat(".env", ""), "dotenv");
  assert.equal(detectFormat(".env.production", ""), "dotenv");
  assert.equal(detectFormat("prod.env", ""), "dotenv");
  assert.equal(detectFormat("-", ' {"a":1}'), "json");
  assert.equal(detectFormat("-", "# c\nA=1\nexport B=2\n"), "dotenv");
  assert.equal(detectFormat("-", "a: 1\nb: [1, 2]\n"), "yaml");
});

test("parseDocument: objects only", () => {
  assert.deepEqual(parseDocument("a: 1\nb: {c: true}\n", "yaml", "f"), { a: 1, b: { c: true } });
  assert.throws(() => parseDocument("[1]", "json", "f.json"), /expected an object/);
  assert.throws(() => parseDocument("{", "json", "f.json"), /f\.json is not valid JSON/);
});

test("toImportEntries: plain objects, exported lists, and masked secrets", () => {
  assert.deepEqual(toImportEntries({ a: 1 }, "f"), [{ key: "a", value: 1 }]);
  const exported = {
    namespace: "n",
    environment: "base",
    items: [
      { key: "a", value: 1, secret: false },
      { key: "s", value: "x", secret: true },
    ],
  };
  assert.deepEqual(toImportEntries(exported, "f"), [
    { key: "a", value: 1, secret: undefined },
    { key: "s", value: "x", secret: true },
  ]);
  assert.throws(() => toImportEntries({ s: "••••" }, "f"), /masked secret/);
});

test("parseValue: JSON when it parses, else a string; modes force one reading", () => {
  assert.equal(parseValue("8080", "auto"), 8080);
  assert.equal(parseValue("true", "auto"), true);
  assert.deepEqual(parseValue('{"a":[1]}', "auto"), { a: [1] });
  assert.equal(parseValue("hello world", "auto"), "hello world");
  assert.equal(parseValue("8080", "string"), "8080");
  assert.throws(() => parseValue("hello", "json"), /not valid JSON/);
});

test("diffValues/toPatch: RFC 6902 operations with escaped pointers", () => {
  const before = { host: "a", "x/y": 1, gone: true, list: [1, 2], nested: { k: 1 } };
  const after = { host: "b", "x/y": 2, list: [1, 3], nested: { k: 1, added: null }, longer: [1] };
  assert.deepEqual(toPatch(diffValues(before, after)), [
    { op: "replace", path: "/host", value: "b" },
    { op: "replace", path: "/x~1y", value: 2 },
    { op: "remove", path: "/gone" },
    { op: "replace", path: "/list/1", value: 3 },
    { op: "add", path: "/nested/added", value: null },
    { op: "add", path: "/longer", value: [1] },
  ]);
  assert.deepEqual(diffValues("same", "same"), []);
  assert.deepEqual(toPatch(diffValues("a", 1)), [{ op: "replace", path: "", value: 1 }]);
  assert.deepEqual(toPatch(diffValues([1], [1, 2])), [{ op: "replace", path: "", value: [1, 2] }]);
  assert.deepEqual(toPatch(diffValues(undefined, "new")), [{ op: "add", path: "", value: "new" }]);
});
