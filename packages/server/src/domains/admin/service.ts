import type { AuditLog } from "../../audit/log.js";
import { type CallContext, systemContext } from "../../auth/actor.js";
import type { Authorizer } from "../../authz/types.js";
import { serialRunner } from "../../background.js";
import type { KekRing } from "../../crypto/kek.js";
import type { Keyring } from "../../crypto/keyring.js";
import type { Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import type { EventBus } from "../../events/bus.js";
import type { Log } from "../../events/redis.js";
import { newId } from "../../ids.js";
import { checkNamespace } from "../names.js";
import type { NamespaceService } from "../namespaces/service.js";
import type { RotationSteps } from "./jobs.js";
import type { KeyRotationRepository, RotationRow } from "./repository.js";
import type { KeyRotation, KeyRotationList } from "./schemas.js";

/** Bus channel: a namespace's active data key changed; every replica drops its cached namespace lookup. */
export const DATA_KEY_ROTATED = "dataKeys.rotated";

const POLL_MS = 5_000;

const view = (r: RotationRow): KeyRotation => ({
  id: r.id,
  kind: r.kind,
  namespace: r.namespace,
  status: r.status,
  reason: r.reason,
  total: Math.max(Number(r.total), Number(r.done)),
  done: Number(r.done),
  skipped: Number(r.skipped),
  targetKek: r.target_kek,
  newDataKeyId: r.new_data_key_id,
  error: r.error,
  createdBy: r.created_by,
  startedAt: r.started_at ? new Date(r.started_at).toISOString() : null,
  finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
});

/**
 * Key rotations without downtime. A master-key rotation rewraps every KEK-wrapped blob under the current
 * KEK; a data-key rotation gives a namespace a new data key (new writes use it at once) and re-encrypts
 * its values. Both run in the background in batches, as durable jobs in PostgreSQL claimed with
 * FOR UPDATE SKIP LOCKED, so any replica resumes them after a restart; reads keep working throughout,
 * since every blob names the key that sealed it.
 */
export function createKeyRotationService(deps: {
  db: Db;
  repo: KeyRotationRepository;
  steps: RotationSteps;
  kek: KekRing;
  keyring: Keyring;
  namespaces: Pick<NamespaceService, "find" | "forget">;
  audit: AuditLog;
  bus: EventBus;
  authz: Pick<Authorizer, "require">;
  log: Log;
}) {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const limitSeen = new Set<string>();

  /** Batches until no job is left that this replica may work on; each batch is one transaction. */
  async function pass(): Promise<void> {
    while (!stopped) {
      const more = await deps.db.transaction().execute(async (trx) => {
        const job = await deps.repo.claim(trx);
        if (!job) return false;
        if (job.kind === "master" && job.target_kek !== deps.kek.currentKek) {
          // Started by a replica with another current KEK (a rolling deploy in progress): that one finishes it.
          deps.log.warn(
            { rotation: job.id, target: job.target_kek, mine: deps.kek.currentKek },
            "key rotation targets another KEK; left to its replicas",
          );
          return false;
        }
        const outcome = await deps.steps.step(trx, { ...job, cursor: job.cursor ?? {} });
        if (outcome === "done") {
          await deps.repo.progress(trx, job.id, { status: "completed", finished: true });
          await deps.audit.append(trx, {
            tenantId: job.tenant_id,
            eventType: "key_rotation.completed",
            action: "rotate",
            result: "success",
            ctx: systemContext(job.tenant_id ?? ""),
            resource: { type: "key_rotation", id: job.id },
            metadata: { kind: job.kind, ...(job.namespace_id ? { namespaceId: job.namespace_id } : {}) },
          });
        }
        return true;
      });
      if (!more) return;
      // Let requests in between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const runner = serialRunner(pass, { log: deps.log, what: "key rotation", stopped: () => stopped });

  async function requireInstanceAdmin(ctx: CallContext, what: string) {
    if (!ctx.actor.instanceAdmin) throw new CairnError("forbidden", `only the instance admin (the bootstrap admin key) ${what}`);
  }

  /** A data rotation is the instance admin's, or needs `secrets:<ns>:admin`. */
  async function requireDataAdmin(ctx: CallContext, namespace: string) {
    if (ctx.actor.instanceAdmin) return;
    await deps.authz.require(ctx, { resource: "secrets", namespace, action: "admin" });
  }

  function conflict(existing: string | undefined, scope: string): never {
    throw new CairnError(
      "conflict",
      `a key rotation of ${scope} is already running (${existing}); follow it with GET /api/v1/admin/key-rotations/${existing}`,
      {
        extensions: { rotationId: existing },
      },
    );
  }

  async function startData(ctx: CallContext, namespace: string, reason: string): Promise<KeyRotation> {
    const tenantId = ctx.actor.tenantId;
    checkNamespace(namespace);
    const id = newId("keyRotation");
    const started = await deps.db.transaction().execute(async (trx) => {
      const ns = await trx
        .selectFrom("namespaces")
        .select(["id", "path", "active_data_key_id"])
        .where("tenant_id", "=", tenantId)
        .where("path", "=", namespace)
        .forUpdate()
        .executeTakeFirst();
      if (!ns) throw new CairnError("not_found", `namespace "${namespace}" does not exist`);
      if (
        !(await deps.repo.insert(trx, {
          id,
          kind: "data",
          tenantId,
          namespaceId: ns.id,
          reason,
          createdBy: ctx.actor.id,
          targetKek: null,
          cursor: { phase: "configs", after: null, pass: 0, passSkipped: 0 },
        }))
      ) {
        conflict((await deps.repo.active(trx, ns.id))?.id, `namespace ${namespace}`);
      }
      const newKey = await deps.keyring.createDataKey(trx, tenantId, ns.id);
      if (ns.active_data_key_id)
        await trx.updateTable("data_keys").set({ rotated_at: new Date() }).where("id", "=", ns.active_data_key_id).execute();
      await trx.updateTable("namespaces").set({ active_data_key_id: newKey }).where("id", "=", ns.id).execute();
      const total = await deps.steps.countData(trx, ns.id, newKey);
      await deps.repo.progress(trx, id, { newDataKeyId: newKey, total });
      await deps.audit.append(trx, {
        tenantId,
        eventType: "key_rotation.started",
        action: "rotate",
        result: "success",
        ctx,
        resource: { type: "key_rotation", id, namespace: ns.path },
        metadata: { kind: "data", previousDataKeyId: ns.active_data_key_id, newDataKeyId: newKey, reason, values: total },
      });
      return ns.id;
    });
    // New writes use the new key at once: every replica forgets the namespace's old active key.
    deps.namespaces.forget(started);
    await deps.bus.publish(DATA_KEY_ROTATED, { namespaceId: started });
    deps.audit.appended();
    runner.run();
    return view((await deps.repo.get(deps.db, id)) as RotationRow);
  }

  return {
    start(): void {
      deps.keyring.onLimit((key) => {
        // Called from inside a seal (maybe inside a writer's transaction): decided later, on the pool.
        if (limitSeen.has(key.id) || stopped) return;
        limitSeen.add(key.id);
        setImmediate(async () => {
          try {
            const ns = await deps.db
              .selectFrom("namespaces")
              .select(["path", "active_data_key_id"])
              .where("id", "=", key.namespaceId)
              .executeTakeFirst();
            if (!ns || ns.active_data_key_id !== key.id) return;
            await startData(
              systemContext(key.tenantId),
              ns.path,
              `automatic: data key ${key.id} sealed ${key.encryptions} values (limit CAIRN_DATA_KEY_MAX_ENCRYPTIONS)`,
            );
          } catch (e) {
            if (!(e instanceof CairnError && e.code === "conflict")) {
              limitSeen.delete(key.id);
              deps.log.warn(
                { error: (e as Error).message, dataKeyId: key.id },
                "automatic data key rotation failed; will retry at the next limit report",
              );
            }
          }
        });
      });
      deps.bus.subscribe(DATA_KEY_ROTATED, (p) => deps.namespaces.forget(String(p.namespaceId)));
      deps.bus.onGap(() => deps.namespaces.forget());
      timer = setInterval(() => runner.run(), POLL_MS);
      timer.unref();
      runner.run();
    },

    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      deps.keyring.close();
      await runner.idle();
    },

    /** Runs pending batches now; resolves when no job is left (tests, the CLI's --wait goes through GET). */
    drain: () => runner.idle().then(() => runner.run()),

    async startMaster(ctx: CallContext, options: { all?: boolean; reason?: string }): Promise<KeyRotation> {
      await requireInstanceAdmin(ctx, "rotates the master key");
      const id = newId("keyRotation");
      const reason = options.reason ?? "master key rotation";
      await deps.db.transaction().execute(async (trx) => {
        const cursor = { t: 0, after: null, all: options.all === true, pass: 0, passSkipped: 0 };
        if (
          !(await deps.repo.insert(trx, {
            id,
            kind: "master",
            tenantId: null,
            namespaceId: null,
            reason,
            createdBy: ctx.actor.id,
            targetKek: deps.kek.currentKek,
            cursor,
          }))
        ) {
          conflict((await deps.repo.active(trx, null))?.id, "the master key");
        }
        const total = options.all ? await deps.steps.countAll(trx) : await deps.steps.countMaster(trx);
        await deps.repo.progress(trx, id, { total });
        await deps.audit.append(trx, {
          tenantId: null,
          eventType: "key_rotation.started",
          action: "rotate",
          result: "success",
          ctx,
          resource: { type: "key_rotation", id },
          metadata: { kind: "master", targetKek: deps.kek.currentKek, all: options.all === true, reason, keys: total },
        });
      });
      deps.audit.appended();
      runner.run();
      return view((await deps.repo.get(deps.db, id)) as RotationRow);
    },

    async startData(ctx: CallContext, namespace: string | undefined, reason?: string): Promise<KeyRotation> {
      if (!namespace)
        throw new CairnError("bad_request", 'a data key rotation names its namespace: {"kind": "data", "namespace": "production/api"}', {
          errors: [{ path: "/namespace", message: "required for kind data" }],
        });
      await requireDataAdmin(ctx, namespace);
      return startData(ctx, namespace, reason ?? "data key rotation");
    },

    async get(ctx: CallContext, id: string): Promise<KeyRotation> {
      const row = await deps.repo.get(deps.db, id);
      const visible = row && (ctx.actor.instanceAdmin || (row.tenant_id === ctx.actor.tenantId && row.namespace));
      if (!row || !visible) throw new CairnError("not_found", `no key rotation ${id}`);
      if (!ctx.actor.instanceAdmin) await requireDataAdmin(ctx, row.namespace as string);
      return view(row);
    },

    async list(ctx: CallContext): Promise<KeyRotationList> {
      await requireInstanceAdmin(ctx, "lists key rotations");
      return { items: (await deps.repo.list(deps.db, undefined, 100)).map(view) };
    },
  };
}

export type KeyRotationService = ReturnType<typeof createKeyRotationService>;
