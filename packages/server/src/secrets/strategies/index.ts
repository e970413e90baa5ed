import { createPostgresAlternatingUsers } from "./postgres-alternating-users.js";
import type { RotationStrategy, StrategyName } from "./types.js";

export { type RotationStrategy, StrategyError, type StrategyName, strategyNames } from "./types.js";

/** The strategies a policy can name, by name. Tests pass their own map to the scheduler. */
export function defaultStrategies(): Record<StrategyName, RotationStrategy> {
  return { "postgres-alternating-users": createPostgresAlternatingUsers() };
}
