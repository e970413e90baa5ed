/**
 * GCP access provider: a conditional IAM binding on a project through the Resource Manager v1 API —
 * `{role, members:[member], condition:{title:"cairn-<correlationId>", expression:"request.time < timestamp('<expiresAt>')"}}`,
 * so the access also ends by itself at expiry. Grant and revoke are read-modify-write cycles
 * (getIamPolicy at version 3 → setIamPolicy with the etag read); a concurrent change (409 ABORTED)
 * restarts the cycle. Both are idempotent: the binding is found again by its condition title.
 *
 * Authentication: a service-account key file (signed JWT → OAuth token, with jose; google-auth-library 11
 * declares `engines: node >=22`, Cairn runs on Node 20), or a ready access token.
 */
import { readFile } from "node:fs/promises";
import { importPKCS8, SignJWT } from "jose";
import type { Settings } from "../../../settings.js";
import { sendToProvider } from "./http.js";
import { type AccessProvider, type GrantInput, type GrantResult, TransientProviderError } from "./types.js";

export interface GcpProviderOptions {
  /** Resource Manager endpoint (default https://cloudresourcemanager.googleapis.com). */
  endpoint?: string;
  /** A service-account key file (JSON with client_email, private_key, token_uri). */
  credentialsFile?: string;
  /** Or a ready OAuth access token (e.g. from `gcloud auth print-access-token`; expires within an hour). */
  accessToken?: string;
  /** Project for requests without a `resource` (default: the key file's project_id). */
  project?: string;
  /** Read-modify-write cycles tried when another writer changes the policy in between (default 5). */
  maxConflictRetries?: number;
  /** Milliseconds one HTTP request may take (default 30 000). */
  timeoutMs?: number;
}

export function gcpOptionsFromSettings(
  s: Pick<Settings, "gcpEndpoint" | "gcpCredentialsFile" | "gcpAccessToken" | "gcpProject">,
): GcpProviderOptions {
  return { endpoint: s.gcpEndpoint, credentialsFile: s.gcpCredentialsFile, accessToken: s.gcpAccessToken, project: s.gcpProject };
}

export interface GcpGrantRef {
  project: string;
  role: string;
  member: string;
  conditionTitle: string;
}

interface Binding {
  role: string;
  members: string[];
  condition?: { title?: string; description?: string; expression: string };
}
interface Policy {
  version?: number;
  etag?: string;
  bindings?: Binding[];
  [other: string]: unknown;
}

const SCOPE = "https://www.googleapis.com/auth/cloud-platform";
const PROJECT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const ROLE = /^(roles\/[A-Za-z0-9_.]{1,128}|(projects|organizations)\/[A-Za-z0-9_.:-]{1,64}\/roles\/[A-Za-z0-9_.]{1,64})$/;
const MEMBER = /^(user|serviceAccount|group|domain):[^\s:]{1,256}$|^principal(Set)?:\/\/\S{1,512}$/;

/** A member as IAM writes it: `user:alice@example.com`; a bare address becomes user: (or serviceAccount:). */
export function gcpMember(principal: string): string {
  const p = principal.trim();
  if (p === "allUsers" || p === "allAuthenticatedUsers") throw new Error(`gcp: Cairn does not grant to ${p}`);
  const member = p.includes(":") ? p : p.endsWith(".gserviceaccount.com") ? `serviceAccount:${p}` : `user:${p}`;
  if (!MEMBER.test(member) || (!member.startsWith("principal") && !member.slice(member.indexOf(":") + 1).includes("."))) {
    throw new Error(
      `gcp: principal "${principal}" is not an IAM member: use user:<email>, serviceAccount:<email>, group:<email> or domain:<domain>`,
    );
  }
  return member;
}

export function conditionExpression(expiresAt: Date): string {
  return `request.time < timestamp('${expiresAt.toISOString()}')`;
}

