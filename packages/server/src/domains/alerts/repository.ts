import { type Selectable, sql } from "kysely";
import type { GroupBy, RuleDefinition, RuleFilter } from "../../alerts/rules.js";
import type { Severity } from "../../alerts/severity.js";
import type { Conn } from "../../db/database.js";
import type { AlertChannelsTable, AlertDeliveriesTable, AlertRulesTable, AlertsTable } from "../../db/types.js";

export type RuleRow = Selectable<AlertRulesTable>;
export type ChannelRow = Selectable<AlertChannelsTable>;
export type DeliveryRow = Selectable<AlertDeliveriesTable>;
export type AlertRow = Selectable<AlertsTable>;

/** A delivery with the summary of its alert, as listed. */
export interface DeliveryListRow {
  id: string;
  alert_id: string;
  channel_id: string;
  channel_type: string;
  status: DeliveryRow["status"];
  attempts: number;
  next_attempt_at: Date | string;
  last_attempt_at: Date | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: Date | string;
  rule_id: string;
  rule_name: string;
  severity: string;
  event_count: number;
  fired_at: Date | string;
  summary: string | null;
}

const parse = <T>(v: unknown): T => (typeof v === "string" ? (JSON.parse(v) as T) : (v as T));

export function ruleDefinitionOf(row: RuleRow, channels: string[]): RuleDefinition {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    builtin: row.builtin,
    enabled: row.enabled,
    events: parse<string[]>(row.events),
    match: parse<RuleFilter[]>(row.match),
    minSeverity: row.min_severity as Severity,
    severity: row.severity as Severity | null,
    threshold: { count: row.threshold_count, windowSeconds: row.window_seconds },
    groupBy: row.group_by as GroupBy | null,
    channels,
    createdAt: new Date(row.created_at),
  };
}

async function channelsByRule(conn: Conn, ruleIds: string[]): Promise<Map<string, string[]>> {
  const byRule = new Map<string, string[]>();
  if (ruleIds.length === 0) return byRule;
  const links = await conn
    .selectFrom("alert_rule_channels")
    .select(["rule_id", "channel_id"])
    .where("rule_id", "in", ruleIds)
    .orderBy("channel_id")
    .execute();
  for (const l of links) byRule.set(l.rule_id, [...(byRule.get(l.rule_id) ?? []), l.channel_id]);
  return byRule;
}

/** Every rule of a tenant with its channel ids (the evaluator's view). */
export async function loadRuleDefinitions(conn: Conn, tenantId: string): Promise<RuleDefinition[]> {
  const rows = await conn.selectFrom("alert_rules").selectAll().where("tenant_id", "=", tenantId).orderBy("id").execute();
  const links = await channelsByRule(
    conn,
    rows.map((r) => r.id),
  );
  return rows.map((r) => ruleDefinitionOf(r, links.get(r.id) ?? []));
}

export interface RuleValues {
  name: string;
  description: string | null;
  enabled: boolean;
  events: string[];
  match: RuleFilter[];
  minSeverity: Severity;
  severity: Severity | null;
  threshold: { count: number; windowSeconds: number };
  groupBy: GroupBy | null;
}

const ruleColumns = (v: RuleValues) => ({
  name: v.name,
  description: v.description,
  enabled: v.enabled,
  events: JSON.stringify(v.events),
  match: JSON.stringify(v.match),
  min_severity: v.minSeverity,
  severity: v.severity,
  threshold_count: v.threshold.count,
  window_seconds: v.threshold.windowSeconds,
  group_by: v.groupBy,
});

