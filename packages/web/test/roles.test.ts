// The Roles and bindings page: built-in roles marked, a custom role with a deny rule made in the UI (a bad
// permission, then an inheritance cycle, shown inline as the server's 422 says them), bound to an API key,
// "Explain" saying the key is denied by that rule of that role; the binding and a role deleted again.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openConsole, PHONE } from "./support/console.js";

describe("roles and bindings page", () => {
  test("create a role with a deny rule, bind it to a key, explain → denied by that rule; delete the binding", {
    timeout: 90_000,
  }, async (t) => {
    const c = await openConsole(t);
    const { cairn, page } = c;
    const created = await cairn.call("POST", "/api/v1/keys", { name: "ci-bot", roles: ["operator"] });
    assert.equal(created.status, 201, created.text);
    const keyId = created.json.id as string;

    await c.signInWithKey("/roles");
    await page.getByRole("heading", { level: 1, name: "Roles and bindings" }).waitFor();
    const roleList = page.getByRole("list", { name: "Roles" });
    await roleList.getByRole("button", { name: /^admin\s*built-in$/ }).waitFor();
    // A built-in role's rules, read-only.
    await roleList.getByRole("button", { name: /^operator/ }).click();
    await page.getByRole("table", { name: "Rules of role operator" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Edit role" }).count(), 0, "built-in roles cannot be edited");

    // New role: a bad permission first (422, shown at the field), then the deny rule.
    await page.getByRole("button", { name: "New role" }).click();
    const dialog = page.getByRole("dialog", { name: "New role" });
    await dialog.getByLabel("Name").fill("no-prod-writes");
    await dialog.getByLabel("Description").fill("CI may not write production");
    await dialog.getByLabel("Effect of rule 1").selectOption("deny");
    await dialog.getByLabel("Permission of rule 1").fill("configs:prod/**");
    await dialog.getByRole("button", { name: "Create role" }).click();
    await dialog
      .locator(".field-error")
      .filter({ hasText: /permission/i })
      .waitFor();
    assert.equal(await dialog.getByLabel("Permission of rule 1").getAttribute("aria-invalid"), "true");
    await dialog.getByLabel("Permission of rule 1").fill("configs:prod/**:write");
    await dialog.getByRole("button", { name: "Add rule" }).click();
    await dialog.getByLabel("Permission of rule 2").fill("configs:prod/**:delete");
    await dialog.getByLabel("Effect of rule 2").selectOption("deny");
    await dialog.getByRole("button", { name: "Create role" }).click();
    await page.getByRole("status").filter({ hasText: "Role no-prod-writes saved." }).waitFor();
    const rules = page.getByRole("table", { name: "Rules of role no-prod-writes" });
    await rules.getByText("configs:prod/**:write").waitFor();
    assert.equal(await rules.getByText("deny").count(), 2);
    const role = await cairn.call("GET", "/api/v1/roles/no-prod-writes");
    assert.equal(role.status, 200);
    assert.deepEqual(role.json.rules, [
      { effect: "deny", permission: "configs:prod/**:write" },
      { effect: "deny", permission: "configs:prod/**:delete" },
    ]);
    assert.equal(role.json.builtin, false);

    // Inheritance: a second role inheriting the first; making the first inherit the second is a cycle (422, inline).
    await page.getByRole("button", { name: "New role" }).click();
    await dialog.getByLabel("Name").fill("ci-restricted");
    await dialog.getByRole("checkbox", { name: "no-prod-writes" }).check();
    await dialog.getByRole("button", { name: "Remove rule 1" }).click();
    await dialog.getByRole("button", { name: "Create role" }).click();
    await page.getByRole("status").filter({ hasText: "Role ci-restricted saved." }).waitFor();
    await roleList.getByRole("button", { name: "no-prod-writes" }).click();
    await page.getByRole("button", { name: "Edit role" }).click();
    const edit = page.getByRole("dialog", { name: "Edit role no-prod-writes" });
    await edit.getByRole("checkbox", { name: "ci-restricted" }).check();
    await edit.getByRole("button", { name: "Save role" }).click();
    await edit.locator(".field-error").filter({ hasText: "would create the cycle" }).waitFor();
    await edit
      .getByRole("alert")
      .filter({ hasText: /inheritance cycle/ })
      .first()
      .waitFor();
    await c.shot("roles-cycle-error");
    await edit.getByRole("button", { name: "Cancel" }).click();
    assert.deepEqual((await cairn.call("GET", "/api/v1/roles/no-prod-writes")).json.inherits, [], "the cycle was not saved");

    // Bind it to the key.
    const form = page.getByRole("form", { name: "New role binding" });
    await form.getByLabel("Role").selectOption("no-prod-writes");
    await form.getByLabel("Subject type").selectOption("key");
    await form.getByLabel("Subject id").fill(keyId);
    await form.getByLabel("Namespace pattern").fill("**");
    await form.getByRole("button", { name: "Create binding" }).click();
    await page
      .getByRole("status")
      .filter({ hasText: `Bound no-prod-writes to key ${keyId} in **.` })
      .waitFor();
    const bindings = page.getByRole("table", { name: "Role bindings" });
    const row = bindings.getByRole("row").filter({ hasText: keyId });
    await row.getByText("(ci-bot)").waitFor();
    const bound = (await cairn.call("GET", `/api/v1/role-bindings?subjectId=${keyId}`)).json.items;
    assert.equal(bound.length, 1);
    assert.equal(bound[0].role, "no-prod-writes");

    // Explain: the key may read prod, but writing there is denied by the role's rule.
    const explain = page.getByRole("form", { name: "Explain an access decision" });
    await explain.getByLabel("Who").selectOption("key");
    await explain.getByLabel("Their id").fill(keyId);
    await explain.getByLabel("Resource").selectOption("configs");
    await explain.getByLabel("Action").selectOption("write");
    await explain.getByLabel("Namespace").fill("prod/api");
    await explain.getByRole("button", { name: "Explain" }).click();
    const decision = page.locator(".explain-result");
    await decision.getByText("denied", { exact: true }).waitFor();
    await decision.getByText("configs:prod/**:write", { exact: true }).waitFor();
    await decision.getByText("no-prod-writes", { exact: true }).waitFor();
    const check = await cairn.call("POST", "/api/v1/authz/check", {
      subject: { type: "key", id: keyId },
      resource: "configs",
      namespace: "prod/api",
      action: "write",
    });
    assert.equal(check.json.allowed, false);
    assert.equal(check.json.decidedBy.role, "no-prod-writes");
    await c.shot("roles-explain-denied");
    await explain.getByLabel("Action").selectOption("read");
    await explain.getByRole("button", { name: "Explain" }).click();
    await decision.getByText("allowed", { exact: true }).waitFor();

    // Phone width: no page-level sideways scroll.
    await page.setViewportSize(PHONE);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `no page-level horizontal scroll at phone width (${overflow}px)`);
    await c.shot("roles-phone");
    await page.setViewportSize({ width: 1280, height: 800 });

    // Delete the binding, then the role nobody uses any more.
    await row.getByRole("button", { name: `Delete binding of no-prod-writes to key ${keyId}` }).click();
    await page.getByRole("status").filter({ hasText: "Binding of no-prod-writes" }).waitFor();
    await bindings.getByRole("row").filter({ hasText: keyId }).waitFor({ state: "detached" });
    assert.equal((await cairn.call("GET", `/api/v1/role-bindings?subjectId=${keyId}`)).json.items.length, 0);
    await roleList.getByRole("button", { name: "ci-restricted" }).click();
    await page.getByRole("button", { name: "Delete role" }).click();
    await page.getByRole("dialog", { name: "Delete role" }).getByRole("button", { name: "Delete ci-restricted" }).click();
    await page.getByRole("status").filter({ hasText: "Role ci-restricted deleted." }).waitFor();
    assert.equal((await cairn.call("GET", "/api/v1/roles/ci-restricted")).status, 404);
    await c.shot("roles-list");
    c.assertNoConsoleErrors();
  });
});
