import type { sendAlert } from "../../alerts/channels.js";
import { filterErrors } from "../../alerts/rules.js";
import type { ChannelSealer } from "../../alerts/secrets.js";
import { eventSeverities, type Severity, severities } from "../../alerts/severity.js";
import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import { createChannelService } from "./channel-service.js";
import type { AlertRepository, DeliveryListRow, RuleRow, RuleValues } from "./repository.js";
import type {
  AlertQuery,
  AlertRule,
  AlertRuleList,
  CreateRuleBody,
  Delivery,
  DeliveryList,
  DeliveryQuery,
  FiredAlertList,
  SeverityTable,
  UpdateRuleBody,
} from "./schemas.js";
import { invalid, iso, isUniqueViolation, parse } from "./support.js";

export interface AlertServiceDeps {
  db: Db;
  repo: AlertRepository;
  audit: AuditLog;
  sealer: ChannelSealer;
  allowPrivateTargets: boolean;
  maxAttempts: number;
  timeoutMs: number;
  /** Told when a delivery was re-queued (the outbox worker sends it now). */
  onRequeued?: () => void;
  /** Replaces the sender of `POST /channels/{id}/test` (tests). */
  send?: typeof sendAlert;
}

function ruleView(row: RuleRow, channels: string[]): AlertRule {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    builtin: row.builtin,
    enabled: row.enabled,
    events: parse(row.events),
    match: parse(row.match),
    minSeverity: row.min_severity as Severity,
    severity: row.severity as Severity | null,
    threshold: { count: row.threshold_count, windowSeconds: row.window_seconds },
    groupBy: row.group_by as AlertRule["groupBy"],
    channels,
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
  };
}

function deliveryView(r: DeliveryListRow, maxAttempts: number): Delivery {
  return {
    id: r.id,
    alertId: r.alert_id,
    channelId: r.channel_id,
    channelType: r.channel_type as Delivery["channelType"],
    status: r.status,
    attempts: r.attempts,
    maxAttempts,
    nextAttemptAt: r.status === "pending" ? iso(r.next_attempt_at) : null,
    lastAttemptAt: iso(r.last_attempt_at),
    lastError: r.last_error,
    deliveredAt: iso(r.delivered_at),
    createdAt: iso(r.created_at) as string,
    alert: {
      id: r.alert_id,
      ruleId: r.rule_id,
      ruleName: r.rule_name,
      severity: r.severity as Severity,
      summary: r.summary ?? "",
      eventCount: r.event_count,
      firedAt: iso(r.fired_at) as string,
    },
  };
}

/**
 * Alert rules and channels of a tenant, and what they produced (alerts, deliveries). Each change and its
 * audit event commit together. Channel secrets are sealed before they reach the database and are never
 * returned: responses carry only the names of the secret settings that are set.
 */
