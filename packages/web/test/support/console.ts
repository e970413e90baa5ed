// Browser tests of the web console: a real Cairn server on a real port (serving packages/web/dist), driven by
// Debian's Chromium through playwright-core. Never a downloaded browser: the project's CI installs the
// `chromium` package (.ci/run); CAIRN_CHROMIUM points elsewhere.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { type Backend, build, serverUrl, type TestApp } from "../../../server/test/helper.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
/** The build under test: packages/web/dist (`npm run build`), or CAIRN_CONSOLE_DIST (a build of your own elsewhere). */
export const consoleDist = process.env.CAIRN_CONSOLE_DIST ?? path.join(repoRoot, "packages/web/dist");
/** Screenshots of each page, kept as test artifacts (CI keeps the folder; it is not committed). */
export const artifactsDir = path.join(repoRoot, "test-artifacts/web");
export const chromiumPath = process.env.CAIRN_CHROMIUM ?? "/usr/bin/chromium";

/** The browser tests run on real PostgreSQL when the suite has it (CI), else on the embedded store. */
export const consoleBackend: Backend = serverUrl ? "postgres" : "pglite";

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: install Debian's package (apt-get install -y chromium; .ci/run does) or set CAIRN_CHROMIUM`,
    );
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Root in CI has no sandbox; the rest keeps Chromium off the (closed) network at start.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

export interface ConsoleHarness {
  cairn: TestApp;
  /** http://127.0.0.1:<port> of the real server. */
  url: string;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console errors, page errors and failed same-origin requests seen so far (CSP violations show up here). */
  errors: string[];
  /** Opens `path` and signs in with an API key (default: the tenant admin key); lands on `path`. */
  signInWithKey(path?: string, key?: string): Promise<void>;
  /** Saves a full-page PNG to test-artifacts/web/<name>.png. */
  shot(name: string): Promise<string>;
  /** Fails the test if the browser logged any error. */
  assertNoConsoleErrors(): void;
  /** A user of the tenant with these roles bound everywhere (through the API, as an admin would); returns its id. */
  addUser(email: string, password: string, roles: string[]): Promise<string>;
  /** Signs `page` (default: the main page) in with email and password; lands on `path`. */
  signInWithPassword(email: string, password: string, path?: string, page?: Page): Promise<void>;
  /** Another browser tab with its own storage (another user), its errors collected into `errors` too. */
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
}

/** Errors the test expects to provoke (a 4xx the page shows to the user) are not console errors of the app. */
function watch(page: Page, errors: string[], origin: string) {
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const text = msg.text();
    // Chromium logs every non-2xx fetch as "Failed to load resource"; the page shows those to the user itself.
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    errors.push(`console: ${text}`);
  });
  page.on("pageerror", (err) => errors.push(`page error: ${err.message}`));
  page.on("requestfailed", (req) => {
    const failure = req.failure()?.errorText ?? "";
    // Streams the page closes itself (watch on navigation) end as aborted.
    if (req.url().startsWith(origin) && !/ERR_ABORTED/.test(failure)) errors.push(`request failed: ${req.url()} ${failure}`);
  });
}

/**
 * A real server on a fresh store (PostgreSQL when available), listening on a free port, and a Chromium page.
 * Everything is closed after the test.
 */
export async function openConsole(
  t: Pick<TestContext, "after">,
  options: { env?: Record<string, string>; viewport?: { width: number; height: number } } = {},
): Promise<ConsoleHarness> {
  if (!existsSync(path.join(consoleDist, "index.html"))) {
    throw new Error(`the console is not built (${consoleDist}): run \`npm run build\` first (npm test does)`);
  }
  const cairn = await build(t, consoleBackend, { CAIRN_CONSOLE_DIR: consoleDist, ...options.env });
  await cairn.app.listen({ host: "127.0.0.1", port: 0 });
  const address = cairn.app.server.address();
  assert.ok(address && typeof address === "object");
  const url = `http://127.0.0.1:${address.port}`;
  const browser = await launchChromium();
  const errors: string[] = [];
  const contexts: BrowserContext[] = [];
  const open = async (viewport = options.viewport ?? DESKTOP) => {
    const ctx = await browser.newContext({ viewport, baseURL: url });
    contexts.push(ctx);
    const page = await ctx.newPage();
    watch(page, errors, url);
    return { ctx, page };
  };
  const { ctx: context, page } = await open();
  t.after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser.close();
  });
  await mkdir(artifactsDir, { recursive: true });
  return {
    cairn,
    url,
    browser,
    context,
    page,
    errors,
    async signInWithKey(target = "/configs", key = cairn.adminKey) {
      await page.goto(target);
      await page.getByRole("radio", { name: "API key" }).check();
      await page.getByLabel("Your API key").fill(key);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("navigation", { name: "Sections" }).waitFor();
    },
    async addUser(email, password, roles) {
      const user = await cairn.call("POST", "/api/v1/users", { email, password });
      assert.equal(user.status, 201, user.text);
      for (const role of roles) {
        const binding = await cairn.call("POST", "/api/v1/role-bindings", { role, subject: { type: "user", id: user.json.id } });
        assert.equal(binding.status, 201, binding.text);
      }
      return user.json.id as string;
    },
    async signInWithPassword(email, password, target = "/configs", on = page) {
      await on.goto(target);
      await on.getByLabel("Email", { exact: true }).fill(email);
      await on.getByLabel("Password", { exact: true }).fill(password);
      await on.getByRole("button", { name: "Sign in" }).click();
      await on.getByRole("navigation", { name: "Sections" }).waitFor();
    },
    async shot(name) {
      const file = path.join(artifactsDir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    assertNoConsoleErrors() {
      assert.deepEqual(errors, [], "the browser logged errors");
    },
    async newPage(viewport) {
      return (await open(viewport)).page;
    },
  };
}