/** Alert rules, channels, alerts and deliveries of one tenant: every read and write is scoped by tenant id. */
export function createAlertRepository() {
  return {
    // --- rules ---
    async listRules(conn: Conn, tenantId: string): Promise<{ row: RuleRow; channels: string[] }[]> {
      const rows = await conn.selectFrom("alert_rules").selectAll().where("tenant_id", "=", tenantId).orderBy("id").execute();
      const links = await channelsByRule(
        conn,
        rows.map((r) => r.id),
      );
      return rows.map((row) => ({ row, channels: links.get(row.id) ?? [] }));
    },

    async findRule(conn: Conn, tenantId: string, id: string, forUpdate = false): Promise<{ row: RuleRow; channels: string[] } | undefined> {
      let q = conn.selectFrom("alert_rules").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id);
      if (forUpdate) q = q.forUpdate();
      const row = await q.executeTakeFirst();
      if (!row) return undefined;
      return { row, channels: (await channelsByRule(conn, [id])).get(id) ?? [] };
    },

    async ruleNameTaken(conn: Conn, tenantId: string, name: string, exceptId?: string): Promise<boolean> {
      let q = conn.selectFrom("alert_rules").select("id").where("tenant_id", "=", tenantId).where("name", "=", name);
      if (exceptId) q = q.where("id", "!=", exceptId);
      return (await q.executeTakeFirst()) !== undefined;
    },

    async insertRule(
      conn: Conn,
      r: RuleValues & { id: string; tenantId: string; builtin: string | null; createdBy: string | null },
    ): Promise<RuleRow> {
      return conn
        .insertInto("alert_rules")
        .values({ id: r.id, tenant_id: r.tenantId, builtin: r.builtin, created_by: r.createdBy, ...ruleColumns(r) })
        .returningAll()
        .executeTakeFirstOrThrow();
    },

    async updateRule(conn: Conn, tenantId: string, id: string, v: RuleValues): Promise<RuleRow> {
      return conn
        .updateTable("alert_rules")
        .set({ ...ruleColumns(v), updated_at: sql`now()` as unknown as Date })
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirstOrThrow();
    },

    async setRuleChannels(conn: Conn, ruleId: string, channelIds: string[]): Promise<void> {
      await conn.deleteFrom("alert_rule_channels").where("rule_id", "=", ruleId).execute();
      if (channelIds.length > 0) {
        await conn
          .insertInto("alert_rule_channels")
          .values(channelIds.map((channel_id) => ({ rule_id: ruleId, channel_id })))
          .execute();
      }
    },

    async deleteRule(conn: Conn, tenantId: string, id: string): Promise<void> {
      await conn.deleteFrom("alert_rules").where("tenant_id", "=", tenantId).where("id", "=", id).execute();
    },

    // --- channels ---
    listChannels(conn: Conn, tenantId: string): Promise<ChannelRow[]> {
      return conn.selectFrom("alert_channels").selectAll().where("tenant_id", "=", tenantId).orderBy("id").execute();
    },

    findChannel(conn: Conn, tenantId: string, id: string, forUpdate = false): Promise<ChannelRow | undefined> {
      let q = conn.selectFrom("alert_channels").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id);
      if (forUpdate) q = q.forUpdate();
      return q.executeTakeFirst();
    },

    /** Which of these ids are channels of the tenant (locked, so they cannot vanish before the commit). */
    async existingChannels(conn: Conn, tenantId: string, ids: string[]): Promise<Set<string>> {
      if (ids.length === 0) return new Set();
      const rows = await conn
        .selectFrom("alert_channels")
        .select("id")
        .where("tenant_id", "=", tenantId)
        .where("id", "in", ids)
        .forShare()
        .execute();
      return new Set(rows.map((r) => r.id));
    },

    async channelNameTaken(conn: Conn, tenantId: string, name: string, exceptId?: string): Promise<boolean> {
      let q = conn.selectFrom("alert_channels").select("id").where("tenant_id", "=", tenantId).where("name", "=", name);
      if (exceptId) q = q.where("id", "!=", exceptId);
      return (await q.executeTakeFirst()) !== undefined;
    },

    async insertChannel(
      conn: Conn,
      c: {
        id: string;
        tenantId: string;
        name: string;
        type: ChannelRow["type"];
        enabled: boolean;
        config: Record<string, unknown>;
        secretFields: string[];
        kekProvider: string;
        wrappedKey: Buffer;
        sealed: Buffer;
        createdBy: string | null;
      },
    ): Promise<ChannelRow> {
      return conn
        .insertInto("alert_channels")
        .values({
          id: c.id,
          tenant_id: c.tenantId,
          name: c.name,
          type: c.type,
          enabled: c.enabled,
          config: JSON.stringify(c.config),
          secret_fields: JSON.stringify(c.secretFields),
          kek_provider: c.kekProvider,
          wrapped_key: c.wrappedKey,
          secrets_sealed: c.sealed,
          created_by: c.createdBy,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    },

    async updateChannel(
      conn: Conn,
      tenantId: string,
      id: string,
      c: {
        name: string;
        enabled: boolean;
        config: Record<string, unknown>;
        secretFields: string[];
        kekProvider: string;
        wrappedKey: Buffer;
        sealed: Buffer;
      },
    ): Promise<ChannelRow> {
      return conn
        .updateTable("alert_channels")
        .set({
          name: c.name,
          enabled: c.enabled,
          config: JSON.stringify(c.config),
          secret_fields: JSON.stringify(c.secretFields),
          kek_provider: c.kekProvider,
          wrapped_key: c.wrappedKey,
          secrets_sealed: c.sealed,
          updated_at: sql`now()` as unknown as Date,
        })
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirstOrThrow();
    },

    /** Names of the tenant's rules that send to this channel. */
    async rulesUsingChannel(conn: Conn, channelId: string): Promise<string[]> {
      const rows = await conn
        .selectFrom("alert_rule_channels")
        .innerJoin("alert_rules", "alert_rules.id", "alert_rule_channels.rule_id")
        .select("alert_rules.name")
        .where("alert_rule_channels.channel_id", "=", channelId)
        .orderBy("alert_rules.name")
        .execute();
      return rows.map((r) => r.name);
    },

    async deleteChannel(conn: Conn, tenantId: string, id: string): Promise<void> {
      await conn.deleteFrom("alert_channels").where("tenant_id", "=", tenantId).where("id", "=", id).execute();
    },

    /** Deliveries still waiting for a channel that goes away: they can never be sent. */
    async cancelPendingDeliveries(conn: Conn, tenantId: string, channelId: string, reason: string): Promise<void> {
      await conn
        .updateTable("alert_deliveries")
        .set({ status: "cancelled", last_error: reason, locked_until: null, updated_at: sql`now()` as unknown as Date })
        .where("tenant_id", "=", tenantId)
        .where("channel_id", "=", channelId)
        .where("status", "=", "pending")
        .execute();
    },

    // --- alerts and deliveries ---
    listDeliveries(
      conn: Conn,
      tenantId: string,
      q: { id?: string; status?: string; channelId?: string; ruleId?: string; alertId?: string; after?: string; limit: number },
    ): Promise<DeliveryListRow[]> {
      let query = conn
        .selectFrom("alert_deliveries as d")
        .innerJoin("alerts as a", "a.id", "d.alert_id")
        .select([
          "d.id",
          "d.alert_id",
          "d.channel_id",
          "d.channel_type",
          "d.status",
          "d.attempts",
          "d.next_attempt_at",
          "d.last_attempt_at",
          "d.last_error",
          "d.delivered_at",
          "d.created_at",
          "a.rule_id",
          "a.rule_name",
          "a.severity",
          "a.event_count",
          "a.fired_at",
          sql<string>`a.document->>'summary'`.as("summary"),
        ])
        .where("d.tenant_id", "=", tenantId);
      if (q.id) query = query.where("d.id", "=", q.id);
      if (q.status) query = query.where("d.status", "=", q.status as DeliveryRow["status"]);
      if (q.channelId) query = query.where("d.channel_id", "=", q.channelId);
      if (q.alertId) query = query.where("d.alert_id", "=", q.alertId);
      if (q.ruleId) query = query.where("a.rule_id", "=", q.ruleId);
      if (q.after) query = query.where("d.id", "<", q.after);
      return query.orderBy("d.id", "desc").limit(q.limit).execute();
    },

    findDelivery(conn: Conn, tenantId: string, id: string, forUpdate = false): Promise<DeliveryRow | undefined> {
      let q = conn.selectFrom("alert_deliveries").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id);
      if (forUpdate) q = q.forUpdate();
      return q.executeTakeFirst();
    },

    async requeueDelivery(conn: Conn, id: string): Promise<void> {
      await conn
        .updateTable("alert_deliveries")
        .set({
          status: "pending",
          attempts: 0,
          next_attempt_at: sql`now()` as unknown as Date,
          locked_until: null,
          updated_at: sql`now()` as unknown as Date,
        })
        .where("id", "=", id)
        .execute();
    },

    async listAlerts(conn: Conn, tenantId: string, q: { ruleId?: string; after?: string; limit: number }) {
      let query = conn.selectFrom("alerts").selectAll().where("tenant_id", "=", tenantId).orderBy("id", "desc").limit(q.limit);
      if (q.ruleId) query = query.where("rule_id", "=", q.ruleId);
      if (q.after) query = query.where("id", "<", q.after);
      const alerts = await query.execute();
      const counts = new Map<string, Record<string, number>>();
      if (alerts.length > 0) {
        const rows = await conn
          .selectFrom("alert_deliveries")
          .select(["alert_id", "status", (eb) => eb.fn.countAll<string>().as("n")])
          .where(
            "alert_id",
            "in",
            alerts.map((a) => a.id),
          )
          .groupBy(["alert_id", "status"])
          .execute();
        for (const r of rows) counts.set(r.alert_id, { ...(counts.get(r.alert_id) ?? {}), [r.status]: Number(r.n) });
      }
      return alerts.map((a) => ({ alert: a, deliveries: counts.get(a.id) ?? {} }));
    },
  };
}

export type AlertRepository = ReturnType<typeof createAlertRepository>;