export function createAlertService(deps: AlertServiceDeps) {
  const { db, repo, audit } = deps;
  const ruleNotFound = (id: string) => new CairnError("not_found", `alert rule ${id} does not exist`);

  async function checkChannels(conn: Conn, tenantId: string, channels: string[]) {
    const found = await repo.existingChannels(conn, tenantId, channels);
    const errors = channels.flatMap((id, i) =>
      found.has(id) ? [] : [{ path: `/channels/${i}`, message: `no alert channel ${id} in this tenant` }],
    );
    if (errors.length) throw invalid("unknown channel(s)", errors);
  }

  function checkRuleValues(v: RuleValues) {
    const errors = filterErrors(v.match);
    if (errors.length) throw invalid("the rule is not valid", errors);
  }

  return {
    ...createChannelService(deps),

    severities(): SeverityTable {
      return {
        levels: [...severities],
        eventTypes: eventSeverities.map(([pattern, severity]) => ({ pattern, severity })),
        default: "info",
      };
    },

    // --- rules ---
    async listRules(ctx: CallContext): Promise<AlertRuleList> {
      const rows = await repo.listRules(db, ctx.actor.tenantId);
      return { items: rows.map((r) => ruleView(r.row, r.channels)) };
    },

    async getRule(ctx: CallContext, id: string): Promise<AlertRule> {
      const found = await repo.findRule(db, ctx.actor.tenantId, id);
      if (!found) throw ruleNotFound(id);
      return ruleView(found.row, found.channels);
    },

    async createRule(ctx: CallContext, body: CreateRuleBody): Promise<AlertRule> {
      const tenantId = ctx.actor.tenantId;
      const values: RuleValues = {
        name: body.name,
        description: body.description ?? null,
        enabled: body.enabled ?? true,
        events: [...new Set(body.events)],
        match: body.match ?? [],
        minSeverity: body.minSeverity ?? "info",
        severity: body.severity ?? null,
        threshold: body.threshold ?? { count: 1, windowSeconds: 60 },
        groupBy: body.groupBy ?? null,
      };
      checkRuleValues(values);
      const channels = [...new Set(body.channels ?? [])];
      const id = newId("alertRule");
      try {
        return await db.transaction().execute(async (trx) => {
          if (await repo.ruleNameTaken(trx, tenantId, values.name))
            throw new CairnError("conflict", `an alert rule named "${values.name}" already exists`);
          await checkChannels(trx, tenantId, channels);
          const row = await repo.insertRule(trx, { ...values, id, tenantId, builtin: null, createdBy: ctx.actor.id });
          await repo.setRuleChannels(trx, id, channels);
          await audit.append(trx, {
            tenantId,
            eventType: "alert_rule.created",
            action: "create",
            result: "success",
            ctx,
            resource: { type: "alert_rule", id },
            metadata: { name: values.name, events: values.events, threshold: values.threshold, groupBy: values.groupBy, channels },
          });
          return ruleView(row, channels);
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw new CairnError("conflict", `an alert rule named "${values.name}" already exists`);
        throw e;
      }
    },

    async updateRule(ctx: CallContext, id: string, body: UpdateRuleBody): Promise<AlertRule> {
      const tenantId = ctx.actor.tenantId;
      try {
        return await db.transaction().execute(async (trx) => {
          const found = await repo.findRule(trx, tenantId, id, true);
          if (!found) throw ruleNotFound(id);
          const current = ruleView(found.row, found.channels);
          const values: RuleValues = {
            name: body.name ?? current.name,
            description: body.description === undefined ? current.description : body.description,
            enabled: body.enabled ?? current.enabled,
            events: body.events ? [...new Set(body.events)] : current.events,
            match: body.match ?? current.match,
            minSeverity: body.minSeverity ?? current.minSeverity,
            severity: body.severity === undefined ? current.severity : body.severity,
            threshold: body.threshold ?? current.threshold,
            groupBy: body.groupBy === undefined ? current.groupBy : body.groupBy,
          };
          checkRuleValues(values);
          if (values.name !== current.name && (await repo.ruleNameTaken(trx, tenantId, values.name, id))) {
            throw new CairnError("conflict", `an alert rule named "${values.name}" already exists`);
          }
          const channels = body.channels ? [...new Set(body.channels)] : current.channels;
          if (body.channels) {
            await checkChannels(trx, tenantId, channels);
            await repo.setRuleChannels(trx, id, channels);
          }
          const row = await repo.updateRule(trx, tenantId, id, values);
          await audit.append(trx, {
            tenantId,
            eventType: "alert_rule.updated",
            action: "update",
            result: "success",
            ctx,
            resource: { type: "alert_rule", id },
            metadata: { name: values.name, changed: Object.keys(body).sort(), enabled: values.enabled },
          });
          return ruleView(row, channels);
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw new CairnError("conflict", `an alert rule named "${body.name}" already exists`);
        throw e;
      }
    },

    async deleteRule(ctx: CallContext, id: string): Promise<void> {
      const tenantId = ctx.actor.tenantId;
      await db.transaction().execute(async (trx) => {
        const found = await repo.findRule(trx, tenantId, id, true);
        if (!found) throw ruleNotFound(id);
        if (found.row.builtin) {
          throw new CairnError(
            "conflict",
            `alert rule ${id} ("${found.row.name}") is built in and cannot be deleted; disable it with PATCH {"enabled": false}`,
          );
        }
        await repo.deleteRule(trx, tenantId, id);
        await audit.append(trx, {
          tenantId,
          eventType: "alert_rule.deleted",
          action: "delete",
          result: "success",
          ctx,
          resource: { type: "alert_rule", id },
          metadata: { name: found.row.name },
        });
      });
    },

    // --- what fired ---
    async listDeliveries(ctx: CallContext, query: DeliveryQuery): Promise<DeliveryList> {
      const limit = query.limit ?? 100;
      const rows = await repo.listDeliveries(db, ctx.actor.tenantId, { ...query, limit: limit + 1 });
      const items = rows.slice(0, limit).map((r) => deliveryView(r, deps.maxAttempts));
      return rows.length > limit ? { items, nextCursor: items[items.length - 1]?.id } : { items };
    },

    /** Puts a dead (or cancelled) delivery back in the queue, with a fresh count of attempts. */
    async retryDelivery(ctx: CallContext, id: string): Promise<Delivery> {
      const tenantId = ctx.actor.tenantId;
      await db.transaction().execute(async (trx) => {
        const d = await repo.findDelivery(trx, tenantId, id, true);
        if (!d) throw new CairnError("not_found", `delivery ${id} does not exist`);
        if (d.status === "delivered") throw new CairnError("conflict", `delivery ${id} was already delivered`);
        if (d.status === "pending") return;
        const channel = await repo.findChannel(trx, tenantId, d.channel_id);
        if (!channel) throw new CairnError("conflict", `delivery ${id} cannot be retried: its channel was deleted`);
        await repo.requeueDelivery(trx, id);
        await audit.append(trx, {
          tenantId,
          eventType: "alert_delivery.retried",
          action: "retry",
          result: "success",
          ctx,
          resource: { type: "alert_delivery", id },
          metadata: { previousStatus: d.status, attempts: d.attempts, channelId: d.channel_id },
        });
      });
      deps.onRequeued?.();
      const [row] = await repo.listDeliveries(db, tenantId, { id, limit: 1 });
      if (!row) throw new CairnError("not_found", `delivery ${id} does not exist`);
      return deliveryView(row, deps.maxAttempts);
    },

    async listAlerts(ctx: CallContext, query: AlertQuery): Promise<FiredAlertList> {
      const limit = query.limit ?? 100;
      const rows = await repo.listAlerts(db, ctx.actor.tenantId, { ...query, limit: limit + 1 });
      const items = rows.slice(0, limit).map(({ alert, deliveries }) => {
        const document = parse<Record<string, unknown>>(alert.document);
        return {
          id: alert.id,
          ruleId: alert.rule_id,
          ruleName: alert.rule_name,
          severity: alert.severity as Severity,
          summary: String(document.summary ?? ""),
          groupKey: alert.group_key,
          eventCount: alert.event_count,
          firstEventAt: iso(alert.first_event_at) as string,
          lastEventAt: iso(alert.last_event_at) as string,
          firedAt: iso(alert.fired_at) as string,
          deliveries: {
            pending: deliveries.pending ?? 0,
            delivered: deliveries.delivered ?? 0,
            dead: deliveries.dead ?? 0,
            cancelled: deliveries.cancelled ?? 0,
          },
          document,
        };
      });
      return rows.length > limit ? { items, nextCursor: items[items.length - 1]?.id } : { items };
    },
  };
}

export type AlertService = ReturnType<typeof createAlertService>;