function plan(input: GrantInput, defaultProject: string | undefined): GcpGrantRef {
  if (input.permissions?.length) throw new Error("gcp: grants take a role (e.g. roles/storage.objectViewer), not individual permissions");
  if (!input.role) throw new Error("gcp: a request needs role, e.g. roles/viewer or projects/<id>/roles/<custom>");
  const role = input.role.includes("/") ? input.role.trim() : `roles/${input.role.trim()}`;
  if (!ROLE.test(role)) throw new Error(`gcp: role "${input.role}" is not an IAM role such as roles/viewer or projects/<id>/roles/<name>`);
  const project = (input.resource ?? defaultProject ?? "").replace(/^projects\//, "");
  if (!project) throw new Error("gcp: a request needs resource: the project id (or set CAIRN_GCP_PROJECT)");
  if (!PROJECT.test(project))
    throw new Error(`gcp: resource "${input.resource}" is not a project id (6–30 lower-case letters, digits, hyphens)`);
  return { project, role, member: gcpMember(input.principal), conditionTitle: `cairn-${input.correlationId}`.slice(0, 100) };
}

function storedRef(grantRef: Record<string, unknown>): GcpGrantRef | undefined {
  const r = grantRef as Partial<GcpGrantRef>;
  if ([r.project, r.role, r.member, r.conditionTitle].every((v) => typeof v === "string")) return r as GcpGrantRef;
  return undefined;
}

/** Adds the member to the request's conditional binding; undefined when it is already there. */
function withGrant(policy: Policy, ref: GcpGrantRef, input: GrantInput): Policy | undefined {
  const bindings = policy.bindings ?? [];
  const condition = {
    title: ref.conditionTitle,
    description: `Cairn access request ${input.correlationId}`,
    expression: conditionExpression(input.expiresAt),
  };
  const mine = bindings.find((b) => b.role === ref.role && b.condition?.title === ref.conditionTitle);
  if (mine?.members.includes(ref.member) && mine.condition?.expression === condition.expression) return undefined;
  const others = bindings.filter((b) => b !== mine);
  const members = [...new Set([...(mine?.members ?? []), ref.member])];
  return { ...policy, version: 3, bindings: [...others, { role: ref.role, members, condition }] };
}

/** Takes the member out of the request's conditional binding; undefined when it is not there. */
function withoutGrant(policy: Policy, ref: GcpGrantRef): Policy | undefined {
  const bindings = policy.bindings ?? [];
  const mine = (b: Binding) => b.role === ref.role && b.condition?.title === ref.conditionTitle && b.members.includes(ref.member);
  if (!bindings.some(mine)) return undefined;
  const next = bindings
    .map((b) => (mine(b) ? { ...b, members: b.members.filter((m) => m !== ref.member) } : b))
    .filter((b) => b.members.length > 0);
  return { ...policy, version: 3, bindings: next };
}

async function errorOf(res: Response): Promise<{ status: string; message: string }> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: { status?: string; message?: string } | string; error_description?: string };
    if (typeof body.error === "string") return { status: body.error, message: body.error_description ?? "" };
    return { status: body.error?.status ?? `HTTP ${res.status}`, message: (body.error?.message ?? "").slice(0, 500) };
  } catch {
    return { status: `HTTP ${res.status}`, message: text.slice(0, 200) };
  }
}

const isTransient = (status: number) => status === 408 || status === 429 || status >= 500;

