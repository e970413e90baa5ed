import type { CallContext } from "../../auth/actor.js";
import type { Authorizer } from "../../authz/types.js";
import { CairnError } from "../../errors.js";
import type { EventBus } from "../../events/bus.js";
import { type Log, silentLog } from "../../events/redis.js";
import type { WatchHub } from "../../watch/hub.js";
import type { Sink } from "../../watch/sse.js";
import { Watcher, type WatchFilter } from "../../watch/watcher.js";
import type { EnvironmentService } from "../environments/service.js";
import { checkNamespace } from "../names.js";
import type { WatchRepository } from "./repository.js";

export interface WatchServiceDeps {
  repo: WatchRepository;
  hub: WatchHub;
  environments: Pick<EnvironmentService, "chain">;
  authorizer: Pick<Authorizer, "check">;
  bus: Pick<EventBus, "subscribe">;
  /** Revisions kept per tenant (CAIRN_WATCH_RETENTION). */
  retention: number;
  heartbeatSeconds: number;
  maxBufferBytes: number;
  /** Seconds between compactions of `config_changes`. */
  compactEverySeconds?: number;
  /** Seconds between checks that the credentials of open streams are still good (revoked, expired, disabled). */
  credentialCheckSeconds?: number;
  log?: Log;
  metrics?: { watchConnected(): () => void; watchEvents(n?: number): void };
}

export interface WatchRequest {
  namespace?: string;
  environment?: string;
  since?: number;
  /** When the credential stops being valid by itself (a session token's `exp`), ms since the epoch. */
  credentialExpiresAt?: number;
}

/** A checked request, ready to stream: everything that can fail with a problem answer has been decided. */
export interface WatchPlan {
  ctx: CallContext;
  from: number;
  filter: WatchFilter;
  /** The watched environment: permissions are checked in it (a base change is read through it). */
  environment?: string;
  credentialExpiresAt?: number;
  /** Everything a decision depends on besides the request: who, from where, with which roles and own rules. */
  callerKey: string;
}

/** Gone: the revisions a client needs no longer exist (etcd's "compacted revision"). */
function gone(detail: string, compactedRevision: number, currentRevision: number): CairnError {
  return new CairnError("gone", detail, { extensions: { reason: "compacted", compactedRevision, currentRevision } });
}

/**
 * Watch streams: checks a request (namespace, environment, resume point against the retained horizon),
 * then runs one `Watcher` per stream on the tenant's shared feed. Also owns what spans streams: heartbeats,
 * re-checking the credentials of open streams, ending them all on shutdown, and compacting the change log.
 */
