// The Configs page against a real server in Chromium: the namespace tree and the environments side by side,
// create and edit (If-Match, invalid JSON and JSON Schema errors inline), live updates from another writer,
// history with a diff, rollback, the point-in-time view, export/import, and phone width.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import type { Locator, Page } from "playwright-core";
import { type ConsoleHarness, openConsole, PHONE } from "./support/console.js";

const enc = encodeURIComponent;

async function put(c: ConsoleHarness, ns: string, key: string, value: unknown, environment = "base", extra: object = {}) {
  const res = await c.cairn.call("PUT", `/api/v1/configs/${enc(ns)}/${enc(key)}?environment=${environment}`, { value, ...extra });
  assert.equal(res.status, 200, res.text);
  return res.json as { version: number };
}

async function read(c: ConsoleHarness, ns: string, key: string, environment = "base") {
  const res = await c.cairn.call("GET", `/api/v1/configs/${enc(ns)}/${enc(key)}?environment=${environment}`);
  assert.equal(res.status, 200, res.text);
  return res.json as { value: unknown; version: number; resolvedFrom: string };
}

const text = async (locator: Locator) => (await locator.textContent()) ?? "";

/** The JSON in a field comes to equal `expected` (fields are filled asynchronously, e.g. "Load the current value"). */
async function jsonIn(field: Locator, expected: unknown) {
  const parsed = async () => {
    try {
      return JSON.parse(await field.inputValue());
    } catch {
      return undefined;
    }
  };
  for (let i = 0; i < 50 && !isDeepStrictEqual(await parsed(), expected); i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(await parsed(), expected);
}

/** The table cell of `key` in `env`. */
const cell = (page: Page, key: string, env: string) => page.locator(`tr[data-key="${key}"] td[data-env="${env}"]`);

async function noSidewaysScroll(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `the page does not scroll sideways (by ${overflow}px)`);
}

