/**
 * A rotation strategy makes the next value of a secret real somewhere else (a database login, a cloud
 * key) before Cairn switches the secret to it. It never writes the secret itself: the scheduler does that,
 * in one transaction with the policy's schedule, once the strategy says the new value works.
 */
export interface RotationStrategy {
  readonly name: StrategyName;
  /** Secret types this strategy can rotate (checked when a policy is set). */
  readonly types: readonly string[];
  /**
   * Prepares and verifies the next value from the current one; throws (with a message that holds no
   * credential) when it cannot. Must be safe to repeat: a crash after it ran leaves the secret unchanged,
   * and the next attempt runs it again.
   */
  prepare(input: StrategyInput): Promise<{ value: unknown; note?: string }>;
}

export interface StrategyInput {
  /** The secret's current value (decrypted; never logged). */
  current: unknown;
  /** The admin credentials named by the policy's `adminSecret`, when it has one. */
  admin?: unknown;
}

export const strategyNames = ["postgres-alternating-users"] as const;
export type StrategyName = (typeof strategyNames)[number];

/** Raised by a strategy for a problem the operator must fix (bad credentials, missing grants). */
export class StrategyError extends Error {
  override name = "StrategyError";
}