export function createWatchService(deps: WatchServiceDeps) {
  const log = deps.log ?? silentLog;
  const watchers = new Map<Watcher, WatchPlan>();
  const timers: NodeJS.Timeout[] = [];
  let closing = false;

  /**
   * Decisions shared by the streams of one caller for the current turn of the event loop: a change fanned out
   * to many streams of the same key is checked once, not once per stream (decided at the same instant, so
   * the answer is the same). Cleared before the next turn, so nothing outlives a role or binding change.
   */
  const turnDecisions = new Map<string, Promise<boolean>>();
  let clearScheduled = false;
  function mayRead(plan: WatchPlan, namespace: string, writtenIn: string): Promise<boolean> {
    const { ctx } = plan;
    const environment = plan.environment ?? writtenIn;
    const key = `${plan.callerKey}\u0000${namespace}\u0000${environment}`;
    let decision = turnDecisions.get(key);
    if (decision === undefined) {
      decision = deps.authorizer.check(ctx, { resource: "configs", namespace, action: "read", environment }).then((d) => d.allowed);
      turnDecisions.set(key, decision);
      if (!clearScheduled) {
        clearScheduled = true;
        setImmediate(() => {
          turnDecisions.clear();
          clearScheduled = false;
        });
      }
    }
    return decision;
  }

  async function prepare(ctx: CallContext, input: WatchRequest): Promise<WatchPlan> {
    if (closing)
      throw new CairnError("unavailable", "the server is shutting down; reconnect to another replica", { headers: { "Retry-After": "1" } });
    const tenantId = ctx.actor.tenantId;
    const filter: WatchFilter = {};
    if (input.namespace !== undefined) filter.namespace = checkNamespace(input.namespace);
    if (input.environment !== undefined) filter.environments = new Set(await deps.environments.chain(tenantId, input.environment));
    const { current, oldest } = await deps.repo.position(tenantId);
    let from = current;
    if (input.since !== undefined) {
      const since = input.since;
      if (since > current) {
        throw gone(
          `revision ${since} is ahead of this server's latest revision ${current}: it belongs to another store (or a restored backup); reload the current state and watch from its revision`,
          current,
          current,
        );
      }
      // Resuming needs every revision after `since`: the oldest kept must be at most since + 1.
      const compacted = oldest === undefined ? current : oldest - 1;
      if (since < current && since < compacted) {
        throw gone(
          `revision ${since} is older than the retained history (revisions up to ${compacted} were compacted; ${deps.retention} are kept): reload the current state and watch from its revision`,
          compacted,
          current,
        );
      }
      from = since;
    }
    const { actor } = ctx;
    const callerKey = JSON.stringify([actor.type, actor.id, ctx.sourceIp, actor.roles, actor.permissions, actor.instanceAdmin]);
    return { ctx, from, filter, environment: input.environment, credentialExpiresAt: input.credentialExpiresAt, callerKey };
  }

  /** Starts streaming a prepared watch into `sink`. Never throws: a failure ends the stream with `reconnect`. */
  function attach(plan: WatchPlan, sink: Sink): Watcher {
    const { ctx } = plan;
    let unsubscribe: (() => void) | undefined;
    let expiry: NodeJS.Timeout | undefined;
    const disconnected = deps.metrics?.watchConnected();
    const watcher = new Watcher({
      tenantId: ctx.actor.tenantId,
      from: plan.from,
      filter: plan.filter,
      mayRead: (namespace, environment) => mayRead(plan, namespace, environment),
      replay: (after, limit) => deps.repo.changesAfter(ctx.actor.tenantId, after, limit),
      sink,
      maxBufferBytes: deps.maxBufferBytes,
      log,
      onSent: (n) => deps.metrics?.watchEvents(n),
      onEnd: () => {
        disconnected?.();
        watchers.delete(watcher);
        unsubscribe?.();
        if (expiry) clearTimeout(expiry);
      },
    });
    watchers.set(watcher, plan);
    if (plan.credentialExpiresAt !== undefined) {
      const ms = Math.max(0, plan.credentialExpiresAt - Date.now());
      // setTimeout holds at most ~24.8 days; a token that long-lived is re-checked by the periodic check anyway.
      if (ms < 2 ** 31 - 1) {
        expiry = setTimeout(() => watcher.reconnect("credentials_changed", "the session token expired; refresh it and reconnect"), ms);
        expiry.unref();
      }
    }
    deps.hub.subscribe(ctx.actor.tenantId, watcher).then(
      (off) => {
        if (watcher.ended) return off();
        unsubscribe = off;
        watcher.start();
      },
      (e: unknown) => {
        log.warn({ error: (e as Error).message }, "could not follow the tenant's changes");
        watcher.reconnect("unavailable", "the server could not read the change log; reconnect with Last-Event-ID to resume");
      },
    );
    return watcher;
  }

  /** Ends the streams whose credential stopped being valid (revoked, expired, rotated past grace, user disabled). */
  async function checkCredentials(only?: string): Promise<void> {
    const keyIds = new Set<string>();
    const userIds = new Set<string>();
    for (const { ctx } of watchers.values()) {
      const { id, type } = ctx.actor;
      if (only !== undefined && id !== only) continue;
      if (type === "api_key") keyIds.add(id);
      else if (type === "user") userIds.add(id);
    }
    if (keyIds.size === 0 && userIds.size === 0) return;
    const refused = await deps.repo.refusedCredentials([...keyIds], [...userIds]);
    if (refused.size === 0) return;
    for (const [watcher, { ctx }] of watchers) {
      if (refused.has(ctx.actor.id)) {
        watcher.reconnect("credentials_changed", "the credential of this stream is no longer valid (revoked, expired or disabled)");
      }
    }
  }

  const unsubscribeKeys = deps.bus.subscribe("keys.changed", (payload) => {
    if (typeof payload.keyId === "string") void checkCredentials(payload.keyId).catch(() => {});
  });

  async function compact(): Promise<number | undefined> {
    const deleted = await deps.repo.compact(deps.retention);
    if (deleted) log.info({ deleted, retention: deps.retention }, "compacted the watch change log");
    return deleted;
  }

  function every(seconds: number, fn: () => unknown) {
    const t = setInterval(fn, seconds * 1000);
    t.unref();
    timers.push(t);
  }

  return {
    prepare,
    attach,
    compact,
    checkCredentials: () => checkCredentials(),

    start(): void {
      every(deps.heartbeatSeconds, () => {
        for (const watcher of watchers.keys()) watcher.heartbeat();
      });
      every(deps.credentialCheckSeconds ?? 30, () =>
        checkCredentials().catch((e: unknown) => log.warn({ error: (e as Error).message }, "watch credential check failed")),
      );
      // Jittered so replicas started together don't all try at once (only one compacts at a time anyway).
      const compactEvery = deps.compactEverySeconds ?? 60;
      const first = setTimeout(
        () => {
          void compact().catch((e: unknown) => log.warn({ error: (e as Error).message }, "watch compaction failed"));
          every(compactEvery, () => compact().catch((e: unknown) => log.warn({ error: (e as Error).message }, "watch compaction failed")));
        },
        compactEvery * 1000 * (0.5 + Math.random() / 2),
      );
      first.unref();
      timers.push(first);
    },

    /** Ends every open stream with `reconnect` (shutdown): clients resume elsewhere with Last-Event-ID. */
    closeAll(detail = "the server is shutting down; reconnect with Last-Event-ID to resume"): void {
      closing = true;
      for (const watcher of [...watchers.keys()]) watcher.reconnect("shutdown", detail);
    },

    stats() {
      let live = 0;
      for (const watcher of watchers.keys()) if (watcher.live) live++;
      return { streams: watchers.size, live, ...deps.hub.stats() };
    },

    close(): void {
      closing = true;
      for (const t of timers) {
        clearInterval(t);
        clearTimeout(t);
      }
      unsubscribeKeys();
      for (const watcher of [...watchers.keys()]) watcher.reconnect("shutdown", "the server is shutting down");
      deps.hub.close();
    },
  };
}

export type WatchService = ReturnType<typeof createWatchService>;
