import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { Keyring } from "../../crypto/keyring.js";
import type { Conn, Db } from "../../db/database.js";
import type { ConfigRow, ConfigVersionRow } from "../../db/types.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import type { KeySchemaService } from "../key-schemas/service.js";
import type { NamespaceRef, NamespaceService } from "../namespaces/service.js";
import { type LeakGuardMode, scanForCredentials, type WriteWarning } from "./leak-guard.js";
import type { ConfigRepository, HeadWrite } from "./repository.js";
import type { ChangeType, ConfigEntry } from "./schemas.js";
import { decodeValue, encodeValue, entryOf, valueAad } from "./values.js";

/** What a write does to a key: set a value, write a tombstone, or bring back an old version. */
export type Change =
  | { kind: "set"; value: unknown; bytes: Buffer; secret?: boolean; tags?: Record<string, string> }
  | { kind: "delete" }
  | { kind: "restore"; fromVersion: number };

export interface WriteRequest {
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
  /** The tenant's leak guard: what a plain value that looks like a credential gets (default: a warning). */
  leakGuard?: LeakGuardMode;
}

export interface WriteOutcome {
  entry: ConfigEntry;
  changeType: ChangeType;
}

const HEAD_CACHE_ENTRIES = 100_000;

/** A head row as the write path reads it: with the key's schema and that schema's md5. */
type HeadRow = NonNullable<Awaited<ReturnType<ConfigRepository["lockHead"]>>>;

/**
 * The write path of configs. A write reads the key's head (or the head this replica last wrote), decides
 * (preconditions, secrecy, schema), seals the value under the namespace's data key with associated data
 * naming tenant/namespace/key/environment/version, then writes head, version and audit event in one
 * statement that only lands if the head is still as decided.
 */
export function createConfigWriter(deps: {
  db: Db;
  repo: ConfigRepository;
  namespaces: NamespaceService;
  keySchemas: KeySchemaService;
  keyring: Keyring;
  audit: AuditLog;
}) {
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
      valueAad(row.tenant_id, row.namespace_id, row.key, row.environment, version),
    );
    return decodeValue(plain);
  }

  /** A plain value that looks like a credential: warnings, or (leakGuard "reject") a 422 that changes nothing. */
  function leakWarnings(req: WriteRequest, value: unknown, secret: boolean): WriteWarning[] {
    const mode = req.leakGuard ?? "warn";
    if (secret || mode === "off" || req.change.kind !== "set") return [];
    const warnings = scanForCredentials(value);
    if (mode === "reject" && warnings.length > 0) {
      throw new CairnError(
        "validation_failed",
        `${req.ns.path}/${req.key} looks like a credential and this tenant refuses those as plain values: write it with "secret": true`,
        { errors: warnings.map((w) => ({ path: `/value${w.path}`, message: w.message })) },
      );
    }
    return warnings;
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
      // A hot key: stop racing and queue behind the other writers on the row lock, as a transaction.
      if (mode === "optimistic" && attempt >= 2) return deps.db.transaction().execute((t) => write(t, ctx, req, "locked"));
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

    const warnings = leakWarnings(req, value, secret);

    const version = (head?.version ?? 0) + 1;
    const sealed = bytes ? await deps.keyring.seal(trx, ns.dataKeyId, bytes, valueAad(tenantId, ns.id, key, environment, version)) : null;
    // The audit event names the value only by its HMAC (from the tenant's key, kept in memory).
    const valueHmac = value === undefined ? undefined : await deps.audit.valueHmac(trx, tenantId, value);
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
        metadata: { environment, version, secret, ...(valueHmac ? { valueHmac } : {}), ...(req.reason ? { reason: req.reason } : {}) },
      }),
    );
    if (!at) return retry();
    const entry = entryOf(ns.path, environment, { key, version, secret, tags, at, by: ctx.actor.id }, value, false);
    if (warnings.length > 0) entry.warnings = warnings;
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

  return { write, writeOne, openValue };
}

export type ConfigWriter = ReturnType<typeof createConfigWriter>;
