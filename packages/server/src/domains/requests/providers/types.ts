/**
 * What an access provider (postgres, aws, azure, gcp) does for the request broker: grant the access a
 * request asks for until `expiresAt`, and take it away again. Both must be idempotent: a worker killed
 * after the provider acted but before the status was stored runs the same step again.
 */
export type ProviderName = "aws" | "azure" | "gcp" | "postgres";

export interface GrantInput {
  /** The request's correlation id: providers name what they create after it, so a retry finds it. */
  correlationId: string;
  /** Who gets the access: an IAM user/role ARN or name, an Azure principal object id, a GCP member, a PostgreSQL login name prefix. */
  principal: string;
  /** A named role (AWS managed policy ARN, Azure role definition id, GCP role, PostgreSQL role to be granted). */
  role?: string;
  /** Or individual permissions (AWS actions for an inline policy, PostgreSQL privileges such as "SELECT"). */
  permissions?: string[];
  /** What the permissions apply to (an ARN, an Azure scope, a GCP project, a PostgreSQL schema/table). */
  resource?: string;
  expiresAt: Date;
}

export interface GrantResult {
  /** What revoke needs to find the grant again; stored with the request (no secrets in here). */
  grantRef: Record<string, unknown>;
  /** Credentials handed to the requester once (e.g. a PostgreSQL login); stored encrypted, never logged. */
  credentials?: Record<string, unknown>;
}

export interface AccessProvider {
  readonly name: ProviderName;
  grant(input: GrantInput): Promise<GrantResult>;
  /** Ends the grant; succeeds if it is already gone. */
  revoke(input: GrantInput, grantRef: Record<string, unknown>): Promise<void>;
}

/** A failure worth retrying with backoff (network, throttling, 5xx); any other error fails the request at once. */
export class TransientProviderError extends Error {
  override name = "TransientProviderError";
}
