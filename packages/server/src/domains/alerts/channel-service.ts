import { type ChannelType, sendAlert, targetErrors, validateChannelConfig } from "../../alerts/channels.js";
import type { CallContext } from "../../auth/actor.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import type { ChannelRow } from "./repository.js";
import type { AlertChannel, AlertChannelList, ChannelTestResult, CreateChannelBody, UpdateChannelBody } from "./schemas.js";
import type { AlertServiceDeps } from "./service.js";
import { invalid, iso, isUniqueViolation, parse } from "./support.js";

/** A channel as the API shows it: never a secret, only the names of the secrets that are set. */
function channelView(row: ChannelRow): AlertChannel {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    enabled: row.enabled,
    config: parse(row.config),
    secretsSet: parse(row.secret_fields),
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
  };
}

/**
 * Alert channels of a tenant. Secrets are validated, checked against the SSRF guard and sealed before
 * they reach the database; they are opened only to send, and never returned.
 */
export function createChannelService(deps: AlertServiceDeps) {
  const { db, repo, audit } = deps;
  const send = deps.send ?? sendAlert;
  const channelNotFound = (id: string) => new CairnError("not_found", `alert channel ${id} does not exist`);

  async function sealChannel(tenantId: string, id: string, type: ChannelType, config: Record<string, unknown>) {
    const { split, errors } = validateChannelConfig(type, config);
    if (!split) throw invalid(`the ${type} channel's settings are not valid`, errors);
    const refused = await targetErrors(type, split.secrets, deps.allowPrivateTargets);
    if (refused.length) throw invalid("the target is not allowed", refused);
    const sealed = await deps.sealer.seal(tenantId, id, split.secrets);
    return { config: split.config, secretFields: Object.keys(split.secrets).sort(), ...sealed };
  }

  return {
    async listChannels(ctx: CallContext): Promise<AlertChannelList> {
      return { items: (await repo.listChannels(db, ctx.actor.tenantId)).map(channelView) };
    },

    async getChannel(ctx: CallContext, id: string): Promise<AlertChannel> {
      const row = await repo.findChannel(db, ctx.actor.tenantId, id);
      if (!row) throw channelNotFound(id);
      return channelView(row);
    },

    async createChannel(ctx: CallContext, body: CreateChannelBody): Promise<AlertChannel> {
      const tenantId = ctx.actor.tenantId;
      const id = newId("alertChannel");
      const sealed = await sealChannel(tenantId, id, body.type, body.config);
      try {
        return await db.transaction().execute(async (trx) => {
          if (await repo.channelNameTaken(trx, tenantId, body.name)) {
            throw new CairnError("conflict", `an alert channel named "${body.name}" already exists`);
          }
          const row = await repo.insertChannel(trx, {
            id,
            tenantId,
            name: body.name,
            type: body.type,
            enabled: body.enabled ?? true,
            config: sealed.config,
            secretFields: sealed.secretFields,
            kekProvider: sealed.kekProvider,
            wrappedKey: sealed.wrappedKey,
            sealed: sealed.sealed,
            createdBy: ctx.actor.id,
          });
          await audit.append(trx, {
            tenantId,
            eventType: "alert_channel.created",
            action: "create",
            result: "success",
            ctx,
            resource: { type: "alert_channel", id },
            metadata: { name: body.name, type: body.type, host: sealed.config.host ?? null, secretsSet: sealed.secretFields },
          });
          return channelView(row);
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw new CairnError("conflict", `an alert channel named "${body.name}" already exists`);
        throw e;
      }
    },

    async updateChannel(ctx: CallContext, id: string, body: UpdateChannelBody): Promise<AlertChannel> {
      const tenantId = ctx.actor.tenantId;
      // Opening and sealing happen before the transaction: the KEK provider may be a remote service.
      const before = await repo.findChannel(db, tenantId, id);
      if (!before) throw channelNotFound(id);
      let resealed: Awaited<ReturnType<typeof sealChannel>> | undefined;
      if (body.config) {
        const stored = parse<Record<string, unknown>>(before.config);
        // The host of a URL target is derived from the URL, not a setting of its own.
        if (before.type !== "email") delete stored.host;
        const merged: Record<string, unknown> = { ...stored, ...(await deps.sealer.open(tenantId, id, before)), ...body.config };
        for (const [k, v] of Object.entries(merged)) if (v === null) delete merged[k];
        resealed = await sealChannel(tenantId, id, before.type, merged);
      }
      try {
        return await db.transaction().execute(async (trx) => {
          const current = await repo.findChannel(trx, tenantId, id, true);
          if (!current) throw channelNotFound(id);
          // bytea arrives as a Buffer from pg and as a Uint8Array from PGlite.
          if (resealed && !Buffer.from(current.secrets_sealed).equals(Buffer.from(before.secrets_sealed))) {
            throw new CairnError("conflict", `alert channel ${id} was changed concurrently; try again`);
          }
          const name = body.name ?? current.name;
          if (name !== current.name && (await repo.channelNameTaken(trx, tenantId, name, id))) {
            throw new CairnError("conflict", `an alert channel named "${name}" already exists`);
          }
          const row = await repo.updateChannel(trx, tenantId, id, {
            name,
            enabled: body.enabled ?? current.enabled,
            config: resealed ? resealed.config : parse(current.config),
            secretFields: resealed ? resealed.secretFields : parse(current.secret_fields),
            kekProvider: resealed ? resealed.kekProvider : current.kek_provider,
            wrappedKey: resealed ? resealed.wrappedKey : current.wrapped_key,
            sealed: resealed ? resealed.sealed : current.secrets_sealed,
          });
          if (body.enabled === false) await repo.cancelPendingDeliveries(trx, tenantId, id, "the channel was disabled");
          await audit.append(trx, {
            tenantId,
            eventType: "alert_channel.updated",
            action: "update",
            result: "success",
            ctx,
            resource: { type: "alert_channel", id },
            // Which settings changed, by name only: the values of secret ones never enter the audit log.
            metadata: { name, changed: Object.keys(body).sort(), settings: Object.keys(body.config ?? {}).sort(), enabled: row.enabled },
          });
          return channelView(row);
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw new CairnError("conflict", `an alert channel named "${body.name}" already exists`);
        throw e;
      }
    },

    async deleteChannel(ctx: CallContext, id: string): Promise<void> {
      const tenantId = ctx.actor.tenantId;
      await db.transaction().execute(async (trx) => {
        const row = await repo.findChannel(trx, tenantId, id, true);
        if (!row) throw channelNotFound(id);
        const users = await repo.rulesUsingChannel(trx, id);
        if (users.length > 0) {
          throw new CairnError(
            "conflict",
            `alert channel ${id} is used by rule(s) ${users.map((n) => `"${n}"`).join(", ")}; remove it from them first`,
            { extensions: { rules: users } },
          );
        }
        await repo.cancelPendingDeliveries(trx, tenantId, id, "the channel was deleted");
        await repo.deleteChannel(trx, tenantId, id);
        await audit.append(trx, {
          tenantId,
          eventType: "alert_channel.deleted",
          action: "delete",
          result: "success",
          ctx,
          resource: { type: "alert_channel", id },
          metadata: { name: row.name, type: row.type },
        });
      });
    },

    /** Sends a test message now, with the same guards as a real delivery, and says whether it was accepted. */
    async testChannel(ctx: CallContext, id: string): Promise<ChannelTestResult> {
      const tenantId = ctx.actor.tenantId;
      const row = await repo.findChannel(db, tenantId, id);
      if (!row) throw channelNotFound(id);
      const tenant = await db.selectFrom("tenants").select("name").where("id", "=", tenantId).executeTakeFirst();
      const started = Date.now();
      let error: string | undefined;
      try {
        await send(
          { id, type: row.type, config: parse(row.config), secrets: await deps.sealer.open(tenantId, id, row) },
          {
            type: "alert.test",
            id: newId("alert"),
            tenant: tenantId,
            tenantName: tenant?.name ?? null,
            severity: "info",
            summary: `Test message for alert channel "${row.name}": it works`,
            firedAt: new Date().toISOString(),
          },
          { deliveryId: newId("alertDelivery"), allowPrivate: deps.allowPrivateTargets, timeoutMs: deps.timeoutMs },
        );
      } catch (e) {
        error = (e as Error).message;
      }
      const durationMs = Date.now() - started;
      await audit.append(db, {
        tenantId,
        eventType: "alert_channel.tested",
        action: "test",
        result: error ? "failure" : "success",
        ctx,
        resource: { type: "alert_channel", id },
        metadata: { name: row.name, type: row.type, ...(error ? { error } : {}) },
      });
      return error ? { delivered: false, error, durationMs } : { delivered: true, durationMs };
    },
  };
}
