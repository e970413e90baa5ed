import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { Authorizer } from "../../authz/types.js";
import type { HeadCache } from "../../cache/heads.js";
import type { CachedRead, ValueCache } from "../../cache/values.js";
import type { Keyring } from "../../crypto/keyring.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import type { Metrics } from "../../metrics.js";
import type { EnvironmentService } from "../environments/service.js";
import type { KeySchemaService } from "../key-schemas/service.js";
import { checkKey } from "../names.js";
import type { NamespaceRef, NamespaceService } from "../namespaces/service.js";
import type { TenantSettingsService } from "../tenant-settings/service.js";
import type { LeakGuardMode } from "./leak-guard.js";
import { findReferences, type Reference, type ReferencedValue, resolveReferences } from "./references.js";
import type { ConfigRepository } from "./repository.js";
import type {
  BulkBody,
  BulkResult,
  ConfigEntry,
  ConfigList,
  HistoryEntry,
  KeyHistory,
  NamespaceHistory,
  ResolvedConfig,
  ValidateResult,
} from "./schemas.js";
import { diffOf, encodeValue, entryOf } from "./values.js";
import { type Change, createConfigWriter } from "./writer.js";

export interface ConfigAddress {
  namespace: string;
  key: string;
  environment?: string;
}

const DEFAULT_ENVIRONMENT = "base";
/**
 * Versioned, encrypted configuration: the public operations. Writes go through the writer (writer.ts);
 * reads resolve along the environment chain and open values here; reveals and secret writes are
 * authorized and audited here.
 */
