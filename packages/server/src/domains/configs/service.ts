import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { Authorizer } from "../../authz/types.js";
import type { Keyring } from "../../crypto/keyring.js";
import type { Conn, Db } from "../../db/database.js";
import type { ConfigRow, ConfigVersionRow } from "../../db/types.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import type { EnvironmentService } from "../environments/service.js";
import type { KeySchemaService } from "../key-schemas/service.js";
import { checkKey } from "../names.js";
import type { NamespaceRef, NamespaceService } from "../namespaces/service.js";
import type { ConfigRepository, HeadWrite } from "./repository.js";
import type {
  BulkBody,
  BulkResult,
  ChangeType,
  ConfigEntry,
  ConfigList,
  HistoryEntry,
  KeyHistory,
  NamespaceHistory,
  ResolvedConfig,
  ValidateResult,
} from "./schemas.js";
import { decodeValue, diffOf, encodeValue, MASK } from "./values.js";

export interface ConfigAddress {
  namespace: string;
  key: string;
  environment?: string;
}

/** What a write does to a key: set a value, write a tombstone, or bring back an old version. */
type Change =
  | { kind: "set"; value: unknown; bytes: Buffer; secret?: boolean; tags?: Record<string, string> }
  | { kind: "delete" }
  | { kind: "restore"; fromVersion: number };

interface WriteRequest {
  ns: NamespaceRef;
  key: string;
  environment: string;
  change: Change;
  reason?: string;
  /** Expected current version (from If-Match); "*" means "must exist". */
  ifMatch?: number | "*";
  createOnly?: boolean;
  /** From `secrets:<ns>:write`: without it, a write whose result is (or was) secret is refused. */
  mayWriteSecrets: boolean;
}

interface WriteOutcome {
  entry: ConfigEntry;
  changeType: ChangeType;
}

const DEFAULT_ENVIRONMENT = "base";
const HEAD_CACHE_ENTRIES = 100_000;

/** A head row as the write path reads it: with the key's schema and that schema's md5. */
type HeadRow = NonNullable<Awaited<ReturnType<ConfigRepository["lockHead"]>>>;

