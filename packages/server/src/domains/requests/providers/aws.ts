/**
 * AWS access provider: IAM through @aws-sdk/client-iam. A request names an IAM user or role as its
 * principal and either a managed policy (`role`: a policy ARN → Attach/Detach…Policy) or individual
 * actions (`permissions` on `resource` → an inline policy `cairn-<correlationId>` whose statement carries
 * `DateLessThan aws:CurrentTime <expiresAt>`, so it stops working at expiry even if revocation is late).
 * Every call is idempotent: attach/put overwrite, and detach/delete of something already gone succeed.
 */
import {
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  DeleteRolePolicyCommand,
  DeleteUserPolicyCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  IAMClient,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from "@aws-sdk/client-iam";
import { type Settings, SettingsError } from "../../../settings.js";
import { NETWORK_CODES } from "./http.js";
import { type AccessProvider, type GrantInput, type GrantResult, TransientProviderError } from "./types.js";

export interface AwsProviderOptions {
  /** Signing region; IAM is global, so anything valid works (default `us-east-1`). */
  region?: string;
  /** Override of the IAM endpoint (e.g. a local IAM-compatible server); default: the SDK's. */
  endpoint?: string;
  /** Static credentials; unset = the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** SDK attempts per call, including its own backoff for throttling (default 3); the queue retries beyond that. */
  maxAttempts?: number;
  /** Milliseconds one HTTP request may take (default 30 000). */
  timeoutMs?: number;
}

export function awsOptionsFromSettings(
  s: Pick<Settings, "awsRegion" | "awsIamEndpoint" | "awsAccessKeyId" | "awsSecretAccessKey" | "awsSessionToken">,
): AwsProviderOptions {
  const credentials =
    s.awsAccessKeyId && s.awsSecretAccessKey
      ? {
          accessKeyId: s.awsAccessKeyId,
          secretAccessKey: s.awsSecretAccessKey,
          ...(s.awsSessionToken ? { sessionToken: s.awsSessionToken } : {}),
        }
      : undefined;
  return { region: s.awsRegion, endpoint: s.awsIamEndpoint, credentials };
}

type PrincipalType = "user" | "role";
interface Principal {
  type: PrincipalType;
  name: string;
}

/** What revoke needs, stored with the request (names and ARNs only). */
export type AwsGrantRef =
  | { kind: "managed-policy"; principalType: PrincipalType; principalName: string; policyArn: string }
  | { kind: "inline-policy"; principalType: PrincipalType; principalName: string; policyName: string };

const POLICY_ARN = /^arn:aws[a-z-]*:iam::(aws|\d{12}):policy\/[\w+=,.@/-]{1,512}$/;
const IAM_NAME = /^[\w+=,.@-]{1,128}$/;
const ACTION = /^([a-z0-9-]{1,64}:[A-Za-z0-9*?]{1,128}|\*)$/;

/**
 * `user/alice`, `role/deployer`, `user/team/alice` (path) or a full ARN
 * `arn:aws:iam::123456789012:role/ops/deployer` → the type and the bare name IAM calls take.
 */
export function parseAwsPrincipal(principal: string): Principal {
  const m = /^(?:arn:aws[a-z-]*:iam::\d{12}:)?(user|role)\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,128})$/.exec(principal.trim());
  if (!m) {
    throw new Error(
      `aws: principal "${principal}" is not an IAM user or role: use user/<name>, role/<name> or a full ARN such as arn:aws:iam::123456789012:role/<name>`,
    );
  }
  return { type: m[1] as PrincipalType, name: m[2] as string };
}

/** The inline policy document: the requested actions on the resource, only until `expiresAt`. */
export function inlinePolicyDocument(input: Pick<GrantInput, "permissions" | "resource" | "expiresAt" | "correlationId">): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "CairnTemporaryAccess",
        Effect: "Allow",
        Action: input.permissions,
        Resource: input.resource ?? "*",
        Condition: { DateLessThan: { "aws:CurrentTime": input.expiresAt.toISOString() } },
      },
    ],
  });
}

function planGrant(input: GrantInput): AwsGrantRef {
  const principal = parseAwsPrincipal(input.principal);
  const hasPermissions = (input.permissions?.length ?? 0) > 0;
  if (input.role && hasPermissions) throw new Error("aws: give either role (a managed policy ARN) or permissions, not both");
  if (input.role) {
    if (!POLICY_ARN.test(input.role)) {
      throw new Error(
        `aws: role "${input.role}" is not a managed policy ARN (e.g. arn:aws:iam::aws:policy/ReadOnlyAccess or arn:aws:iam::123456789012:policy/<name>)`,
      );
    }
    return { kind: "managed-policy", principalType: principal.type, principalName: principal.name, policyArn: input.role };
  }
  if (!hasPermissions)
    throw new Error("aws: a request needs role (a managed policy ARN) or permissions (IAM actions such as s3:GetObject)");
  const bad = input.permissions?.find((p) => !ACTION.test(p));
  if (bad !== undefined) throw new Error(`aws: "${bad}" is not an IAM action: use service:Action, e.g. s3:GetObject or s3:List*`);
  const policyName = `cairn-${input.correlationId}`;
  if (!IAM_NAME.test(policyName)) throw new Error("aws: the correlation id cannot name an IAM inline policy");
  return { kind: "inline-policy", principalType: principal.type, principalName: principal.name, policyName };
}

function refFrom(input: GrantInput, grantRef: Record<string, unknown>): AwsGrantRef {
  const r = grantRef as Partial<AwsGrantRef> & Record<string, unknown>;
  const typeOk = r.principalType === "user" || r.principalType === "role";
  if (typeOk && typeof r.principalName === "string") {
    if (r.kind === "managed-policy" && typeof r.policyArn === "string") return r as AwsGrantRef;
    if (r.kind === "inline-policy" && typeof r.policyName === "string") return r as AwsGrantRef;
  }
  // A worker that died between granting and storing the ref revokes what the request itself describes.
  return planGrant(input);
}