describe("configs page", () => {
  test("tree and environments side by side; create and edit a key (If-Match); invalid JSON and schema errors inline", async (t) => {
    const c = await openConsole(t);
    await put(c, "production/ml-service", "threshold", 0.5);
    await put(c, "production/ml-service", "threshold", 0.9, "production");
    await put(c, "production/ml-service", "api.token", "tok_123", "base", { secret: true });
    await put(c, "payments/api", "timeout", 30);
    const schema = await c.cairn.call("PUT", `/api/v1/schemas/${enc("production/ml-service")}/workers`, {
      schema: { type: "integer", minimum: 1, maximum: 64 },
    });
    assert.equal(schema.status, 200, schema.text);
    await put(c, "production/ml-service", "workers", 4);

    await c.signInWithKey("/configs");
    const tree = c.page.getByRole("navigation", { name: "Namespaces" });
    await tree.getByRole("link", { name: /^production/ }).waitFor();
    await tree.getByRole("link", { name: /^ml-service/ }).click();
    await c.page.waitForURL(/\?ns=production%2Fml-service$/);
    await c.page.getByText("Live", { exact: true }).waitFor();

    // Inherited values say where they come from; an override shows its own version; secrets stay masked.
    await cell(c.page, "threshold", "staging").getByText("from base").waitFor();
    assert.match(await text(cell(c.page, "threshold", "staging")), /0\.5/);
    assert.match(await text(cell(c.page, "threshold", "production")), /0\.9\s*v1/);
    assert.match(await text(cell(c.page, "api.token", "base")), /•••• \(masked\)/);
    assert.doesNotMatch(await text(c.page.locator("main")), /tok_123/);

    // The selection is in the URL: a reload keeps it, and folders fold with the keyboard.
    await c.page.reload();
    await tree
      .getByRole("link", { name: /^ml-service/ })
      .and(c.page.locator('[aria-current="page"]'))
      .waitFor();
    const fold = tree.getByRole("button", { name: "Collapse production" });
    await fold.focus();
    await c.page.keyboard.press("Enter");
    await tree.getByRole("button", { name: "Expand production" }).waitFor();
    assert.equal(await tree.getByRole("link", { name: /^ml-service/ }).count(), 0);
    await c.page.keyboard.press("Enter");
    await tree.getByRole("link", { name: /^ml-service/ }).waitFor();
    await c.shot("configs-table");

    // Create: invalid JSON is caught before anything is sent.
    await c.page.getByRole("button", { name: "New key" }).click();
    const dialog = c.page.getByRole("dialog", { name: "New key" });
    assert.equal(await dialog.getByLabel("Namespace").inputValue(), "production/ml-service");
    await dialog.getByLabel("Key").fill("batch");
    await dialog.getByLabel("Value (JSON)").fill('{"size": 1');
    await dialog.getByRole("button", { name: "Create" }).click();
    await dialog.getByText(/Not valid JSON/).waitFor();
    assert.equal(await dialog.getByLabel("Value (JSON)").getAttribute("aria-invalid"), "true");
    await dialog.getByLabel("Value (JSON)").fill('{"size": 10}');
    await dialog.getByLabel("Reason").fill("first cut");
    await dialog.getByRole("button", { name: "Create" }).click();
    await c.page.getByRole("status").filter({ hasText: "Saved batch in base (version 1)" }).waitFor();
    assert.deepEqual((await read(c, "production/ml-service", "batch")).value, { size: 10 });
    await cell(c.page, "batch", "production").getByText("from base").waitFor();

    // Edit with If-Match: a write made meanwhile is not overwritten (412), then the current value is loaded.
    await c.page.getByRole("button", { name: "Edit batch in base" }).click();
    const edit = c.page.getByRole("dialog", { name: "Edit batch in base" });
    await jsonIn(edit.getByLabel("Value (JSON)"), { size: 10 });
    await put(c, "production/ml-service", "batch", { size: 15 });
    await edit.getByLabel("Value (JSON)").fill('{"size": 20}');
    await edit.getByRole("button", { name: "Save" }).click();
    await edit
      .getByRole("alert")
      .filter({ hasText: /version 2/ })
      .waitFor();
    assert.deepEqual((await read(c, "production/ml-service", "batch")).value, { size: 15 });
    await edit.getByRole("button", { name: "Load the current value" }).click();
    await jsonIn(edit.getByLabel("Value (JSON)"), { size: 15 });
    await edit.getByLabel("Value (JSON)").fill('{"size": 20}');
    await edit.getByRole("button", { name: "Save" }).click();
    await c.page.getByRole("status").filter({ hasText: "Saved batch in base (version 3)" }).waitFor();
    const saved = await read(c, "production/ml-service", "batch");
    assert.deepEqual([saved.value, saved.version], [{ size: 20 }, 3]);
    // The row is read again after the save; it must end on the saved value (never stay on an older read).
    await cell(c.page, "batch", "base")
      .getByText(/"size":20/)
      .waitFor();

    // Override an inherited value in production.
    await c.page.getByRole("button", { name: "Override batch in production" }).click();
    const override = c.page.getByRole("dialog", { name: "Edit batch in production" });
    await override.getByLabel("Value (JSON)").fill('{"size": 99}');
    await override.getByRole("button", { name: "Save" }).click();
    await c.page.getByRole("status").filter({ hasText: "Saved batch in production (version 1)" }).waitFor();
    assert.equal((await read(c, "production/ml-service", "batch", "production")).resolvedFrom, "production");
    assert.deepEqual((await read(c, "production/ml-service", "batch", "staging")).value, { size: 20 });

    // A key with a JSON Schema: the violation shows next to the field while typing, and the server refuses it (422).
    await c.page.getByRole("button", { name: "Edit workers in base" }).click();
    const workers = c.page.getByRole("dialog", { name: "Edit workers in base" });
    await workers.getByText("JSON Schema of workers").waitFor();
    await workers.getByLabel("Value (JSON)").fill("500");
    const fieldError = workers.locator(".field-error");
    await fieldError.filter({ hasText: /64/ }).waitFor();
    await workers.getByRole("button", { name: "Save" }).click();
    await fieldError.filter({ hasText: /64/ }).waitFor();
    await c.shot("configs-schema-error");
    assert.equal((await read(c, "production/ml-service", "workers")).value, 4, "the server kept the valid value");
    await workers.getByLabel("Value (JSON)").fill("8");
    await fieldError.waitFor({ state: "detached" });
    await workers.getByRole("button", { name: "Save" }).click();
    await c.page.getByRole("status").filter({ hasText: "Saved workers in base (version 2)" }).waitFor();
    assert.equal((await read(c, "production/ml-service", "workers")).value, 8);
    c.assertNoConsoleErrors();
  });

  test("live: a write through the API shows without a reload; history diff, point in time, rollback", async (t) => {
    const c = await openConsole(t);
    await put(c, "shop/api", "limits", { rps: 10 });
    await put(c, "shop/api", "limits", { rps: 20, burst: 5 });
    await put(c, "shop/api", "region", "eu-west-1");

    await c.signInWithKey(`/configs?ns=${enc("shop/api")}`);
    await c.page.getByText("Live", { exact: true }).waitFor();
    await c.page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    await put(c, "shop/api", "limits", { rps: 30, burst: 5 });
    await cell(c.page, "limits", "base").getByText('{"rps":30,"burst":5}').waitFor({ timeout: 5000 });
    await cell(c.page, "limits", "production").getByText('{"rps":30,"burst":5}').waitFor();
    await put(c, "shop/api", "fresh.key", true, "staging");
    await cell(c.page, "fresh.key", "staging").getByText("true").waitFor({ timeout: 5000 });
    assert.equal(await c.page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, "the page was not reloaded");

    // History: compare any two versions as a line diff of pretty JSON.
    await c.page.getByRole("button", { name: "History of limits" }).click();
    await c.page.waitForURL(/key=limits/);
    const history = c.page.getByRole("region", { name: "History of limits" });
    await history.getByText("v2 → v3").waitFor();
    await history.getByLabel("Compare version").selectOption("1");
    await history.getByText("v1 → v3").waitFor();
    const removed = await history.locator(".diff .line.removed").allInnerTexts();
    const added = await history.locator(".diff .line.added").allInnerTexts();
    assert.ok(
      removed.some((l) => l.includes('"rps": 10')),
      removed.join("|"),
    );
    assert.ok(
      added.some((l) => l.includes('"rps": 30')),
      added.join("|"),
    );
    assert.ok(
      added.some((l) => l.includes('"burst": 5')),
      added.join("|"),
    );
    await c.shot("configs-history");

    // A live change to the key shows in its history too.
    await put(c, "shop/api", "limits", { rps: 40, burst: 5 });
    await history.locator('tr[data-version="4"]').waitFor({ timeout: 5000 });

    // Point in time: the namespace as it was at version 2 (read-only, not live); then back to now.
    await history.locator('tr[data-version="2"]').getByRole("button", { name: "Namespace then" }).click();
    await c.page.waitForURL(/at=/);
    await c.page.getByText("Point in time (not live)").waitFor();
    await cell(c.page, "limits", "base").getByText('{"rps":20,"burst":5}').waitFor();
    assert.equal(await c.page.locator('tr[data-key="fresh.key"]').count(), 0, "a key written later is not there");
    assert.equal(await c.page.getByRole("button", { name: /^Edit / }).count(), 0, "nothing to edit in the past");
    await c.shot("configs-point-in-time");
    await c.page.getByRole("button", { name: "Back to now" }).click();
    await cell(c.page, "limits", "base").getByText('{"rps":40,"burst":5}').waitFor();
    await c.page.getByText("Live", { exact: true }).waitFor();

    // Rollback to version 1: a new version (restore) with v1's value.
    await history.locator('tr[data-version="1"]').getByRole("button", { name: "Roll back to v1" }).click();
    const dialog = c.page.getByRole("dialog", { name: "Roll back limits" });
    await dialog.getByLabel("Reason").fill("too generous");
    await dialog.getByRole("button", { name: "Roll back to v1" }).click();
    await c.page.getByRole("status").filter({ hasText: "Rolled limits in base back to v1 (now version 5)" }).waitFor();
    const now = await read(c, "shop/api", "limits");
    assert.deepEqual([now.value, now.version], [{ rps: 10 }, 5]);
    const versions = await c.cairn.call("GET", `/api/v1/configs/${enc("shop/api")}/limits/history`);
    assert.equal(versions.json.items[0].changeType, "restore");
    assert.equal(versions.json.items[0].reason, "too generous");
    await cell(c.page, "limits", "base").getByText('{"rps":10}').waitFor();
    await history.locator('tr[data-version="5"]').getByText("restore").waitFor();
    c.assertNoConsoleErrors();
  });

  test("export and import round trip; phone width without sideways scroll", async (t) => {
    const c = await openConsole(t);
    await put(c, "billing/worker", "retries", 3);
    await put(c, "billing/worker", "queue", { name: "jobs", durable: true });
    await put(c, "billing/worker", "greeting", "hello world");
    await put(c, "billing/worker", "db.password", "hunter2", "base", { secret: true });
    await put(c, "billing/worker", "retries", 5, "production");

    await c.signInWithKey(`/configs?ns=${enc("billing/worker")}`);
    const exportForm = c.page.getByRole("form", { name: "Export" });
    await exportForm.getByLabel("Environment").selectOption("production");
    const [download] = await Promise.all([
      c.page.waitForEvent("download"),
      exportForm.getByRole("button", { name: "Download export" }).click(),
    ]);
    assert.equal(download.suggestedFilename(), "billing_worker.production.json");
    const exported = await readFile(await download.path(), "utf8");
    const doc = JSON.parse(exported) as { items: { key: string; value: unknown; secret: boolean }[] };
    const byKey = Object.fromEntries(doc.items.map((i) => [i.key, i.value]));
    assert.deepEqual(byKey, {
      "db.password": "••••",
      greeting: "hello world",
      queue: { name: "jobs", durable: true },
      retries: 5,
    });

    await exportForm.getByLabel("Format").selectOption("dotenv");
    const [dotenv] = await Promise.all([
      c.page.waitForEvent("download"),
      exportForm.getByRole("button", { name: "Download export" }).click(),
    ]);
    assert.match(await readFile(await dotenv.path(), "utf8"), /^RETRIES=5$/m);

    // Import the JSON export into another namespace: masked secrets are left out and said so.
    const file = path.join(tmpdir(), `cairn-configs-export-${process.pid}.json`);
    await writeFile(file, exported);
    const importForm = c.page.getByRole("form", { name: "Import" });
    await importForm.getByLabel("Into namespace").fill("billing/worker-copy");
    await importForm.getByLabel("Environment").selectOption("staging");
    await importForm.getByLabel("JSON file").setInputFiles(file);
    await importForm.getByText("3 keys to set").waitFor();
    await importForm.getByText(/Skipped db\.password: a secret/).waitFor();
    await importForm.getByRole("button", { name: "Import 3 keys" }).click();
    await importForm
      .getByRole("status")
      .filter({ hasText: "Imported 3 keys into billing/worker-copy (staging): 3 created, 0 updated, 1 skipped." })
      .waitFor();
    await c.shot("configs-import");
    const copy = await c.cairn.call("GET", `/api/v1/configs/${enc("billing/worker-copy")}?environment=staging`);
    assert.equal(copy.status, 200, copy.text);
    assert.deepEqual(Object.fromEntries((copy.json.items as { key: string; value: unknown }[]).map((i) => [i.key, i.value])), {
      greeting: "hello world",
      queue: { name: "jobs", durable: true },
      retries: 5,
    });
    const tree = c.page.getByRole("navigation", { name: "Namespaces" });
    await tree.getByRole("link", { name: /^worker-copy/ }).click();
    await cell(c.page, "retries", "staging").getByText("5").waitFor();
    await cell(c.page, "retries", "base").getByText("not set").waitFor();

    // Phone width: the table and the history scroll inside their boxes, the page does not.
    await c.page.setViewportSize(PHONE);
    await c.page.goto(`/configs?ns=${enc("billing/worker")}&key=queue`);
    await c.page.getByRole("region", { name: "History of queue" }).getByText("v1 → v1").waitFor();
    await c.page.getByText("Live", { exact: true }).waitFor();
    await noSidewaysScroll(c.page);
    await c.shot("configs-phone");
    await c.page.getByRole("button", { name: "New key" }).click();
    await c.page.getByRole("dialog", { name: "New key" }).getByLabel("Key").waitFor();
    await noSidewaysScroll(c.page);
    c.assertNoConsoleErrors();
  });
});
