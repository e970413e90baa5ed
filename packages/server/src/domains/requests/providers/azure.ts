/**
 * Azure access provider: an Azure RBAC role assignment, created at grant and deleted at revoke, through
 * the ARM REST API (`Microsoft.Authorization/roleAssignments`, api-version 2022-04-01) with a service
 * principal's client-credentials token.
 *
 * Why plain fetch and not @azure/arm-authorization + @azure/identity: the current @azure/identity (4.14)
 * and the @azure/core-* runtime that @azure/arm-authorization 9 pulls in (core-rest-pipeline 1.25,
 * core-client 1.11, core-auth 1.11) all declare `engines: node >=22`, and Cairn runs on Node 20. Two
 * HTTP calls and one token request do not need that stack.
 *
 * The assignment's name is a UUID derived from the correlation id, so a retried grant PUTs the same
 * resource and a revoke finds it without a lookup. Expiry is enforced by Cairn's scheduled revocation.
 */
import { createHash } from "node:crypto";
import type { Settings } from "../../../settings.js";
import { sendToProvider } from "./http.js";
import { type AccessProvider, type GrantInput, type GrantResult, TransientProviderError } from "./types.js";

export interface AzureProviderOptions {
  /** ARM endpoint (default https://management.azure.com). */
  endpoint?: string;
  /** Microsoft Entra token host (default https://login.microsoftonline.com). */
  authorityHost?: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** Requests without a `resource` get the scope `/subscriptions/<id>`. */
  subscriptionId?: string;
  /** Milliseconds one HTTP request may take (default 30 000). */
  timeoutMs?: number;
}

export function azureOptionsFromSettings(
  s: Pick<
    Settings,
    "azureEndpoint" | "azureAuthorityHost" | "azureTenantId" | "azureClientId" | "azureClientSecret" | "azureSubscriptionId"
  >,
): AzureProviderOptions {
  return {
    endpoint: s.azureEndpoint,
    authorityHost: s.azureAuthorityHost,
    tenantId: s.azureTenantId,
    clientId: s.azureClientId,
    clientSecret: s.azureClientSecret,
    subscriptionId: s.azureSubscriptionId,
  };
}

export const AZURE_API_VERSION = "2022-04-01";