const TRANSIENT_CODES = new Set([
  "Throttling",
  "ThrottlingException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "ServiceFailure",
  "ServiceUnavailable",
  "ConcurrentModification",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
}

function codeOf(e: SdkError): string {
  return (e.name ?? "Error").replace(/Exception$/, "");
}

function isNoSuchEntity(e: unknown): boolean {
  return codeOf(e as SdkError) === "NoSuchEntity";
}

/**
 * A new error that says what failed and what AWS answered — never the SDK's error itself, which holds the
 * raw response; no credentials are ever part of the message.
 */
function translate(action: string, ref: AwsGrantRef, e: unknown): Error {
  const err = (e ?? {}) as SdkError;
  const code = codeOf(err);
  const status = err.$metadata?.httpStatusCode;
  const detail = (err.message ?? "").slice(0, 500);
  const what = `aws: ${action} for ${ref.principalType}/${ref.principalName}`;
  if (
    TRANSIENT_CODES.has(code) ||
    TRANSIENT_CODES.has(err.name ?? "") ||
    (status !== undefined && status >= 500) ||
    status === 429 ||
    NETWORK_CODES.has(err.code ?? "")
  ) {
    return new TransientProviderError(
      `${what} failed, will retry: ${code}${status ? ` (HTTP ${status})` : ""}${detail ? `: ${detail}` : ""}`,
    );
  }
  if (err.name === "CredentialsProviderError") {
    return new Error(
      `${what} failed: no AWS credentials found — set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or an instance role`,
    );
  }
  if (status === undefined && err.$fault === undefined) {
    // No HTTP answer at all: the network or the credential chain; worth retrying.
    return new TransientProviderError(`${what} failed before IAM answered, will retry: ${code}${detail ? `: ${detail}` : ""}`);
  }
  const hint =
    code === "AccessDenied"
      ? " — Cairn's AWS credentials need iam:Attach*/Detach*/Put*/Delete* Policy on this principal"
      : code === "NoSuchEntity"
        ? ` — check that ${ref.principalType} "${ref.principalName}"${ref.kind === "managed-policy" ? ` and policy ${ref.policyArn}` : ""} exist`
        : code === "InvalidClientTokenId" || code === "SignatureDoesNotMatch"
          ? " — check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
          : "";
  return new Error(`${what} failed: ${code}${detail ? `: ${detail}` : ""}${hint}`);
}

export function createAwsProvider(options: AwsProviderOptions = {}): AccessProvider {
  // A local endpoint (tests, development) gets explicit keys: the SDK's chain would end at the EC2 metadata address.
  const local = options.endpoint !== undefined && /^https?:\/\/(localhost|127\.[\d.]+|\[::1\])(:\d+)?(\/|$)/.test(options.endpoint);
  if (local && !options.credentials) {
    throw new SettingsError("aws: a local IAM endpoint (CAIRN_AWS_IAM_ENDPOINT) needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  const client = new IAMClient({
    region: options.region ?? "us-east-1",
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: { requestTimeout: options.timeoutMs ?? 30_000, connectionTimeout: Math.min(options.timeoutMs ?? 10_000, 10_000) },
  });

  async function call(action: string, ref: AwsGrantRef, send: () => Promise<unknown>, goneIsDone = false): Promise<void> {
    try {
      await send();
    } catch (e) {
      if (goneIsDone && isNoSuchEntity(e)) return;
      throw translate(action, ref, e);
    }
  }

  return {
    name: "aws",

    async grant(input: GrantInput): Promise<GrantResult> {
      const ref = planGrant(input);
      const { principalName: name } = ref;
      if (ref.kind === "managed-policy") {
        const params = { PolicyArn: ref.policyArn };
        if (ref.principalType === "user") {
          await call("AttachUserPolicy", ref, () => client.send(new AttachUserPolicyCommand({ UserName: name, ...params })));
        } else {
          await call("AttachRolePolicy", ref, () => client.send(new AttachRolePolicyCommand({ RoleName: name, ...params })));
        }
      } else {
        const params = { PolicyName: ref.policyName, PolicyDocument: inlinePolicyDocument(input) };
        if (ref.principalType === "user") {
          await call("PutUserPolicy", ref, () => client.send(new PutUserPolicyCommand({ UserName: name, ...params })));
        } else {
          await call("PutRolePolicy", ref, () => client.send(new PutRolePolicyCommand({ RoleName: name, ...params })));
        }
      }
      return { grantRef: { ...ref } };
    },

    async revoke(input: GrantInput, grantRef: Record<string, unknown>): Promise<void> {
      const ref = refFrom(input, grantRef);
      const { principalName: name } = ref;
      if (ref.kind === "managed-policy") {
        const params = { PolicyArn: ref.policyArn };
        if (ref.principalType === "user") {
          await call("DetachUserPolicy", ref, () => client.send(new DetachUserPolicyCommand({ UserName: name, ...params })), true);
        } else {
          await call("DetachRolePolicy", ref, () => client.send(new DetachRolePolicyCommand({ RoleName: name, ...params })), true);
        }
      } else {
        const params = { PolicyName: ref.policyName };
        if (ref.principalType === "user") {
          await call("DeleteUserPolicy", ref, () => client.send(new DeleteUserPolicyCommand({ UserName: name, ...params })), true);
        } else {
          await call("DeleteRolePolicy", ref, () => client.send(new DeleteRolePolicyCommand({ RoleName: name, ...params })), true);
        }
      }
    },
  };
}
