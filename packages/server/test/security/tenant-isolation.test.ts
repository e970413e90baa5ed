import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, ns, useApp } from "../helper.js";

/**
 * Tenants are hard walls. Every route of the OpenAPI document that names an object (a namespace, key,
 * id or name) is called with tenant B's admin key on tenant A's objects: 404, never 403, never A's data —
 * and afterwards A's objects are exactly as they were. Routes that create in the caller's own space
 * (PUT a config, a schema, a role) may succeed, but only inside B.
 */
const CREATES_IN_OWN_TENANT = new Set([
  "PUT /api/v1/configs/{ns}/{key}",
  "POST /api/v1/configs/{ns}/{key}",
  "PUT /api/v1/schemas/{ns}/{key}",
  "PUT /api/v1/roles/{name}",
  "POST /api/v1/configs/{ns}/validate",
  "PUT /api/v1/secrets/{ns}/{key}",
]);

const bodies: Record<string, unknown> = {
  "PUT /api/v1/configs/{ns}/{key}": { value: "from-b" },
  "POST /api/v1/configs/{ns}/{key}": { value: "from-b" },
  "POST /api/v1/configs/{ns}/{key}/rollback": { version: 1 },
  "POST /api/v1/configs/{ns}/validate": { values: { k: 1 } },
  "PUT /api/v1/schemas/{ns}/{key}": { schema: { type: "string" } },
  "PUT /api/v1/roles/{name}": { rules: [{ effect: "allow", permission: "configs:**:read" }] },
  "POST /api/v1/keys/{id}/rotate": {},
  "PATCH /api/v1/alerts/rules/{id}": { enabled: false },
  "PATCH /api/v1/alerts/channels/{id}": { enabled: false },
  "PUT /api/v1/approval-policies/{id}": { name: "b-policy", kind: "access_request", requiredApprovals: 2 },
  "POST /api/v1/change-requests/{id}/approve": {},
  "POST /api/v1/change-requests/{id}/reject": {},
  "PUT /api/v1/secrets/{ns}/{key}": { type: "generic", value: "from-b" },
  "POST /api/v1/secrets/{ns}/{key}/rotate": {},
  "PUT /api/v1/secrets/{ns}/{key}/policy": { intervalSeconds: 86400 },
  "PATCH /api/v1/environments/{name}": { requireApproval: false },
  "POST /api/v1/requests/{id}/approve": {},
  "POST /api/v1/requests/{id}/deny": {},
  "POST /api/v1/requests/{id}/revoke": {},
};

