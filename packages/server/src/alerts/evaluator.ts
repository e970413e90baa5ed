import { sql } from "kysely";
import { serialRunner } from "../background.js";
import type { Conn, Db } from "../db/database.js";
import { loadRuleDefinitions } from "../domains/alerts/repository.js";
import type { EventBus } from "../events/bus.js";
import type { Log } from "../events/redis.js";
import { silentLog } from "../events/redis.js";
import { newId } from "../ids.js";
import {
  type AlertEvent,
  addToWindow,
  type CompiledRule,
  compileRule,
  emptyWindow,
  type Firing,
  type RuleDefinition,
  type WindowState,
  windowIsIdle,
} from "./rules.js";

/** One evaluator at a time across every replica sharing the database. */
const EVALUATOR_LOCK = 0x63616972_05; // "cair" · 5

/** Published by the sequencer after each committed batch (src/audit/sequencer.ts). */
const AUDIT_APPENDED = "audit.appended";

export interface EvaluatorOptions {
  db: Db;
  bus?: Pick<EventBus, "subscribe">;
  log?: Log;
  /** Safety-net poll, ms. */
  intervalMs: number;
  /** Events per transaction. */
  batchSize?: number;
  /** Told after a batch that queued deliveries committed (the outbox worker sends them now). */
  onDeliveries?: () => void;
}

interface EventRow {
  leaf_index: string;
  id: string;
  tenant_id: string | null;
  occurred_at: Date | string;
  event_type: string;
  action: string;
  result: string;
  actor_id: string | null;
  actor_type: string | null;
  resource_type: string | null;
  resource_id: string | null;
  namespace: string | null;
  source_ip: string | null;
  metadata: Record<string, unknown> | string;
}

const eventOf = (r: EventRow): AlertEvent => ({
  index: Number(r.leaf_index),
  id: r.id,
  tenantId: r.tenant_id,
  occurredAt: new Date(r.occurred_at),
  eventType: r.event_type,
  action: r.action,
  result: r.result,
  actorId: r.actor_id,
  actorType: r.actor_type,
  resourceType: r.resource_type,
  resourceId: r.resource_id,
  namespace: r.namespace,
  sourceIp: r.source_ip,
  metadata: typeof r.metadata === "string" ? (JSON.parse(r.metadata) as Record<string, unknown>) : (r.metadata ?? {}),
});

interface Fired {
  id: string;
  rule: RuleDefinition;
  groupKey: string | null;
  firing: Firing;
  trigger: AlertEvent;
}

/**
 * Evaluates alert rules over the audit logs, in log order. Each log (one per tenant; '' holds events
 * without a tenant, judged by the rules of the instance's first tenant, the one bootstrap made) has a
 * durable cursor: a batch reads the events from it, updates the threshold windows, records the alerts
 * and queues their deliveries, and moves the cursor — one transaction, so a crash repeats a batch whole
 * or not at all. A transaction-scoped advisory lock lets one replica evaluate at a time.
 *
 * It wakes on `audit.appended` (the sequencer has placed new events) and on a timer.
 */