export function createGcpProvider(options: GcpProviderOptions = {}): AccessProvider {
  const endpoint = (options.endpoint ?? "https://cloudresourcemanager.googleapis.com").replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxCycles = 1 + (options.maxConflictRetries ?? 5);
  let keyFile: Promise<{ clientEmail: string; privateKey: string; tokenUri: string; projectId?: string }> | undefined;
  let token: { value: string; until: number } | undefined;

  function serviceAccount() {
    const file = options.credentialsFile;
    if (!file)
      throw new Error(
        "gcp: the provider is not configured: set CAIRN_GCP_CREDENTIALS_FILE (service-account key) or CAIRN_GCP_ACCESS_TOKEN",
      );
    keyFile ??= readFile(file, "utf8").then(
      (text) => {
        let key: Record<string, unknown>;
        try {
          key = JSON.parse(text) as Record<string, unknown>;
        } catch {
          throw new Error(`gcp: ${file} is not JSON: give a service-account key file`);
        }
        const { client_email, private_key, token_uri, project_id } = key;
        if (key.type !== "service_account" || typeof client_email !== "string" || typeof private_key !== "string") {
          throw new Error(`gcp: ${file} is not a service-account key (type service_account with client_email and private_key)`);
        }
        return {
          clientEmail: client_email,
          privateKey: private_key,
          tokenUri: typeof token_uri === "string" ? token_uri : "https://oauth2.googleapis.com/token",
          projectId: typeof project_id === "string" ? project_id : undefined,
        };
      },
      (e: NodeJS.ErrnoException) => {
        throw new Error(`gcp: cannot read the credentials file ${file}: ${e.code ?? e.message}`);
      },
    );
    keyFile.catch(() => {
      keyFile = undefined; // a fixed file is read again on the next try
    });
    return keyFile;
  }

  async function accessToken(): Promise<string> {
    if (options.accessToken) return options.accessToken;
    if (token && token.until > Date.now()) return token.value;
    const sa = await serviceAccount();
    let assertion: string;
    try {
      const key = await importPKCS8(sa.privateKey, "RS256");
      assertion = await new SignJWT({ scope: SCOPE })
        .setProtectedHeader({ alg: "RS256", typ: "JWT" })
        .setIssuer(sa.clientEmail)
        .setAudience(sa.tokenUri)
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(key);
    } catch {
      throw new Error(`gcp: the private key of ${sa.clientEmail} in the credentials file cannot sign (not an RSA PKCS#8 key?)`);
    }
    const res = await sendToProvider(
      "gcp",
      "token request",
      sa.tokenUri,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }),
      },
      timeoutMs,
    );
    if (!res.ok) {
      const { status, message } = await errorOf(res);
      const text = `gcp: token request for ${sa.clientEmail} failed: ${status}${message ? `: ${message}` : ""}`;
      if (isTransient(res.status)) throw new TransientProviderError(`${text} (will retry)`);
      throw new Error(`${text} — check that the service-account key is valid and not disabled`);
    }
    const body = (await res.json()) as { access_token?: string; expires_in?: number };
    if (!body.access_token) throw new TransientProviderError("gcp: the token endpoint answered without an access_token (will retry)");
    token = { value: body.access_token, until: Date.now() + Math.max(0, Number(body.expires_in ?? 3600) - 300) * 1000 };
    return token.value;
  }

  async function defaultProject(): Promise<string | undefined> {
    if (options.project) return options.project;
    if (!options.credentialsFile || options.accessToken) return undefined;
    return (await serviceAccount()).projectId;
  }

  /** One Resource Manager call: the policy it answers, "conflict" for a 409 ABORTED on setIamPolicy, "gone" for a 404. */
  async function rm(method: "getIamPolicy" | "setIamPolicy", ref: GcpGrantRef, body: unknown): Promise<Policy | "conflict" | "gone"> {
    const url = `${endpoint}/v1/projects/${encodeURIComponent(ref.project)}:${method}`;
    const what = `${method} on project ${ref.project}`;
    for (let attempt = 0; ; attempt++) {
      const res = await sendToProvider(
        "gcp",
        what,
        url,
        {
          method: "POST",
          headers: { authorization: `Bearer ${await accessToken()}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        },
        timeoutMs,
      );
      if (res.ok) return (await res.json()) as Policy;
      const { status, message } = await errorOf(res);
      if (res.status === 401 && attempt === 0 && !options.accessToken) {
        token = undefined;
        continue;
      }
      if (method === "setIamPolicy" && (res.status === 409 || status === "ABORTED")) return "conflict";
      if (res.status === 404) return "gone";
      const text = `gcp: ${what} failed: ${status}${message ? `: ${message}` : ""}`;
      if (isTransient(res.status)) throw new TransientProviderError(`${text} (will retry)`);
      const hint =
        res.status === 401
          ? options.accessToken
            ? " — CAIRN_GCP_ACCESS_TOKEN was rejected (tokens expire after an hour; prefer CAIRN_GCP_CREDENTIALS_FILE)"
            : " — check the service-account key"
          : res.status === 403
            ? " — Cairn's service account needs resourcemanager.projects.getIamPolicy and setIamPolicy on the project (roles/resourcemanager.projectIamAdmin)"
            : "";
      throw new Error(`${text}${hint}`);
    }
  }

  /** getIamPolicy → change → setIamPolicy with the etag, again from the top when someone else wrote in between. */
  async function readModifyWrite(ref: GcpGrantRef, change: (p: Policy) => Policy | undefined, goneIsDone: boolean): Promise<void> {
    for (let cycle = 1; cycle <= maxCycles; cycle++) {
      const policy = await rm("getIamPolicy", ref, { options: { requestedPolicyVersion: 3 } });
      if (policy === "gone" || policy === "conflict") {
        if (goneIsDone) return;
        throw new Error(`gcp: project ${ref.project} was not found — check the project id`);
      }
      const next = change(policy);
      if (!next) return;
      const result = await rm("setIamPolicy", ref, { policy: next });
      if (result === "gone" && !goneIsDone) throw new Error(`gcp: project ${ref.project} was not found — check the project id`);
      if (result !== "conflict") return;
      if (cycle < maxCycles) await new Promise((r) => setTimeout(r, Math.random() * 20 * cycle));
    }
    throw new TransientProviderError(
      `gcp: the IAM policy of project ${ref.project} kept changing under Cairn (etag conflicts); will retry`,
    );
  }

  return {
    name: "gcp",

    async grant(input: GrantInput): Promise<GrantResult> {
      const ref = plan(input, await defaultProject());
      await readModifyWrite(ref, (p) => withGrant(p, ref, input), false);
      return { grantRef: { ...ref } };
    },

    async revoke(input: GrantInput, grantRef: Record<string, unknown>): Promise<void> {
      // A worker that died between granting and storing the ref revokes what the request itself describes.
      const ref = storedRef(grantRef) ?? plan(input, await defaultProject());
      await readModifyWrite(ref, (p) => withoutGrant(p, ref), true);
    },
  };
}