for (const backend of backends()) {
  describe(`tenant isolation from the OpenAPI document (${backend})`, () => {
    const cairn = useApp(backend);

    async function snapshotOfA(a: Record<string, string>): Promise<string> {
      const reads = [
        "/api/v1/configs/iso%2Fa/k?reveal=true",
        "/api/v1/configs/iso%2Fa/k/history",
        "/api/v1/configs/iso%2Fa",
        "/api/v1/schemas/iso%2Fa/k",
        `/api/v1/keys/${a.key}`,
        `/api/v1/users/${a.user}`,
        `/api/v1/groups/${a.group}`,
        "/api/v1/roles/custom-a",
        `/api/v1/role-bindings/${a.binding}`,
        `/api/v1/alerts/rules/${a.alertRule}`,
        `/api/v1/alerts/channels/${a.alertChannel}`,
        `/api/v1/approval-policies/${a.policy}`,
        `/api/v1/requests/${a.accessRequest}`,
        `/api/v1/change-requests/${a.changeRequest}`,
      ];
      const out = [];
      for (const url of reads) {
        const res = await cairn.call("GET", url);
        assert.equal(res.status, 200, `${url}: ${res.text}`);
        const { lastUsedAt: _l, usageCount: _u, ...stable } = res.json;
        out.push(stable);
      }
      return JSON.stringify(out);
    }

    it("every object route answers tenant B with 404 and leaves tenant A unchanged", async () => {
      // Tenant A (the default tenant) and its objects. An alert channel (SMTP to a closed local port: its
      // deliveries stay pending) and a rule on iso/** writes, so the first write below queues a delivery.
      const alertChannel = await cairn.call("POST", "/api/v1/alerts/channels", {
        name: "a-mail",
        type: "email",
        config: { host: "127.0.0.1", port: 9, from: "a@example.com", to: ["oncall@example.com"] },
      });
      assert.equal(alertChannel.status, 201, alertChannel.text);
      const alertRule = await cairn.call("POST", "/api/v1/alerts/rules", {
        name: "a-writes",
        events: ["config.*"],
        match: [{ namespaces: ["iso/**"] }],
        channels: [alertChannel.json.id],
      });
      assert.equal(alertRule.status, 201, alertRule.text);
      await cairn.call("PUT", `/api/v1/configs/${ns("iso/a")}/k`, { value: "a-secret-value", secret: true });
      await cairn.call("PUT", `/api/v1/schemas/${ns("iso/a")}/k`, { schema: { type: "string" } });
      const key = await cairn.call("POST", "/api/v1/keys", { name: "a-key", roles: ["viewer"] });
      const user = await cairn.call("POST", "/api/v1/users", { email: "iso-a@example.com", password: "copper-meadow-violin-58" });
      const group = await cairn.call("POST", "/api/v1/groups", { name: "a-group" });
      await cairn.call("POST", `/api/v1/groups/${group.json.id}/members/${user.json.id}`);
      const role = await cairn.call("POST", "/api/v1/roles", {
        name: "custom-a",
        rules: [{ effect: "allow", permission: "configs:iso/**:read" }],
      });
      assert.equal(role.status, 201, role.text);
      const binding = await cairn.call("POST", "/api/v1/role-bindings", { role: "custom-a", subject: { type: "user", id: user.json.id } });
      assert.equal(binding.status, 201, binding.text);
      let alertDelivery: string | undefined;
      for (let i = 0; i < 500 && !alertDelivery; i++) {
        alertDelivery = (await cairn.call("GET", "/api/v1/alerts/deliveries")).json.items[0]?.id;
        if (!alertDelivery) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(alertDelivery, "tenant A's write queued an alert delivery");
      // Approvals, key rotations, access requests and change requests of A.
      const policy = await cairn.call("POST", "/api/v1/approval-policies", {
        name: "a-policy",
        kind: "access_request",
        requiredApprovals: 1,
      });
      assert.equal(policy.status, 201, policy.text);
      const rotation = await cairn.call("POST", "/api/v1/admin/key-rotations", { kind: "data", namespace: "iso/a" });
      assert.equal(rotation.status, 202, rotation.text);
      const accessRequest = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
      await cairn.store.db
        .insertInto("requests")
        .values({
          correlation_id: accessRequest,
          tenant_id: cairn.bootstrap.tenantId,
          status: "DENIED",
          cloud_provider: "postgres",
          request_payload: JSON.stringify({ provider: "postgres", principal: "a", role: "r", durationSeconds: 60, justification: "a" }),
          principal: "a",
          role: "r",
          duration_seconds: 60,
          requested_by: "a",
        } as never)
        .execute();
      assert.equal((await cairn.call("PATCH", "/api/v1/environments/production", { requireApproval: true })).status, 200);
      const proposal = await cairn.call("PUT", `/api/v1/configs/${ns("iso/a")}/k?environment=production`, { value: "proposed" });
      assert.equal(proposal.status, 202, proposal.text);
      const a = {
        policy: policy.json.id,
        rotation: rotation.json.id,
        accessRequest,
        changeRequest: proposal.json.changeRequest.id,
        key: key.json.id,
        user: user.json.id,
        group: group.json.id,
        binding: binding.json.id,
        alertRule: alertRule.json.id,
        alertChannel: alertChannel.json.id,
        alertDelivery,
      };
      const before = await snapshotOfA(a);

      const tenantB = await cairn.call("POST", "/api/v1/tenants", { name: "tenant-b" });
      assert.equal(tenantB.status, 201, tenantB.text);
      const asB = { authorization: `Bearer ${tenantB.json.adminKey}` };

      const doc = (await cairn.call("GET", "/docs/json")).json as { paths: Record<string, Record<string, unknown>> };
      const values: Record<string, string> = { ns: ns("iso/a"), key: "k", name: "custom-a", userId: a.user };
      const idFor = (path: string) =>
        path.startsWith("/api/v1/keys/")
          ? a.key
          : path.startsWith("/api/v1/users/")
            ? a.user
            : path.startsWith("/api/v1/groups/")
              ? a.group
              : path.startsWith("/api/v1/role-bindings/")
                ? a.binding
                : path.startsWith("/api/v1/alerts/rules/")
                  ? a.alertRule
                  : path.startsWith("/api/v1/alerts/channels/")
                    ? a.alertChannel
                    : path.startsWith("/api/v1/alerts/deliveries/")
                      ? a.alertDelivery
                      : path.startsWith("/api/v1/approval-policies/")
                        ? a.policy
                        : path.startsWith("/api/v1/admin/key-rotations/")
                          ? a.rotation
                          : path.startsWith("/api/v1/requests/")
                            ? a.accessRequest
                            : path.startsWith("/api/v1/change-requests/")
                              ? a.changeRequest
                              : undefined;
      // Routes that create in B's own space go last: after them, B has its own objects at those paths.
      const routes = Object.entries(doc.paths)
        .filter(([path]) => path.startsWith("/api/v1/") && path.includes("{"))
        .flatMap(([path, operations]) =>
          Object.keys(operations).map((method) => ({ path, method, route: `${method.toUpperCase()} ${path}` })),
        )
        .sort((x, y) => Number(CREATES_IN_OWN_TENANT.has(x.route)) - Number(CREATES_IN_OWN_TENANT.has(y.route)));
      let probed = 0;
      for (const { path, method, route } of routes) {
        const url = path.replace(/\{(\w+)\}/g, (_, p: string) => {
          const v = p === "id" ? idFor(path) : values[p];
          assert.ok(v, `no tenant-A object for {${p}} in ${route}: add one to this test`);
          return v;
        });
        const res = await cairn.call(method.toUpperCase(), url, bodies[route], asB);
        probed++;
        assert.ok(!res.text.includes("a-secret-value"), `${route} leaked tenant A's value`);
        assert.ok(!res.text.includes(a.user) || route.includes("{userId}") || route.includes("/users/{id}"), `${route} leaked an id`);
        if (CREATES_IN_OWN_TENANT.has(route)) {
          assert.ok(res.status < 500, `${route}: ${res.text}`);
        } else {
          assert.equal(res.status, 404, `${route} → ${res.status}: ${res.text}`);
        }
      }
      assert.ok(probed >= 20, `only ${probed} routes probed: is the OpenAPI document complete?`);
      assert.equal(await snapshotOfA(a), before, "tenant A's objects are unchanged");
      // What B wrote landed in B's own namespace.
      const own = await cairn.call("GET", `/api/v1/configs/${ns("iso/a")}/k?reveal=true`, undefined, asB);
      assert.equal(own.json.value, "from-b");
    });
  });
}