/** Built-in role definitions by name; their ids are the same in every tenant. */
const BUILT_IN_ROLES: Record<string, string> = {
  reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
  contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
};

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ROLE_DEFINITION_ID = /^(\/[^/?#\s]+)*\/providers\/Microsoft\.Authorization\/roleDefinitions\/[0-9a-f-]{36}$/i;
/** A fixed namespace for name-based (v5) UUIDs of Cairn's role assignments. */
const NAMESPACE = Buffer.from("5f0d7c1e4b2a4e9a8c3d2b1a0f9e8d7c", "hex");

/** The role assignment name for a request: a UUID v5 of the correlation id, stable across retries. */
export function roleAssignmentName(correlationId: string): string {
  const h = createHash("sha1").update(NAMESPACE).update(correlationId).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export interface AzureGrantRef {
  scope: string;
  roleAssignmentName: string;
  roleDefinitionId: string;
  principalId: string;
}

function plan(input: GrantInput, subscriptionId: string | undefined): AzureGrantRef {
  if (input.permissions?.length) {
    throw new Error("azure: grants take a role (a role definition id or Reader/Contributor/Owner), not individual permissions");
  }
  if (!input.role) throw new Error("azure: a request needs role: a role definition id (GUID or full id) or Reader/Contributor/Owner");
  const principalId = input.principal.trim();
  if (!GUID.test(principalId)) {
    throw new Error(`azure: principal "${input.principal}" must be the object id (GUID) of a user, group or service principal`);
  }
  const scope = (input.resource ?? (subscriptionId ? `/subscriptions/${subscriptionId}` : "")).replace(/\/+$/, "");
  if (!scope)
    throw new Error(
      "azure: a request needs resource: the scope, e.g. /subscriptions/<id>/resourceGroups/<name> (or set AZURE_SUBSCRIPTION_ID)",
    );
  if (!/^(\/[^/?#\s]+)+$/.test(scope) || scope.split("/").some((seg) => seg === "." || seg === "..")) {
    throw new Error(`azure: resource "${scope}" is not an Azure scope such as /subscriptions/<id>/resourceGroups/<name>`);
  }
  const role = input.role.trim();
  const guid = BUILT_IN_ROLES[role.toLowerCase()] ?? (GUID.test(role) ? role : undefined);
  let roleDefinitionId: string;
  if (guid) {
    const subscription = /^\/subscriptions\/[^/]+/i.exec(scope)?.[0] ?? "";
    roleDefinitionId = `${subscription}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
  } else if (ROLE_DEFINITION_ID.test(role)) {
    roleDefinitionId = role;
  } else {
    throw new Error(
      `azure: role "${input.role}" is not a role definition id: give its GUID, /subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<GUID>, or Reader/Contributor/Owner`,
    );
  }
  return { scope, roleAssignmentName: roleAssignmentName(input.correlationId), roleDefinitionId, principalId };
}

function refFrom(input: GrantInput, grantRef: Record<string, unknown>, subscriptionId: string | undefined): AzureGrantRef {
  const r = grantRef as Partial<AzureGrantRef>;
  if (typeof r.scope === "string" && typeof r.roleAssignmentName === "string" && GUID.test(r.roleAssignmentName)) {
    return {
      scope: r.scope,
      roleAssignmentName: r.roleAssignmentName,
      roleDefinitionId: String(r.roleDefinitionId),
      principalId: String(r.principalId),
    };
  }
  return plan(input, subscriptionId);
}

async function errorText(res: Response): Promise<{ code: string; message: string }> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } | string; error_description?: string };
    if (typeof body.error === "string") return { code: body.error, message: (body.error_description ?? "").split("\r\n")[0] ?? "" };
    return { code: body.error?.code ?? `HTTP ${res.status}`, message: body.error?.message ?? "" };
  } catch {
    return { code: `HTTP ${res.status}`, message: text.slice(0, 200) };
  }
}

function isTransient(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export function createAzureProvider(options: AzureProviderOptions = {}): AccessProvider {
  const endpoint = (options.endpoint ?? "https://management.azure.com").replace(/\/+$/, "");
  const authorityHost = (options.authorityHost ?? "https://login.microsoftonline.com").replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 30_000;
  let token: { value: string; until: number } | undefined;

  async function accessToken(): Promise<string> {
    if (token && token.until > Date.now()) return token.value;
    const { tenantId, clientId, clientSecret } = options;
    if (!tenantId || !clientId || !clientSecret) {
      throw new Error("azure: the provider is not configured: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET");
    }
    const res = await sendToProvider(
      "azure",
      "token request",
      `${authorityHost}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: clientId,
          client_secret: clientSecret,
          scope: `${new URL(endpoint).origin}/.default`,
        }),
      },
      timeoutMs,
    );
    if (!res.ok) {
      const { code, message } = await errorText(res);
      const text = `azure: token request for client ${clientId} failed: ${code}${message ? `: ${message}` : ""}`;
      if (isTransient(res.status)) throw new TransientProviderError(`${text} (will retry)`);
      throw new Error(`${text} — check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET`);
    }
    const body = (await res.json()) as { access_token?: string; expires_in?: number | string };
    if (!body.access_token) throw new TransientProviderError("azure: the token endpoint answered without an access_token (will retry)");
    const seconds = Number(body.expires_in ?? 3600);
    token = { value: body.access_token, until: Date.now() + Math.max(0, seconds - 300) * 1000 };
    return token.value;
  }

  async function arm(method: "PUT" | "DELETE", ref: AzureGrantRef, body?: unknown): Promise<number> {
    const url = `${endpoint}${ref.scope}/providers/Microsoft.Authorization/roleAssignments/${ref.roleAssignmentName}?api-version=${AZURE_API_VERSION}`;
    const what = `${method === "PUT" ? "creating" : "deleting"} role assignment ${ref.roleAssignmentName} on ${ref.scope}`;
    for (let attempt = 0; ; attempt++) {
      const res = await sendToProvider(
        "azure",
        what,
        url,
        {
          method,
          headers: { authorization: `Bearer ${await accessToken()}`, ...(body ? { "content-type": "application/json" } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        },
        timeoutMs,
      );
      if (res.status === 401 && attempt === 0) {
        token = undefined; // expired or revoked: one more try with a fresh token
        await res.body?.cancel();
        continue;
      }
      if (res.ok || (method === "DELETE" && res.status === 404)) {
        await res.body?.cancel();
        return res.status;
      }
      const { code, message } = await errorText(res);
      const text = `azure: ${what} failed: ${code}${message ? `: ${message.slice(0, 500)}` : ""}`;
      if (isTransient(res.status)) {
        const retryAfter = res.headers.get("retry-after");
        throw new TransientProviderError(`${text} (will retry${retryAfter ? ` after ${retryAfter}s` : ""})`);
      }
      const hint =
        code === "AuthorizationFailed"
          ? " — Cairn's service principal needs Microsoft.Authorization/roleAssignments/write and /delete on this scope (e.g. User Access Administrator)"
          : code === "RoleAssignmentExists"
            ? " — the principal already holds this role on this scope through an assignment Cairn did not make; Cairn will not take it over"
            : code === "PrincipalNotFound"
              ? " — check the principal's object id (a new principal can take a few minutes to replicate)"
              : "";
      throw new Error(`${text}${hint}`);
    }
  }

  return {
    name: "azure",

    async grant(input: GrantInput): Promise<GrantResult> {
      const ref = plan(input, options.subscriptionId);
      await arm("PUT", ref, {
        properties: {
          roleDefinitionId: ref.roleDefinitionId,
          principalId: ref.principalId,
          description: `Cairn access request ${input.correlationId}, until ${input.expiresAt.toISOString()}`,
        },
      });
      return { grantRef: { ...ref } };
    },

    async revoke(input: GrantInput, grantRef: Record<string, unknown>): Promise<void> {
      await arm("DELETE", refFrom(input, grantRef, options.subscriptionId));
    },
  };
}