export function createConfigService(deps: {
  db: Db;
  repo: ConfigRepository;
  namespaces: NamespaceService;
  environments: EnvironmentService;
  keySchemas: KeySchemaService;
  keyring: Keyring;
  audit: AuditLog;
  authz: Pick<Authorizer, "check" | "require">;
  maxValueBytes: number;
  /** L1 cache of resolved reads; absent → every read goes to the database. */
  values?: ValueCache<ResolvedConfig>;
  /** Times committed writes (cairn_write_duration_seconds). */
  metrics?: Pick<Metrics, "observeWrite">;
  /** L2: head rows (ciphertext) shared by the replicas in Redis; absent → the database. */
  heads?: HeadCache;
  /** The tenant's leak guard mode; absent → warn. */
  tenantSettings?: Pick<TenantSettingsService, "get" | "cached">;
}) {
  const { write, writeOne, openValue } = createConfigWriter(deps);
  /** A reveal needs `secrets:<ns>:reveal` and is recorded before the value leaves the server; if the record fails, so does the read. */
  async function recordReveal(ctx: CallContext, namespace: string, key: string, environment: string, versions: number[]) {
    await deps.authz.require(ctx, { resource: "secrets", namespace, action: "reveal", environment });
    await deps.audit.append(deps.db, {
      tenantId: ctx.actor.tenantId,
      eventType: "secret.reveal",
      action: "reveal",
      result: "success",
      ctx,
      resource: { type: "config", id: `${namespace}/${key}`, namespace },
      metadata: { environment, versions },
    });
  }

  /**
   * Whether the caller may write secret values here. Decided before the transaction (the authorizer may
   * read the database); the write itself refuses a secret result when this is false.
   */
  async function maySetSecrets(ctx: CallContext, namespace: string, environment: string): Promise<boolean> {
    return (await deps.authz.check(ctx, { resource: "secrets", namespace, action: "write", environment })).allowed;
  }

  /** Runs a write; a refusal to touch a secret is audited as a denial after the transaction rolled back. */
  async function guardingSecrets<T>(ctx: CallContext, namespace: string, key: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof CairnError && e.code === "forbidden" && e.extensions?.secretWrite) {
        await deps.audit.append(deps.db, {
          tenantId: ctx.actor.tenantId,
          eventType: "authz.denied",
          action: "write",
          result: "denied",
          ctx,
          resource: { type: "config", id: `${namespace}/${key}`, namespace },
          metadata: { permission: `secrets:${namespace}:write` },
        });
      }
      throw e;
    }
  }

  /** One key's write: whether secrets may be touched is decided first; `create` makes a missing namespace. */
  async function writeKey(
    ctx: CallContext,
    address: ConfigAddress,
    change: Change,
    create: boolean,
    options: { reason?: string; ifMatch?: number | "*"; createOnly?: boolean },
  ): Promise<ConfigEntry> {
    const key = checkKey(address.key);
    const { name: environment } = await environmentOf(ctx.actor.tenantId, address.environment);
    const mayWriteSecrets = await maySetSecrets(ctx, address.namespace, environment);
    const leakGuard = await leakGuardOf(ctx.actor.tenantId);
    if (change.kind === "set" && change.bytes.includes("${ref:")) {
      await checkReferenceCycles(ctx.actor.tenantId, address.namespace, key, environment, change.value);
    }
    let namespaceId: string | undefined;
    const started = performance.now();
    const outcome = await guardingSecrets(ctx, address.namespace, key, () =>
      writeOne(ctx.actor.tenantId, address.namespace, create, (conn, ns, mode) => {
        namespaceId = ns.id;
        return write(conn, ctx, { ns, key, environment, change, mayWriteSecrets, leakGuard, ...options }, mode);
      }),
    );
    deps.metrics?.observeWrite("single", (performance.now() - started) / 1000);
    if (namespaceId) {
      const { warnings: _warnings, ...entry } = outcome.entry;
      // What a read of this environment now returns (masked if secret), cached at once.
      const fresh = outcome.changeType === "delete" ? undefined : { ...entry, resolvedFrom: environment };
      await written(ctx.actor.tenantId, namespaceId, key, { environment, version: entry.version }, fresh);
    }
    return outcome.entry;
  }

  /** After a write committed: the shared cache first, then this replica's and (one message) every other's. */
  async function written(
    tenantId: string,
    namespaceId: string,
    key: string,
    change: { environment: string; version: number },
    fresh?: ResolvedConfig,
  ): Promise<void> {
    deps.audit.appended();
    const cached = fresh && { entry: fresh, json: JSON.stringify(fresh) };
    // With Redis, the L2 invalidation and the message to the other replicas go in one script, in that order.
    const relay = deps.heads ? deps.values?.relay(tenantId, namespaceId, key, change) : undefined;
    await deps.heads?.invalidate(tenantId, namespaceId, key, relay);
    if (relay) deps.values?.changedHere(tenantId, namespaceId, key, change, cached);
    else await deps.values?.changed(tenantId, namespaceId, key, change, cached);
  }

  /** Cached after the first write of a tenant, so no await on the hot path. */
  function leakGuardOf(tenantId: string): LeakGuardMode | Promise<LeakGuardMode> {
    if (!deps.tenantSettings) return "warn";
    const cached = deps.tenantSettings.cached(tenantId);
    return cached ? cached.leakGuard : deps.tenantSettings.get(tenantId).then((s) => s.leakGuard);
  }

  /**
   * The stored value of a key as a read of `environment` resolves it (no permission check, no reveal
   * record: callers do those), or undefined when there is none.
   */
  async function currentValue(tenantId: string, namespace: string, key: string, environment: string): Promise<ReferencedValue | undefined> {
    const head = await liveHead(tenantId, namespace, key, await deps.environments.chain(tenantId, environment));
    if (!head) return undefined;
    return { value: await openValue(head, head.version), secret: head.secret };
  }

  /** The head a read along `chain` resolves to now (the first environment holding a live value), from the database. */
  async function liveHead(tenantId: string, namespace: string, key: string, chain: string[]) {
    const ns = await deps.namespaces.find(tenantId, namespace);
    if (!ns) return undefined;
    const heads = await deps.repo.heads(tenantId, ns.id, key, chain);
    return chain.map((env) => heads.find((h) => h.environment === env && !h.deleted)).find((h) => h !== undefined);
  }

  /**
   * `value`, which lives at namespace/key, with every `${ref:…}` replaced. Each referenced key needs the
   * caller's `configs:<ns>:read`; a referenced secret stays masked unless the caller asked to reveal, and
   * then needs `secrets:<ns>:reveal` and is audited like any reveal.
   */
  async function resolveFor(ctx: CallContext, origin: string, environment: string, value: unknown, reveal: boolean): Promise<unknown> {
    const tenantId = ctx.actor.tenantId;
    return resolveReferences(value, origin, {
      reveal,
      load: async (ref: Reference) => {
        await deps.authz.require(ctx, { resource: "configs", namespace: ref.namespace, action: "read", environment });
        const found = await currentValue(tenantId, ref.namespace, ref.key, environment);
        if (found?.secret && reveal) await recordReveal(ctx, ref.namespace, ref.key, environment, []);
        return found;
      },
    });
  }

  /** A write whose value holds references: refused (422) if following them comes back to where it is written. */
  async function checkReferenceCycles(tenantId: string, namespace: string, key: string, environment: string, value: unknown) {
    const origin = `${namespace}/${key}`;
    const visit = async (v: unknown, stack: string[]): Promise<void> => {
      for (const ref of findReferences(v)) {
        const target = `${ref.namespace}/${ref.key}`;
        if (stack.includes(target)) {
          const cycle = [...stack.slice(stack.indexOf(target)), target].join(" → ");
          throw new CairnError("validation_failed", `reference cycle: ${cycle}; a value cannot refer back to itself`, {
            errors: [{ path: "/value", message: `cycle ${cycle}` }],
          });
        }
        if (stack.length > 8) return;
        const found = target === origin ? undefined : await currentValue(tenantId, ref.namespace, ref.key, environment);
        if (found) await visit(found.value, [...stack, target]);
      }
    };
    await visit(value, [origin]);
  }

  async function environmentOf(tenantId: string, environment: string | undefined): Promise<{ name: string; chain: string[] }> {
    const name = environment ?? DEFAULT_ENVIRONMENT;
    return { name, chain: await deps.environments.chain(tenantId, name) };
  }

  return {
    /**
     * For the secrets domain (H1): one key's write (a set, or a delete) in a transaction that also runs
     * `alongside` (type metadata, rotation state, its audit event), so both commit together or neither.
     * `secretAction` is the secrets permission that lets this write touch a secret (default write).
     */
    async writeWith<T>(
      ctx: CallContext,
      address: ConfigAddress,
      op: { kind: "set"; value: unknown; secret?: boolean; tags?: Record<string, string> } | { kind: "delete" },
      options: { reason?: string; ifMatch?: number | "*"; secretAction?: "write" | "rotate" | "delete" },
      alongside: (trx: Conn, entry: ConfigEntry, ns: NamespaceRef) => Promise<T>,
    ): Promise<{ entry: ConfigEntry; result: T }> {
      const tenantId = ctx.actor.tenantId;
      const key = checkKey(address.key);
      const change: Change =
        op.kind === "set"
          ? { kind: "set", value: op.value, bytes: encodeValue(op.value, deps.maxValueBytes), secret: op.secret, tags: op.tags }
          : { kind: "delete" };
      const { name: environment } = await environmentOf(tenantId, address.environment);
      const action = options.secretAction ?? "write";
      const mayWriteSecrets = (await deps.authz.check(ctx, { resource: "secrets", namespace: address.namespace, action, environment }))
        .allowed;
      const existing = op.kind === "delete" ? await deps.namespaces.require(tenantId, address.namespace) : undefined;
      let namespaceId = "";
      const out = await guardingSecrets(ctx, address.namespace, key, () =>
        deps.db.transaction().execute(async (trx) => {
          const ns = existing ?? (await deps.namespaces.ensure(trx, tenantId, address.namespace));
          namespaceId = ns.id;
          const req = { ns, key, environment, change, mayWriteSecrets, reason: options.reason, ifMatch: options.ifMatch };
          const { entry } = await write(trx, ctx, req, "locked");
          return { entry, result: await alongside(trx, entry, ns) };
        }),
      );
      const { warnings: _warnings, ...entry } = out.entry;
      const fresh = op.kind === "delete" ? undefined : { ...entry, resolvedFrom: environment };
      await written(tenantId, namespaceId, key, { environment, version: entry.version }, fresh);
      return out;
    },

    /**
     * For the secrets domain (H1): the live value stored at exactly this environment (no chain), opened for
     * use inside the server (rotation); no permission check and no reveal record — it never leaves the server.
     */
    async stored(tenantId: string, address: ConfigAddress): Promise<{ value: unknown; version: number; secret: boolean } | undefined> {
      const ns = await deps.namespaces.find(tenantId, address.namespace);
      if (!ns) return undefined;
      const environment = address.environment ?? DEFAULT_ENVIRONMENT;
      const [head] = await deps.repo.heads(tenantId, ns.id, checkKey(address.key), [environment]);
      if (!head || head.deleted) return undefined;
      return { value: await openValue(head, head.version), version: head.version, secret: head.secret };
    },

    async put(
      ctx: CallContext,
      address: ConfigAddress,
      body: { value: unknown; secret?: boolean; reason?: string; tags?: Record<string, string> },
      options: { ifMatch?: number | "*"; createOnly?: boolean } = {},
    ): Promise<ConfigEntry> {
      checkKey(address.key);
      const bytes = encodeValue(body.value, deps.maxValueBytes);
      const change: Change = { kind: "set", value: body.value, bytes, secret: body.secret, tags: body.tags };
      return writeKey(ctx, address, change, true, { reason: body.reason, ...options });
    },

    async remove(ctx: CallContext, address: ConfigAddress, options: { ifMatch?: number | "*"; reason?: string } = {}) {
      return writeKey(ctx, address, { kind: "delete" }, false, options);
    },

    async rollback(ctx: CallContext, address: ConfigAddress, toVersion: number, options: { ifMatch?: number | "*"; reason?: string } = {}) {
      const reason = options.reason ?? `rollback to version ${toVersion}`;
      return writeKey(ctx, address, { kind: "restore", fromVersion: toVersion }, false, { ...options, reason });
    },

    /**
     * A value resolved along the environment chain (or one version), with the response body serialised by
     * `serialize`. Current values (not reveals of secrets, not past versions) come from the L1 cache when
     * it has them.
     */
    async read(
      ctx: CallContext,
      address: ConfigAddress,
      options: { version?: number; reveal?: boolean },
      serialize: (entry: ResolvedConfig) => string,
    ): Promise<CachedRead<ResolvedConfig>> {
      const tenantId = ctx.actor.tenantId;
      const key = checkKey(address.key);
      const { name: environment, chain } = await environmentOf(tenantId, address.environment);
      const ns = await deps.namespaces.require(tenantId, address.namespace);
      const notFound = () =>
        new CairnError("not_found", `${ns.path}/${key} has no value in ${environment} (looked in ${chain.join(" → ")})`);

      /** Reads, decrypts (recording a reveal first) and serialises; `reveal` only matters for secrets. */
      const load = async (reveal: boolean): Promise<CachedRead<ResolvedConfig>> => {
        let row: { key: string; version: number; secret: boolean; tags: Record<string, string>; at: Date; by: string };
        let source: Parameters<typeof openValue>[0];
        let resolvedFrom: string;
        if (options.version !== undefined) {
          const v = await deps.repo.version(tenantId, ns.id, key, environment, options.version);
          if (!v) throw new CairnError("not_found", `${ns.path}/${key} in ${environment} has no version ${options.version}`);
          if (!v.value_sealed) throw new CairnError("not_found", `version ${options.version} of ${ns.path}/${key} is a deletion`);
          row = { key, version: v.version, secret: v.secret, tags: v.tags, at: v.created_at, by: v.actor };
          source = v;
          resolvedFrom = environment;
        } else {
          const fromDb = () => deps.repo.heads(tenantId, ns.id, key, chain);
          const heads = deps.heads ? await deps.heads.heads(tenantId, ns.id, key, chain, fromDb) : await fromDb();
          const head = chain.map((env) => heads.find((h) => h.environment === env && !h.deleted)).find((h) => h !== undefined);
          if (!head) throw notFound();
          row = { key, version: head.version, secret: head.secret, tags: head.tags, at: head.updated_at, by: head.updated_by };
          source = head;
          resolvedFrom = head.environment;
        }
        const revealing = reveal && row.secret;
        if (revealing) await recordReveal(ctx, ns.path, key, resolvedFrom, [row.version]);
        const value = await openValue(source, row.version);
        const entry: ResolvedConfig = { ...entryOf(ns.path, environment, row, value, revealing), resolvedFrom };
        return { entry, json: serialize(entry) };
      };

      // Current values go through the L1 cache, masked; a reveal of a secret always reads (and is audited).
      if (options.version !== undefined || !deps.values) return load(Boolean(options.reveal));
      const hit = deps.values.get(tenantId, ns.id, key, environment);
      if (hit && !(options.reveal && hit.entry.secret)) return hit;
      if (options.reveal && hit?.entry.secret) return load(true);
      const shared = await deps.values.load(tenantId, ns.id, key, environment, () => load(false));
      return options.reveal && shared.entry.secret ? load(true) : shared;
    },

    /** The environment of `chain` a read of the key resolves from now; undefined when none holds a live value. */
    async resolvedFrom(tenantId: string, namespace: string, key: string, chain: string[]): Promise<string | undefined> {
      return (await liveHead(tenantId, namespace, key, chain))?.environment;
    },

    /**
     * A read with its `${ref:…}` references resolved (`?resolve=true`). A masked secret is left alone:
     * its references are part of what is hidden.
     */
    async resolved(ctx: CallContext, read: CachedRead<ResolvedConfig>, reveal: boolean, serialize: (entry: ResolvedConfig) => string) {
      const { entry } = read;
      if ((entry.secret && !reveal) || findReferences(entry.value).length === 0) return read;
      const value = await resolveFor(ctx, `${entry.namespace}/${entry.key}`, entry.environment, entry.value, reveal);
      const resolved = { ...entry, value };
      return { entry: resolved, json: serialize(resolved) };
    },

    async list(
      ctx: CallContext,
      namespace: string,
      options: { environment?: string; prefix?: string; at?: string; reveal?: boolean; resolve?: boolean } = {},
    ): Promise<ConfigList> {
      const tenantId = ctx.actor.tenantId;
      const { name: environment, chain } = await environmentOf(tenantId, options.environment);
      const ns = await deps.namespaces.require(tenantId, namespace);
      const at = options.at ? new Date(options.at) : undefined;
      if (at && Number.isNaN(at.getTime()))
        throw new CairnError("bad_request", `"at" must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z`);

      type Candidate = Parameters<typeof openValue>[0] & {
        version: number;
        secret: boolean;
        tags: Record<string, string>;
        at: Date;
        by: string;
        live: boolean;
      };
      const candidates: Candidate[] = at
        ? (await deps.repo.listAt(tenantId, ns.id, chain, at, options.prefix)).map((v) => ({
            ...v,
            at: v.created_at,
            by: v.actor,
            live: v.value_sealed !== null,
          }))
        : (await deps.repo.listHeads(tenantId, ns.id, chain, options.prefix)).map((h) => ({
            ...h,
            at: h.updated_at,
            by: h.updated_by,
            live: !h.deleted,
          }));

      // For each key, the most specific environment of the chain that holds a live value.
      const byKey = new Map<string, Candidate>();
      const rank = (env: string) => chain.indexOf(env);
      for (const c of candidates) {
        if (!c.live) continue;
        const seen = byKey.get(c.key);
        if (!seen || rank(c.environment) < rank(seen.environment)) byKey.set(c.key, c);
      }
      const chosen = [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const revealed = options.reveal ? chosen.filter((c) => c.secret) : [];
      for (const c of revealed) await recordReveal(ctx, ns.path, c.key, c.environment, [c.version]);
      const items: ResolvedConfig[] = [];
      for (const c of chosen) {
        const value = await openValue(c, c.version);
        const item: ResolvedConfig = { ...entryOf(ns.path, environment, c, value, Boolean(options.reveal)), resolvedFrom: c.environment };
        // References resolve against current values (also in a point-in-time list), masked secrets stay masked.
        if (options.resolve && !(c.secret && !options.reveal) && findReferences(item.value).length > 0) {
          item.value = await resolveFor(ctx, `${ns.path}/${c.key}`, environment, item.value, Boolean(options.reveal));
        }
        items.push(item);
      }
      return { namespace: ns.path, environment, ...(at ? { at: at.toISOString() } : {}), items };
    },

    async history(ctx: CallContext, address: ConfigAddress, options: { limit?: number; reveal?: boolean } = {}): Promise<KeyHistory> {
      const tenantId = ctx.actor.tenantId;
      const key = checkKey(address.key);
      const { name: environment } = await environmentOf(tenantId, address.environment);
      const ns = await deps.namespaces.require(tenantId, address.namespace);
      const limit = options.limit ?? 100;
      const rows = await deps.repo.versions(tenantId, ns.id, key, environment, limit);
      if (rows.length === 0) throw new CairnError("not_found", `${ns.path}/${key} has no history in ${environment}`);
      const anySecret = rows.some((r) => r.secret);
      const reveal = Boolean(options.reveal && anySecret);
      if (reveal)
        await recordReveal(
          ctx,
          ns.path,
          key,
          environment,
          rows.slice(0, limit).map((r) => r.version),
        );

      const values = await Promise.all(rows.map((r) => openValue(r, r.version)));
      const items: HistoryEntry[] = rows.slice(0, limit).map((r, i) => {
        const hidden = r.secret && !reveal;
        const previousHidden = rows[i + 1]?.secret && !reveal;
        const entry: HistoryEntry = {
          version: r.version,
          changeType: r.change_type,
          actor: r.actor,
          reason: r.reason,
          at: new Date(r.created_at).toISOString(),
          secret: r.secret,
          tags: r.tags ?? {},
          restoredFrom: r.restored_from,
          diff: hidden || previousHidden ? null : (diffOf(r.change_type, values[i + 1], values[i]) as HistoryEntry["diff"]),
        };
        if (!hidden && values[i] !== undefined) entry.value = values[i];
        return entry;
      });
      return { namespace: ns.path, key, environment, items };
    },

    async namespaceHistory(
      ctx: CallContext,
      namespace: string,
      options: { limit?: number; environment?: string } = {},
    ): Promise<NamespaceHistory> {
      const tenantId = ctx.actor.tenantId;
      if (options.environment) await deps.environments.chain(tenantId, options.environment);
      const ns = await deps.namespaces.require(tenantId, namespace);
      const rows = await deps.repo.namespaceHistory(tenantId, ns.id, options.limit ?? 100, options.environment);
      return {
        namespace: ns.path,
        items: rows.map((r) => ({
          key: r.key,
          environment: r.environment,
          version: r.version,
          changeType: r.change_type,
          actor: r.actor,
          reason: r.reason,
          at: new Date(r.created_at).toISOString(),
        })),
      };
    },

    async validate(ctx: CallContext, namespace: string, values: Record<string, unknown>, environment?: string): Promise<ValidateResult> {
      const tenantId = ctx.actor.tenantId;
      if (environment) await deps.environments.chain(tenantId, environment);
      const ns = await deps.namespaces.find(tenantId, namespace);
      const results: ValidateResult["results"] = {};
      for (const [key, value] of Object.entries(values)) {
        checkKey(key, `/values/${key}`);
        encodeValue(value, deps.maxValueBytes, `values/${key}`);
        const validator = ns ? await deps.keySchemas.validatorFor(deps.db, tenantId, ns.id, key) : null;
        const errors = validator?.(value) ?? [];
        results[key] = { valid: errors.length === 0, hasSchema: validator !== null, errors };
      }
      return { valid: Object.values(results).every((r) => r.valid), results };
    },

    /** All operations or none: the first failing one aborts the transaction and is named in the error. */
    async bulk(ctx: CallContext, body: BulkBody): Promise<BulkResult> {
      const tenantId = ctx.actor.tenantId;
      const prepared: {
        i: number;
        op: BulkBody["operations"][number];
        key: string;
        environment: string;
        change: Change;
        ns?: NamespaceRef;
        mayWriteSecrets: boolean;
      }[] = [];
      for (const [i, op] of body.operations.entries()) {
        try {
          const key = checkKey(op.key);
          const { name: environment } = await environmentOf(tenantId, op.environment);
          let change: Change;
          if (op.op === "set") {
            change = { kind: "set", value: op.value, bytes: encodeValue(op.value, deps.maxValueBytes), secret: op.secret, tags: op.tags };
          } else {
            change = { kind: "delete" };
          }
          const ns = await deps.namespaces.find(tenantId, op.namespace);
          const mayWriteSecrets = await maySetSecrets(ctx, op.namespace, environment);
          prepared.push({ i, op, key, environment, change, ns, mayWriteSecrets });
        } catch (e) {
          throw atOperation(e, i, op);
        }
      }
      const leakGuard = await leakGuardOf(tenantId);
      const touched: [string, string, { environment: string; version: number }][] = [];
      const started = performance.now();
      const results = await deps.db.transaction().execute(async (trx) => {
        const out: BulkResult["results"] = [];
        const created = new Map<string, NamespaceRef>();
        for (const p of prepared) {
          try {
            let ns = p.ns ?? created.get(p.op.namespace);
            if (!ns) {
              if (p.change.kind === "delete") throw new CairnError("not_found", `namespace "${p.op.namespace}" does not exist`);
              ns = await deps.namespaces.ensure(trx, tenantId, p.op.namespace);
              created.set(p.op.namespace, ns);
            }
            const outcome = await write(
              trx,
              ctx,
              {
                ns,
                key: p.key,
                environment: p.environment,
                change: p.change,
                reason: p.op.reason,
                mayWriteSecrets: p.mayWriteSecrets,
                leakGuard,
              },
              "locked",
            );
            touched.push([ns.id, p.key, { environment: p.environment, version: outcome.entry.version }]);
            out.push({
              namespace: ns.path,
              key: p.key,
              environment: p.environment,
              version: outcome.entry.version,
              changeType: outcome.changeType,
            });
          } catch (e) {
            throw atOperation(e, p.i, p.op);
          }
        }
        return out;
      });
      deps.metrics?.observeWrite("bulk", (performance.now() - started) / 1000);
      for (const [namespaceId, key, change] of touched) await written(tenantId, namespaceId, key, change);
      return { applied: results.length, results };
    },
  };
}

/** Names the failing bulk operation in the error, so the caller can fix that one line. */
function atOperation(e: unknown, index: number, op: { op: string; namespace: string; key: string }): unknown {
  if (!(e instanceof CairnError)) return e;
  const errors = (e.errors ?? [{ path: "", message: e.message }]).map((fe) => ({
    path: `/operations/${index}${fe.path.startsWith("/") ? fe.path : fe.path ? `/${fe.path}` : ""}`,
    message: fe.message,
  }));
  return new CairnError(e.code, `operation ${index} (${op.op} ${op.namespace}/${op.key}): ${e.message}; nothing was applied`, {
    errors,
    extensions: { ...e.extensions, operation: index },
  });
}

export type ConfigService = ReturnType<typeof createConfigService>;
