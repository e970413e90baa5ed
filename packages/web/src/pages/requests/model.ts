import type { AccessRequest, RequestList } from "@cairn/sdk";
import type { Tone } from "../../ui.js";

/**
 * Access requests as the API shows them (GET /api/v1/requests): the server's own schemas
 * (packages/server/src/domains/requests/schemas.ts), via @cairn/sdk. The SDK has no typed methods for them yet,
 * so the page calls `client.call` with these shapes.
 */
export type {
  AccessCredentials as IssuedCredentials,
  AccessRequest,
  DecisionResult,
  RequestCounts,
  RequestList,
} from "@cairn/sdk";

export type RequestStatus = AccessRequest["status"];
export type Provider = AccessRequest["provider"];
/** The structured filter the server read a plain-words search as. */
export type InterpretedFilter = NonNullable<RequestList["interpretedFilter"]>;

/** Every status, in the order a request moves through them, with the words and colour the page uses. */
export const STATUSES: { status: RequestStatus; label: string; tone: Tone; hint: string }[] = [
  { status: "AWAITING_APPROVAL", label: "Awaiting approval", tone: "warn", hint: "an approver must decide" },
  { status: "PENDING", label: "Pending", tone: "info", hint: "queued for a worker" },
  { status: "APPROVED", label: "Approved", tone: "info", hint: "approved, queued for a worker" },
  { status: "PROCESSING", label: "Processing", tone: "info", hint: "a worker is granting it" },
  { status: "SUCCESS", label: "Active", tone: "ok", hint: "access granted until it expires" },
  { status: "DENIED", label: "Denied", tone: "danger", hint: "an approver said no" },
  { status: "FAILED", label: "Failed", tone: "danger", hint: "the grant failed" },
  { status: "REVOKED", label: "Revoked", tone: "neutral", hint: "ended early or cancelled" },
  { status: "EXPIRED", label: "Expired", tone: "neutral", hint: "time ran out" },
];

export const statusInfo = (status: RequestStatus) =>
  STATUSES.find((s) => s.status === status) ?? { status, label: status, tone: "neutral" as Tone, hint: "" };

/** Still moving without anyone acting: worth looking again soon. */
export const MOVING: ReadonlySet<RequestStatus> = new Set(["PENDING", "APPROVED", "PROCESSING"]);
/** Nothing more will happen to these (the server refuses to revoke them). */
export const FINAL: ReadonlySet<RequestStatus> = new Set(["DENIED", "FAILED", "REVOKED", "EXPIRED"]);

export const PROVIDERS: { value: Provider; label: string; principal: string; role: string; resource: string }[] = [
  {
    value: "postgres",
    label: "PostgreSQL",
    principal: "login name prefix, e.g. ana",
    role: "an existing role, e.g. pg_read_all_data",
    resource: "schema.table or schema.* (with permissions)",
  },
  {
    value: "aws",
    label: "AWS",
    principal: "IAM user or role ARN",
    role: "managed policy ARN",
    resource: "resource ARN (with permissions)",
  },
  { value: "azure", label: "Azure", principal: "object id", role: "role name or id", resource: "scope" },
  {
    value: "gcp",
    label: "Google Cloud",
    principal: "member, e.g. user:ana@example.com",
    role: "role, e.g. roles/viewer",
    resource: "project",
  },
];

export const providerLabel = (p: string) => PROVIDERS.find((x) => x.value === p)?.label ?? p;

export const DURATIONS: { seconds: number; label: string }[] = [
  { seconds: 900, label: "15 minutes" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 4 * 3600, label: "4 hours" },
  { seconds: 8 * 3600, label: "8 hours" },
  { seconds: 12 * 3600, label: "12 hours" },
];

/** 5400 → "1 h 30 min"; 45 → "45 s". */
export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const parts = [d ? `${d} d` : "", h ? `${h} h` : "", m ? `${m} min` : "", s && seconds < 3600 ? `${s} s` : ""].filter(Boolean);
  return parts.join(" ") || "0 s";
}

/** What the request asks for, in one line: a role, or permissions on a resource. */
export function whatFor(r: Pick<AccessRequest, "role" | "permissions">): string {
  if (r.role) return r.role;
  return r.permissions?.join(", ") ?? "—";
}