/**
 * Versioned, encrypted configuration. Every write is one transaction: lock the head row, check
 * preconditions and the key's schema, seal the value under the namespace's data key with associated
 * data naming tenant/namespace/key/environment/version, append the immutable version row, move the
 * head, append the audit event. Reads resolve along the environment chain.
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
}) {
  const aad = (tenantId: string, namespaceId: string, key: string, environment: string, version: number) => [
    "config",
    tenantId,
    namespaceId,
    key,
    environment,
    version,
  ];

  /**
   * The last head this replica wrote per key, so the next write can skip its read: the write statement
   * itself checks that version and schema are still as remembered, and any refusal is re-decided on a
   * fresh read. Never used for reads.
   */
  const headCache = new Map<string, HeadRow>();

  async function openValue(
    row: Pick<ConfigVersionRow, "tenant_id" | "namespace_id" | "key" | "environment" | "data_key_id" | "value_sealed">,
    version: number,
    conn: Conn = deps.db,
  ): Promise<unknown> {
    if (!row.value_sealed || !row.data_key_id) return undefined;
    const plain = await deps.keyring.open(
      conn,
      row.data_key_id,
      row.value_sealed,
      aad(row.tenant_id, row.namespace_id, row.key, row.environment, version),
    );
    return decodeValue(plain);
  }

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

  function entryOf(
    namespace: string,
    environment: string,
    row: { key: string; version: number; secret: boolean; tags: Record<string, string>; at: Date; by: string },
    value: unknown,
    reveal: boolean,
  ): ConfigEntry {
    return {
      namespace,
      key: row.key,
      environment,
      value: row.secret && !reveal && value !== undefined ? MASK : (value ?? null),
      version: row.version,
      secret: row.secret,
      tags: row.tags ?? {},
      updatedAt: new Date(row.at).toISOString(),
      updatedBy: row.by,
    };
  }

  function checkPreconditions(head: Pick<ConfigRow, "version" | "deleted"> | undefined, req: WriteRequest) {
    const live = head !== undefined && !head.deleted;
    const where = `${req.ns.path}/${req.key} in ${req.environment}`;
    if (req.ifMatch !== undefined) {
      const matches = req.ifMatch === "*" ? live : head?.version === req.ifMatch;
      if (!matches) {
        throw new CairnError(
          "precondition_failed",
          head
            ? `${where} is at version ${head.version}, not ${req.ifMatch}: someone changed it; read it again and retry`
            : `${where} does not exist, so If-Match ${req.ifMatch} cannot hold`,
          { extensions: { currentVersion: head?.version ?? null } },
        );
      }
    }
    if (req.createOnly && live) {
      throw new CairnError("conflict", `${where} already exists (version ${head?.version}); use PUT to update it`, {
        extensions: { currentVersion: head?.version },
      });
    }
    if (req.change.kind === "delete" && !live) throw new CairnError("not_found", `${where} does not exist`);
  }

  /** The body of every write, inside the caller's transaction. */
  /**
   * The body of every write. `locked` runs inside the caller's transaction and locks the head row first
   * (bulk, and a write that creates its namespace). `optimistic` runs without a transaction: read the
   * head, decide, then one statement that writes only if the head is still as read — two round trips
   * in all; when another writer got there first, read again and decide again.
   */
  async function write(trx: Conn, ctx: CallContext, req: WriteRequest, mode: "locked" | "optimistic", attempt = 0): Promise<WriteOutcome> {
    const cacheKey = `${ctx.actor.tenantId}\u0000${req.ns.id}\u0000${req.key}\u0000${req.environment}`;
    const cached = mode === "optimistic" && attempt === 0 ? headCache.get(cacheKey) : undefined;
    const head = cached ?? (await deps.repo.lockHead(trx, ctx.actor.tenantId, req.ns.id, req.key, req.environment, mode === "locked"));
    // Another writer changed (or created) the key between our read and our write: decide again on what is there now.
    const retry = () => {
      headCache.delete(cacheKey);
      if (attempt >= 20) throw new CairnError("conflict", `${req.ns.path}/${req.key} is changing too fast to write; retry`);
      return write(trx, ctx, req, mode, attempt + 1);
    };
    try {
      const outcome = await decideAndWrite(trx, ctx, req, mode, head, retry);
      if (mode === "optimistic" && head && outcome.head) headCache.set(cacheKey, outcome.head);
      else headCache.delete(cacheKey);
      if (headCache.size > HEAD_CACHE_ENTRIES) headCache.clear();
      return outcome;
    } catch (e) {
      // A decision made on a remembered head is not final: refuse only on what the database says now.
      if (cached && e instanceof CairnError) return retry();
      throw e;
    }
  }

  async function decideAndWrite(
    trx: Conn,
    ctx: CallContext,
    req: WriteRequest,
    mode: "locked" | "optimistic",
    head: HeadRow | undefined,
    retry: () => Promise<WriteOutcome>,
  ): Promise<WriteOutcome & { head?: HeadRow }> {
    const tenantId = ctx.actor.tenantId;
    const { ns, key, environment, change } = req;
    checkPreconditions(head, req);

    let value: unknown;
    let bytes: Buffer | undefined;
    let secret = head?.secret ?? false;
    let tags: Record<string, string> = head?.tags ?? {};
    let changeType: ChangeType;
    if (change.kind === "set") {
      value = change.value;
      bytes = change.bytes;
      secret = change.secret ?? secret;
      tags = change.tags ?? tags;
      changeType = head && !head.deleted ? "update" : "create";
    } else if (change.kind === "restore") {
      const old = await deps.repo.version(tenantId, ns.id, key, environment, change.fromVersion, trx);
      if (!old) {
        throw new CairnError("not_found", `${ns.path}/${key} in ${environment} has no version ${change.fromVersion}`);
      }
      value = await openValue(old, old.version, trx);
      if (value === undefined) {
        throw new CairnError("validation_failed", `version ${change.fromVersion} is a deletion; pick a version that holds a value`, {
          errors: [{ path: "/version", message: "version is a tombstone" }],
        });
      }
      bytes = encodeValue(value, Number.MAX_SAFE_INTEGER);
      secret = old.secret;
      tags = old.tags;
      changeType = "restore";
    } else {
      changeType = "delete";
    }

    if ((secret || head?.secret) && !req.mayWriteSecrets) {
      throw new CairnError("forbidden", `${ns.path}/${key} is a secret: changing it needs the secrets:${ns.path}:write permission`, {
        extensions: { secretWrite: true },
      });
    }

    if (value !== undefined) {
      // The head read brought the schema along; a brand-new key needs its own look-up.
      const validate = head ? deps.keySchemas.validatorOf(head.key_schema) : await deps.keySchemas.validatorFor(trx, tenantId, ns.id, key);
      const errors = validate?.(value) ?? [];
      if (errors.length > 0) {
        throw new CairnError("validation_failed", `the value of ${ns.path}/${key} violates its schema`, { errors });
      }
    }

    const version = (head?.version ?? 0) + 1;
    const sealed = bytes ? await deps.keyring.seal(trx, ns.dataKeyId, bytes, aad(tenantId, ns.id, key, environment, version)) : null;
    const dataKeyId = sealed ? ns.dataKeyId : null;
    const tagsJson = JSON.stringify(tags);
    const headFields = {
      version,
      deleted: sealed === null,
      secret,
      data_key_id: dataKeyId,
      value_sealed: sealed,
      tags: tagsJson,
      updated_by: ctx.actor.id,
    };

    let headWrite: HeadWrite;
    if (head) {
      headWrite = { kind: "update", id: head.id, expectVersion: head.version, expectSchemaHash: head.key_schema_hash, fields: headFields };
    } else {
      const row = { id: newId("config"), tenant_id: tenantId, namespace_id: ns.id, key, environment, ...headFields };
      if (mode === "optimistic") {
        headWrite = { kind: "insert", row };
      } else {
        // In a transaction a failed statement spoils the transaction, so insert the head on its own first.
        if (!(await deps.repo.insertHead(trx, row))) return retry();
        headWrite = { kind: "existing", id: row.id };
      }
    }
    const at = await deps.repo.commitWrite(
      trx,
      headWrite,
      {
        version,
        tenant_id: tenantId,
        namespace_id: ns.id,
        key,
        environment,
        change_type: changeType,
        secret,
        data_key_id: dataKeyId,
        value_sealed: sealed,
        tags: tagsJson,
        reason: req.reason ?? null,
        restored_from: change.kind === "restore" ? change.fromVersion : null,
        actor: ctx.actor.id,
      },
      deps.audit.rowOf({
        tenantId,
        eventType: `config.${changeType}`,
        action: changeType,
        result: "success",
        ctx,
        resource: { type: "config", id: `${ns.path}/${key}`, namespace: ns.path },
        metadata: { environment, version, secret, ...(req.reason ? { reason: req.reason } : {}) },
      }),
    );
    if (!at) return retry();
    const entry = entryOf(ns.path, environment, { key, version, secret, tags, at, by: ctx.actor.id }, value, false);
    const written = head ? { ...head, ...headFields, tags, updated_at: at } : undefined;
    return { entry, changeType, head: written };
  }

  /**
   * Runs one key's write: optimistically, with no transaction, when its namespace exists (the lookup is
   * cached); in a transaction that creates the namespace (and its data key) together with the write otherwise.
   */
  async function writeOne<T>(
    tenantId: string,
    namespace: string,
    create: boolean,
    fn: (conn: Conn, ns: NamespaceRef, mode: "locked" | "optimistic") => Promise<T>,
  ) {
    const existing = create ? await deps.namespaces.find(tenantId, namespace) : await deps.namespaces.require(tenantId, namespace);
    if (existing) return fn(deps.db, existing, "optimistic");
    return deps.db.transaction().execute(async (trx) => fn(trx, await deps.namespaces.ensure(trx, tenantId, namespace), "locked"));
  }

  async function environmentOf(tenantId: string, environment: string | undefined): Promise<{ name: string; chain: string[] }> {
    const name = environment ?? DEFAULT_ENVIRONMENT;
    return { name, chain: await deps.environments.chain(tenantId, name) };
  }

  return {
    async put(
      ctx: CallContext,
      address: ConfigAddress,
      body: { value: unknown; secret?: boolean; reason?: string; tags?: Record<string, string> },
      options: { ifMatch?: number | "*"; createOnly?: boolean } = {},
    ): Promise<ConfigEntry> {
      const key = checkKey(address.key);
      const bytes = encodeValue(body.value, deps.maxValueBytes);
      const { name: environment } = await environmentOf(ctx.actor.tenantId, address.environment);
      const change: Change = { kind: "set", value: body.value, bytes, secret: body.secret, tags: body.tags };
      const mayWriteSecrets = await maySetSecrets(ctx, address.namespace, environment);
      const outcome = await guardingSecrets(ctx, address.namespace, key, () =>
        writeOne(ctx.actor.tenantId, address.namespace, true, (trx, ns, mode) =>
          write(trx, ctx, { ns, key, environment, change, reason: body.reason, mayWriteSecrets, ...options }, mode),
        ),
      );
      return outcome.entry;
    },

    async remove(ctx: CallContext, address: ConfigAddress, options: { ifMatch?: number | "*"; reason?: string } = {}) {
      const key = checkKey(address.key);
      const { name: environment } = await environmentOf(ctx.actor.tenantId, address.environment);
      const mayWriteSecrets = await maySetSecrets(ctx, address.namespace, environment);
      const outcome = await guardingSecrets(ctx, address.namespace, key, () =>
        writeOne(ctx.actor.tenantId, address.namespace, false, (trx, ns, mode) =>
          write(
            trx,
            ctx,
            {
              ns,
              key,
              environment,
              change: { kind: "delete" },
              reason: options.reason,
              ifMatch: options.ifMatch,
              mayWriteSecrets,
            },
            mode,
          ),
        ),
      );
      return outcome.entry;
    },

    async rollback(ctx: CallContext, address: ConfigAddress, toVersion: number, options: { ifMatch?: number | "*"; reason?: string } = {}) {
      const key = checkKey(address.key);
      const { name: environment } = await environmentOf(ctx.actor.tenantId, address.environment);
      const mayWriteSecrets = await maySetSecrets(ctx, address.namespace, environment);
      const outcome = await guardingSecrets(ctx, address.namespace, key, () =>
        writeOne(ctx.actor.tenantId, address.namespace, false, (trx, ns, mode) =>
          write(
            trx,
            ctx,
            {
              ns,
              key,
              environment,
              change: { kind: "restore", fromVersion: toVersion },
              reason: options.reason ?? `rollback to version ${toVersion}`,
              ifMatch: options.ifMatch,
              mayWriteSecrets,
            },
            mode,
          ),
        ),
      );
      return outcome.entry;
    },

    async get(ctx: CallContext, address: ConfigAddress, options: { version?: number; reveal?: boolean } = {}): Promise<ResolvedConfig> {
      const tenantId = ctx.actor.tenantId;
      const key = checkKey(address.key);
      const { name: environment, chain } = await environmentOf(tenantId, address.environment);
      const ns = await deps.namespaces.require(tenantId, address.namespace);
      const notFound = () =>
        new CairnError("not_found", `${ns.path}/${key} has no value in ${environment} (looked in ${chain.join(" → ")})`);

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
        const heads = await deps.repo.heads(tenantId, ns.id, key, chain);
        const head = chain.map((env) => heads.find((h) => h.environment === env && !h.deleted)).find((h) => h !== undefined);
        if (!head) throw notFound();
        row = { key, version: head.version, secret: head.secret, tags: head.tags, at: head.updated_at, by: head.updated_by };
        source = head;
        resolvedFrom = head.environment;
      }
      const reveal = Boolean(options.reveal && row.secret);
      if (reveal) await recordReveal(ctx, ns.path, key, resolvedFrom, [row.version]);
      const value = await openValue(source, row.version);
      return { ...entryOf(ns.path, environment, row, value, reveal), resolvedFrom };
    },

    async list(
      ctx: CallContext,
      namespace: string,
      options: { environment?: string; prefix?: string; at?: string; reveal?: boolean } = {},
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
        items.push({ ...entryOf(ns.path, environment, c, value, Boolean(options.reveal)), resolvedFrom: c.environment });
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
              },
              "locked",
            );
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