export function createEvaluator(options: EvaluatorOptions) {
  const { db } = options;
  const log = options.log ?? silentLog;
  const batchSize = options.batchSize ?? 500;
  let instanceTenant: string | undefined;
  let started = false;
  let closing = false;
  let timer: NodeJS.Timeout | undefined;
  const unsubscribe = options.bus?.subscribe(AUDIT_APPENDED, () => kick());

  async function tenantOf(conn: Conn, logId: string): Promise<string | undefined> {
    if (logId !== "") return logId;
    if (instanceTenant) return instanceTenant;
    const row = await conn.selectFrom("tenants").select("id").orderBy("created_at").orderBy("id").limit(1).executeTakeFirst();
    instanceTenant = row?.id;
    return instanceTenant;
  }

  /** One batch of one log. `busy`: another replica holds the lock. */
  async function evaluateBatch(logId: string): Promise<{ busy: boolean; events: number; deliveries: number }> {
    return db.transaction().execute(async (trx) => {
      const lock = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(${EVALUATOR_LOCK}) as ok`.execute(trx);
      if (!lock.rows[0]?.ok) return { busy: true, events: 0, deliveries: 0 };
      const cursorRow = await trx.selectFrom("alert_cursors").select("next_index").where("log_id", "=", logId).executeTakeFirst();
      const from = cursorRow ? cursorRow.next_index : "0";
      const rows = (
        await sql<EventRow>`
          select leaf_index, id, tenant_id, occurred_at, event_type, action, result, actor_id, actor_type,
                 resource_type, resource_id, namespace, source_ip, metadata
          from audit_events
          where coalesce(tenant_id, '') = ${logId} and leaf_index >= ${from}::bigint
          order by leaf_index limit ${batchSize}`.execute(trx)
      ).rows;
      if (rows.length === 0) return { busy: false, events: 0, deliveries: 0 };
      const events = rows.map(eventOf);
      const last = events[events.length - 1] as AlertEvent;
      if (last.index - Number(from) !== events.length - 1) {
        // The sequencer commits leaf indexes gapless, so a hole means events were removed (archived by
        // retention before they were evaluated). Evaluate what is there rather than stall.
        log.warn(
          { logId, from, to: last.index, events: events.length },
          "audit events missing before alert evaluation (archived?); skipped",
        );
      }

      const tenantId = await tenantOf(trx, logId);
      const rules = tenantId ? (await loadRuleDefinitions(trx, tenantId)).filter((r) => r.enabled).map(compileRule) : [];
      const fired = await applyEvents(trx, rules, events);
      let deliveries = 0;
      if (fired.length > 0 && tenantId) deliveries = await recordAlerts(trx, tenantId, logId, fired);

      await trx
        .insertInto("alert_cursors")
        .values({ log_id: logId, next_index: String(last.index + 1) })
        .onConflict((oc) =>
          oc.column("log_id").doUpdateSet({ next_index: String(last.index + 1), updated_at: sql`now()` as unknown as Date }),
        )
        .execute();
      return { busy: false, events: events.length, deliveries };
    });
  }

  /** Runs the events through the rules' windows; returns what fired, in log order. */
  async function applyEvents(trx: Conn, rules: CompiledRule[], events: AlertEvent[]): Promise<Fired[]> {
    const hits: { rule: CompiledRule; key: string; event: AlertEvent }[] = [];
    for (const event of events) for (const rule of rules) if (rule.matches(event)) hits.push({ rule, key: rule.groupKey(event), event });
    if (hits.length === 0) return [];

    const windowKey = (ruleId: string, key: string) => JSON.stringify([ruleId, key]);
    const windows = new Map<string, { ruleId: string; key: string; state: WindowState; rule: RuleDefinition; stored: boolean }>();
    const wanted = [...new Map(hits.map((h) => [windowKey(h.rule.def.id, h.key), h])).values()];
    for (let i = 0; i < wanted.length; i += 500) {
      const chunk = wanted.slice(i, i + 500);
      const values = sql.join(chunk.map((h) => sql`(${h.rule.def.id}, ${h.key})`));
      const stored = await sql<{ rule_id: string; group_key: string; state: WindowState | string }>`
        select w.rule_id, w.group_key, w.state from alert_windows w
        join (values ${values}) as v(rule_id, group_key) on w.rule_id = v.rule_id and w.group_key = v.group_key`.execute(trx);
      for (const row of stored.rows) {
        const state = typeof row.state === "string" ? (JSON.parse(row.state) as WindowState) : row.state;
        const rule = chunk.find((h) => h.rule.def.id === row.rule_id)?.rule.def as RuleDefinition;
        windows.set(windowKey(row.rule_id, row.group_key), { ruleId: row.rule_id, key: row.group_key, state, rule, stored: true });
      }
    }

    const fired: Fired[] = [];
    for (const { rule, key, event } of hits) {
      const k = windowKey(rule.def.id, key);
      let w = windows.get(k);
      if (!w) {
        w = { ruleId: rule.def.id, key, state: emptyWindow(), rule: rule.def, stored: false };
        windows.set(k, w);
      }
      const firing = addToWindow(w.state, rule.def, event);
      if (firing) fired.push({ id: newId("alert"), rule: rule.def, groupKey: rule.def.groupBy ? key : null, firing, trigger: event });
    }

    const now = (events[events.length - 1] as AlertEvent).occurredAt.getTime();
    const keep = [...windows.values()].filter((w) => !windowIsIdle(w.state, w.rule, now));
    const drop = [...windows.values()].filter((w) => w.stored && windowIsIdle(w.state, w.rule, now));
    for (const w of drop) await trx.deleteFrom("alert_windows").where("rule_id", "=", w.ruleId).where("group_key", "=", w.key).execute();
    for (let i = 0; i < keep.length; i += 500) {
      await trx
        .insertInto("alert_windows")
        .values(keep.slice(i, i + 500).map((w) => ({ rule_id: w.ruleId, group_key: w.key, state: JSON.stringify(w.state) })))
        .onConflict((oc) =>
          oc
            .columns(["rule_id", "group_key"])
            .doUpdateSet({ state: (eb) => eb.ref("excluded.state"), updated_at: sql`now()` as unknown as Date }),
        )
        .execute();
    }
    return fired;
  }

  /** Writes the alerts and one pending delivery per channel each goes to. Returns the number of deliveries. */
  async function recordAlerts(trx: Conn, tenantId: string, logId: string, fired: Fired[]): Promise<number> {
    const tenant = await trx.selectFrom("tenants").select("name").where("id", "=", tenantId).executeTakeFirst();
    const channels = await trx
      .selectFrom("alert_channels")
      .select(["id", "name", "type", "enabled"])
      .where("tenant_id", "=", tenantId)
      .execute();
    const enabled = channels.filter((c) => c.enabled);
    const firedAt = new Date();
    const deliveries: { id: string; tenant_id: string; alert_id: string; channel_id: string; channel_type: string }[] = [];
    for (const f of fired) {
      const doc = alertDocument(f, tenantId, tenant?.name ?? null, logId, firedAt);
      const events = f.firing.events;
      await trx
        .insertInto("alerts")
        .values({
          id: f.id,
          tenant_id: tenantId,
          rule_id: f.rule.id,
          rule_name: f.rule.name,
          severity: f.firing.severity,
          group_key: f.groupKey,
          event_count: events.length,
          first_event_at: new Date((events[0] as { t: number }).t),
          last_event_at: new Date((events[events.length - 1] as { t: number }).t),
          fired_at: firedAt,
          document: JSON.stringify(doc),
        })
        .execute();
      let targets = f.rule.channels.length > 0 ? enabled.filter((c) => f.rule.channels.includes(c.id)) : enabled;
      // An event may name the channels it is for (a secret rotation policy's `notify: [names]`).
      const only = f.trigger.metadata.notifyChannels;
      if (Array.isArray(only)) targets = targets.filter((c) => only.includes(c.name));
      for (const c of targets) {
        deliveries.push({ id: newId("alertDelivery"), tenant_id: tenantId, alert_id: f.id, channel_id: c.id, channel_type: c.type });
      }
      log.info({ alertId: f.id, ruleId: f.rule.id, severity: f.firing.severity, deliveries: targets.length }, "alert fired");
    }
    for (let i = 0; i < deliveries.length; i += 500)
      await trx
        .insertInto("alert_deliveries")
        .values(deliveries.slice(i, i + 500))
        .execute();
    return deliveries.length;
  }

  /** Evaluates every log with unread events until all are caught up (or another replica holds the lock). */
  async function pass(): Promise<void> {
    const logs = await sql<{ log_id: string }>`
      select l.log_id from audit_logs l left join alert_cursors c on c.log_id = l.log_id
      where l.size > coalesce(c.next_index, 0) order by l.log_id`.execute(db);
    let deliveries = 0;
    try {
      for (const { log_id } of logs.rows) {
        for (;;) {
          if (closing) return;
          const r = await evaluateBatch(log_id);
          deliveries += r.deliveries;
          if (r.busy) return; // the holder evaluates; the next tick looks again
          if (r.events < batchSize) break;
        }
      }
    } finally {
      if (deliveries > 0) options.onDeliveries?.();
    }
  }

  const runner = serialRunner(pass, { log, what: "alert evaluation", stopped: () => closing });
  const run = runner.run;

  function kick(): void {
    if (started && !closing) void run();
  }

  return {
    kick,
    /** Evaluates everything sequenced so far (tests, shutdown). */
    async flush(): Promise<void> {
      await run();
      await runner.idle();
    },
    start(): void {
      started = true;
      timer = setInterval(kick, options.intervalMs);
      timer.unref();
      kick();
    },
    async stop(): Promise<void> {
      closing = true;
      unsubscribe?.();
      if (timer) clearInterval(timer);
      await runner.idle();
    },
  };
}

export type Evaluator = ReturnType<typeof createEvaluator>;

function describeEvent(e: AlertEvent): string {
  const who = e.actorId ? ` by ${e.actorId}` : e.sourceIp ? ` from ${e.sourceIp}` : "";
  const what = e.resourceId ? ` on ${e.namespace && !e.resourceId.startsWith(e.namespace) ? `${e.namespace}/` : ""}${e.resourceId}` : "";
  const env = typeof e.metadata.environment === "string" ? ` (${e.metadata.environment})` : "";
  return `${e.eventType}${who}${what}${env}`;
}

/** The alert as channels receive it (webhook body, Slack text, email) and as the API shows it. */
function alertDocument(f: Fired, tenantId: string, tenantName: string | null, logId: string, firedAt: Date) {
  const { rule, firing, trigger } = f;
  const events = firing.events;
  const group = rule.groupBy && f.groupKey !== null ? { by: rule.groupBy, value: f.groupKey } : null;
  const summary =
    rule.threshold.count === 1
      ? `${rule.name}: ${describeEvent(trigger)}`
      : `${rule.name}: ${events.length} events in ${rule.threshold.windowSeconds}s${group ? ` (${group.by} ${group.value})` : ""}`;
  return {
    type: "alert.fired",
    id: f.id,
    tenant: tenantId,
    tenantName,
    log: logId,
    rule: { id: rule.id, name: rule.name, builtin: rule.builtin },
    severity: firing.severity,
    summary,
    count: events.length,
    threshold: rule.threshold,
    group,
    firstEventAt: new Date((events[0] as { t: number }).t).toISOString(),
    lastEventAt: new Date((events[events.length - 1] as { t: number }).t).toISOString(),
    firedAt: firedAt.toISOString(),
    suppressedSinceLastAlert: firing.suppressedBefore,
    events: events.slice(-20).map((e) => ({ index: e.i, id: e.id, occurredAt: new Date(e.t).toISOString() })),
    trigger: {
      index: trigger.index,
      id: trigger.id,
      eventType: trigger.eventType,
      occurredAt: trigger.occurredAt.toISOString(),
      result: trigger.result,
      actor: { id: trigger.actorId, type: trigger.actorType },
      resource: { type: trigger.resourceType, id: trigger.resourceId, namespace: trigger.namespace },
      sourceIp: trigger.sourceIp,
      metadata: trigger.metadata,
    },
  };
}
