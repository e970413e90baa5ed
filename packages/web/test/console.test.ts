// The console shell: served by the server at /, sign-in with an API key and with a user session, deep links,
// sign-out, security headers, phone width and keyboard use. Pages have their own test files.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openConsole, PHONE } from "./support/console.js";

describe("web console shell", () => {
  test("served at / with a strict CSP; the API keeps its own 404s; deep links load the app", async (t) => {
    const { url, cairn } = await openConsole(t);
    const home = await fetch(`${url}/`, { headers: { accept: "text/html" } });
    assert.equal(home.status, 200);
    assert.match(home.headers.get("content-type") ?? "", /text\/html/);
    const csp = home.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(home.headers.get("x-frame-options"), "DENY");
    assert.equal(home.headers.get("cache-control"), "no-cache");
    const html = await home.text();
    assert.match(html, /<div id="root">/);
    assert.doesNotMatch(html, /<script>(?!<\/script>)/, "no inline script (the CSP would block it)");

    const asset = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
    assert.ok(asset, "index.html loads a hashed bundle");
    const js = await fetch(`${url}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("cache-control") ?? "", /immutable/);

    const deep = await fetch(`${url}/keys/some/deep/link?x=1`, { headers: { accept: "text/html" } });
    assert.equal(deep.status, 200, "a page path returns the app, which routes it");
    assert.equal(await deep.text(), html);

    const api = await fetch(`${url}/api/v1/nope`, { headers: { accept: "text/html" } });
    assert.equal(api.status, 404);
    assert.match(api.headers.get("content-type") ?? "", /application\/problem\+json/);
    const missingAsset = await fetch(`${url}/assets/missing.js`);
    assert.equal(missingAsset.status, 404);
    // The API's own answers carry no console CSP (they are JSON, and /docs needs its inline scripts).
    const health = await cairn.app.inject({ method: "GET", url: "/health" });
    assert.equal(health.headers["content-security-policy"], undefined);
  });

  test("sign in with the admin key: lands on the page asked for, shows who is signed in; a reload keeps the session; sign out forgets it", async (t) => {
    const c = await openConsole(t);
    await c.page.goto("/keys");
    await c.page.waitForURL(/\/signin\?next=%2Fkeys$/);
    await c.page.getByRole("radio", { name: "API key" }).check();
    await c.page.getByLabel("Your API key").fill("cairn_wrong_key");
    await c.page.getByRole("button", { name: "Sign in" }).click();
    await c.page
      .getByRole("alert")
      .filter({ hasText: /unauthori|invalid|key/i })
      .waitFor();
    await c.page.getByLabel("Your API key").fill(c.cairn.adminKey);
    await c.page.getByRole("button", { name: "Sign in" }).click();
    await c.page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
    assert.match(c.page.url(), /\/keys$/);
    await c.page.getByText("API key", { exact: true }).first().waitFor();
    await c.page.reload();
    await c.page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
    await c.shot("shell-keys");
    await c.page.getByRole("button", { name: "Sign out" }).click();
    await c.page.getByRole("heading", { name: /Sign in to Cairn/ }).waitFor();
    await c.page.goto("/configs");
    await c.page.getByRole("heading", { name: /Sign in to Cairn/ }).waitFor();
    c.assertNoConsoleErrors();
  });

  test("sign in with email and password: a user session; signing out ends it on the server", async (t) => {
    const c = await openConsole(t);
    await c.addUser("ana@example.com", "a long passphrase 42", ["viewer"]);
    await c.page.goto("/");
    await c.page.getByLabel("Email", { exact: true }).fill("ana@example.com");
    await c.page.getByLabel("Password", { exact: true }).fill("not the password at all");
    await c.page.getByRole("button", { name: "Sign in" }).click();
    await c.page.getByRole("alert").waitFor();
    await c.page.getByLabel("Password", { exact: true }).fill("a long passphrase 42");
    await c.page.getByRole("button", { name: "Sign in" }).click();
    await c.page.getByText("ana@example.com").waitFor();
    const stored = await c.page.evaluate(() => sessionStorage.getItem("cairn.console.credentials"));
    const refreshToken = JSON.parse(stored ?? "{}").refreshToken as string;
    assert.ok(refreshToken, "the session's refresh token is kept for the tab");
    await c.page.getByRole("button", { name: "Sign out" }).click();
    await c.page.getByRole("heading", { name: /Sign in to Cairn/ }).waitFor();
    const refresh = await c.cairn.call("POST", "/api/v1/auth/refresh", { refreshToken }, { authorization: "" });
    assert.equal(refresh.status, 401, "the refresh token no longer works after sign-out");
    c.assertNoConsoleErrors();
  });

  test("keyboard: skip link, then the navigation reaches every section; at phone width the navigation scrolls sideways", async (t) => {
    const c = await openConsole(t, { viewport: PHONE });
    // A long name in the top bar must not widen the page either.
    const email = "a.rather.long.name.for.a.phone@platform-security.example.com";
    await c.addUser(email, "a long passphrase 42", ["viewer"]);
    await c.signInWithPassword(email, "a long passphrase 42", "/configs");
    await c.page.keyboard.press("Tab");
    assert.equal(await c.page.evaluate(() => document.activeElement?.textContent), "Skip to content");
    const nav = c.page.getByRole("navigation", { name: "Sections" });
    for (const name of ["Configs", "Secrets", "API keys", "Audit", "Access requests", "Roles"]) {
      await nav.getByRole("link", { name, exact: true }).focus();
      await c.page.keyboard.press("Enter");
      // The link of the page now shown is marked current (navigation is asynchronous: wait for it).
      await nav.locator('a[aria-current="page"]', { hasText: name }).waitFor();
      await c.page.getByRole("heading", { level: 1 }).waitFor();
    }
    const overflow = await c.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the page does not scroll sideways at phone width (by ${overflow}px)`);
    await c.shot("shell-phone");
    c.assertNoConsoleErrors();
  });
});
