import { matchPattern, type NamespacePattern, parsePattern } from "../authz/permissions.js";
import { globMatcher, maxSeverity, type Severity, severityOf, severityRank } from "./severity.js";

export const groupByFields = ["sourceIp", "actor", "namespace", "resource", "eventType"] as const;
export type GroupBy = (typeof groupByFields)[number];

export const eventResults = ["success", "failure", "denied"] as const;
export type EventResult = (typeof eventResults)[number];

/** One alternative of a rule's `match`: every field given must hold (a list holds when any entry does). */
export interface RuleFilter {
  /** Namespace patterns as in permissions: `production/**`, `*` one segment, `**` any depth. */
  namespaces?: string[];
  /** The event's `metadata.environment` (secret reveals and config writes carry it). */
  environments?: string[];
  results?: EventResult[];
  /** Top-level metadata fields that must equal these values, e.g. `{ "reason": "revoked" }`. */
  metadata?: Record<string, string | number | boolean>;
}

export interface RuleDefinition {
  id: string;
  tenantId: string;
  name: string;
  builtin: string | null;
  enabled: boolean;
  /** Event types or globs (`auth.*`); an event matching any of them is considered. */
  events: string[];
  /** Alternatives; empty = every event of the types above. */
  match: RuleFilter[];
  minSeverity: Severity;
  /** The alert's severity; null = the highest severity of the events that fired it. */
  severity: Severity | null;
  threshold: { count: number; windowSeconds: number };
  groupBy: GroupBy | null;
  /** Channel ids; empty = every enabled channel of the tenant. */
  channels: string[];
  createdAt: Date;
}

/** An audit event as the evaluator reads it (never a value: events carry none). */
export interface AlertEvent {
  index: number;
  id: string;
  tenantId: string | null;
  occurredAt: Date;
  eventType: string;
  action: string;
  result: string;
  actorId: string | null;
  actorType: string | null;
  resourceType: string | null;
  resourceId: string | null;
  namespace: string | null;
  sourceIp: string | null;
  metadata: Record<string, unknown>;
}

export interface CompiledRule {
  def: RuleDefinition;
  matches(event: AlertEvent): boolean;
  groupKey(event: AlertEvent): string;
}

interface CompiledFilter {
  namespaces?: NamespacePattern[];
  environments?: Set<string>;
  results?: Set<string>;
  metadata?: [string, string | number | boolean][];
}

function compileFilter(f: RuleFilter): CompiledFilter {
  return {
    namespaces: f.namespaces?.map((p) => parsePattern(p)),
    environments: f.environments ? new Set(f.environments) : undefined,
    results: f.results ? new Set(f.results) : undefined,
    metadata: f.metadata ? Object.entries(f.metadata) : undefined,
  };
}

function filterHolds(f: CompiledFilter, e: AlertEvent): boolean {
  if (f.namespaces && (e.namespace === null || !f.namespaces.some((p) => matchPattern(p, e.namespace ?? undefined)))) return false;
  if (f.environments) {
    const env = e.metadata.environment;
    if (typeof env !== "string" || !f.environments.has(env)) return false;
  }
  if (f.results && !f.results.has(e.result)) return false;
  if (f.metadata && !f.metadata.every(([k, v]) => e.metadata[k] === v)) return false;
  return true;
}

export function groupValue(by: GroupBy, e: AlertEvent): string {
  switch (by) {
    case "sourceIp":
      return e.sourceIp ?? "-";
    case "actor":
      return e.actorId ?? "-";
    case "namespace":
      return e.namespace ?? "-";
    case "resource":
      return e.resourceType || e.resourceId ? `${e.resourceType ?? ""}:${e.resourceId ?? ""}` : "-";
    case "eventType":
      return e.eventType;
  }
}

export function compileRule(def: RuleDefinition): CompiledRule {
  const types = def.events.map(globMatcher);
  const filters = def.match.map(compileFilter);
  const min = severityRank(def.minSeverity);
  const since = def.createdAt.getTime();
  return {
    def,
    matches(e) {
      // A rule sees what happened after it was made: a new rule does not fire on old history.
      if (e.occurredAt.getTime() < since) return false;
      if (!types.some((m) => m(e.eventType))) return false;
      if (severityRank(severityOf(e.eventType)) < min) return false;
      return filters.length === 0 || filters.some((f) => filterHolds(f, e));
    },
    groupKey: (e) => (def.groupBy ? groupValue(def.groupBy, e) : ""),
  };
}

/** Checks what the schema cannot: namespace patterns parse. Returns messages keyed by JSON pointer. */
export function filterErrors(match: RuleFilter[], base = "/match"): { path: string; message: string }[] {
  const errors: { path: string; message: string }[] = [];
  match.forEach((f, i) => {
    f.namespaces?.forEach((p, j) => {
      try {
        parsePattern(p);
      } catch (e) {
        errors.push({ path: `${base}/${i}/namespaces/${j}`, message: (e as Error).message });
      }
    });
  });
  return errors;
}

/** A matching event remembered in a threshold window. */
export interface WindowEvent {
  /** occurred at, epoch ms */
  t: number;
  id: string;
  /** leaf index */
  i: number;
  /** severity of the event */
  s: Severity;
}

/** Durable state of one (rule, group) window. */
export interface WindowState {
  events: WindowEvent[];
  /** After an alert, events before this moment (epoch ms) are counted but fire nothing. */
  quietUntil?: number;
  /** Events that arrived during the quiet period since the last alert. */
  suppressed?: number;
}

export interface Firing {
  events: WindowEvent[];
  severity: Severity;
  /** Matching events swallowed by the quiet period after the previous alert. */
  suppressedBefore: number;
}

export const emptyWindow = (): WindowState => ({ events: [] });

/**
 * Adds a matching event to its window (event time, not wall-clock, so a replay decides the same way).
 * Fires when `count` events fall within `windowSeconds`; then the window empties and, for thresholds
 * above one, stays quiet for one window so a flood makes one alert per window, not one per event.
 */
export function addToWindow(state: WindowState, rule: RuleDefinition, event: AlertEvent): Firing | undefined {
  const t = event.occurredAt.getTime();
  const windowMs = rule.threshold.windowSeconds * 1000;
  if (state.quietUntil !== undefined && t < state.quietUntil) {
    state.suppressed = (state.suppressed ?? 0) + 1;
    return undefined;
  }
  const events = state.events.filter((e) => e.t > t - windowMs);
  events.push({ t, id: event.id, i: event.index, s: severityOf(event.eventType) });
  while (events.length > rule.threshold.count) events.shift();
  if (events.length < rule.threshold.count) {
    state.events = events;
    return undefined;
  }
  const suppressedBefore = state.suppressed ?? 0;
  state.events = [];
  state.suppressed = 0;
  state.quietUntil = rule.threshold.count > 1 ? t + windowMs : undefined;
  const severity = rule.severity ?? events.reduce<Severity>((s, e) => maxSeverity(s, e.s), "info");
  return { events, severity, suppressedBefore };
}

/** Whether a window holds nothing worth keeping at `now` (epoch ms): its row can go. */
export function windowIsIdle(state: WindowState, rule: Pick<RuleDefinition, "threshold">, now: number): boolean {
  const windowMs = rule.threshold.windowSeconds * 1000;
  const live = state.events.some((e) => e.t > now - windowMs);
  return !live && (state.quietUntil === undefined || state.quietUntil <= now) && !state.suppressed;
}
