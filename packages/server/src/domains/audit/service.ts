import type { Checkpointer } from "../../audit/checkpoints.js";
import { b64, exportLines, storedHashes, withConsistency } from "../../audit/export-lines.js";
import type { AuditHmac } from "../../audit/hmac.js";
import type { AuditLog } from "../../audit/log.js";
import {
  compactRangeNodes,
  consistencyProof,
  frontierNodes,
  inclusionProof,
  type NodeReader,
  ProofError,
  treeRoot,
} from "../../audit/proofs.js";
import { type AuditRetention, exportAfterArchives } from "../../audit/retention.js";
import type { AuditKeys } from "../../audit/signing.js";
import { eventDocument } from "../../audit/tree.js";
import { describeVerification, EXPORT_FORMAT, verifyAuditExport } from "../../audit/verify.js";
import type { CallContext } from "../../auth/actor.js";
import type { Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import type { AuditRepository, CheckpointRow } from "./repository.js";
import type {
  AuditCheckpoint,
  AuditCheckpointList,
  AuditEventList,
  AuditPublicKey,
  AuditVerification,
  ConsistencyProof,
  ConsistencyQuery,
  ExportQuery,
  HashResult,
  InclusionProof,
  InclusionQuery,
  ListAuditQuery,
  ListCheckpointsQuery,
} from "./schemas.js";

const bad = (path: string, message: string) => new CairnError("bad_request", message, { errors: [{ path, message }] });

/**
 * The audit log of the caller's tenant: query, signed checkpoints, proofs, export, value hashes. Each
 * tenant has its own log (log id = tenant id); nothing here reaches another tenant's.
 */
export function createAuditService(deps: {
  db: Db;
  repo: AuditRepository;
  keys: AuditKeys;
  checkpointer: Pick<Checkpointer, "checkpointNow">;
  hmac: AuditHmac;
  audit: AuditLog;
  /** Audit retention: which leaves were archived (the export starts after them). */
  retention?: Pick<AuditRetention, "archived">;
}) {
  const { repo } = deps;
  const logOf = (ctx: CallContext) => ctx.actor.tenantId;
  const reader =
    (logId: string): NodeReader =>
    (refs) =>
      repo.nodes(logId, refs);

  const checkpointView = (row: CheckpointRow): AuditCheckpoint => ({
    treeSize: Number(row.tree_size),
    rootHash: b64(row.root),
    note: row.note,
    createdAt: new Date(row.created_at).toISOString(),
  });

  /** The sequenced size, and that `size` fits in it. */
  async function requireSize(logId: string, size: number, path: string) {
    const { size: current } = await repo.logState(logId);
    if (size > current) throw bad(path, `the log has ${current} events; tree size ${size} does not exist yet`);
    return current;
  }

  async function latestSize(logId: string, path: string): Promise<number> {
    const [latest] = await repo.checkpoints(logId, 1);
    if (!latest) throw bad(path, "the log has no checkpoint yet: give the tree size explicitly");
    return Number(latest.tree_size);
  }

  /** Turns a missing stored node (the sequencer's tables disagree) into a clear 503 instead of a 500. */
  async function proving<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ProofError) throw new CairnError("unavailable", `the proof cannot be built: ${e.message}`, { cause: e });
      throw e;
    }
  }

  /** The export of `q`'s range of the log: its bounds, the log's key and its NDJSON lines (auditing is the caller's). */
  async function prepareExport(logId: string, q: ExportQuery) {
    if (q.from !== undefined && q.fromIndex !== undefined) throw bad("/querystring/fromIndex", "give from or fromIndex, not both");
    if (q.to !== undefined && q.toIndex !== undefined) throw bad("/querystring/toIndex", "give to or toIndex, not both");
    await deps.checkpointer.checkpointNow(logId);
    const { size } = await repo.logState(logId);
    let start = q.fromIndex ?? 0;
    let end = q.toIndex ?? size;
    if (q.from !== undefined) start = (await repo.firstIndexFrom(logId, new Date(q.from))) ?? size;
    if (q.to !== undefined) end = await repo.endIndexBefore(logId, new Date(q.to));
    if (start > size) throw bad("/querystring/fromIndex", `the log has ${size} events; fromIndex ${start} is past its end`);
    if (end > size) throw bad("/querystring/toIndex", `the log has ${size} events; toIndex ${end} is past its end`);
    // Retention may have archived the head of the log: start after the archives, or say (410) where they are.
    const archives = deps.retention
      ? exportAfterArchives(await deps.retention.archived(logId), {
          start,
          end,
          explicitStart: q.fromIndex !== undefined,
        })
      : undefined;
    if (archives) start = archives.start;
    if (end < start) {
      if (q.from !== undefined || q.to !== undefined)
        end = start; // a time window without events
      else throw bad("/querystring/toIndex", `toIndex (${end}) is before fromIndex (${start})`);
    }
    const key = await deps.keys.keyOf(deps.db, logId);
    // Everything that can fail on bad state is read before the first byte goes out.
    const read = reader(logId);
    const frontier = (await proving(() => storedHashes(frontierNodes(start), read))).map(b64);
    // Checkpoints up to the start: the last one before it (its signature and the consistency of the next one
    // are checked) and the one at the start, if any. Later ones are read page by page as the stream goes.
    const before = start > 0 ? await repo.checkpoints(logId, 1, start) : [];
    const atStart = start > 0 ? await repo.checkpointsBetween(logId, start, start) : [];
    const opening = await proving(() => withConsistency([...before, ...atStart], undefined, read));
    // A slice that ends before the log does links to the next checkpoint through the subtrees in between.
    const next = end < size ? await repo.checkpointAfter(logId, end) : undefined;
    const tail = next
      ? {
          line: {
            treeSize: Number(next.tree_size),
            hashes: (await proving(() => storedHashes(compactRangeNodes(end, Number(next.tree_size)), read))).map(b64),
          },
          checkpoint: next,
        }
      : undefined;
    const header = {
      format: EXPORT_FORMAT,
      origin: key.origin,
      tenant: logId,
      verifierKey: key.verifierKey,
      start,
      end,
      frontier,
      ...(archives?.archived ? { archived: archives.archived } : {}),
    };
    return { start, end, key, lines: exportLines({ repo, logId, header, opening, tail, read }) };
  }

  /** Verifies the log from where its archives end to a checkpoint of now, and records the outcome. */
  async function verifyLog(ctx: CallContext, logId: string): Promise<AuditVerification> {
    const { start, key, lines } = await prepareExport(logId, {});
    const result = await verifyAuditExport(splitLines(lines), { publicKey: key.verifierKey, origin: key.origin });
    const failure = result.failure;
    await deps.audit.append(deps.db, {
      tenantId: logId,
      eventType: result.ok ? "audit.verify" : "audit.verify_failed",
      action: "verify",
      result: result.ok ? "success" : "failure",
      ctx,
      resource: { type: "audit", id: logId },
      metadata: {
        source: "api",
        fromIndex: start,
        events: result.events,
        treeSize: result.treeSize,
        ...(failure
          ? { index: failure.index ?? null, checkpoint: failure.checkpoint ?? null, reason: failure.reason }
          : { root: result.root ?? null }),
      },
    });
    return {
      verified: result.ok,
      summary: describeVerification(result),
      start,
      events: result.events,
      treeSize: result.treeSize,
      signedSize: result.signedSize,
      checkpoints: result.checkpoints,
      ...(result.ok && result.root ? { root: result.root } : {}),
      ...(failure?.index !== undefined ? { firstBadIndex: failure.index } : {}),
      ...(failure?.checkpoint !== undefined ? { checkpoint: failure.checkpoint } : {}),
      ...(failure ? { reason: failure.reason } : {}),
      verifierKey: key.verifierKey,
    };
  }

  /** Verifications under way, by log: concurrent callers share one run. */
  const verifying = new Map<string, Promise<AuditVerification>>();

  return {
    async list(ctx: CallContext, q: ListAuditQuery): Promise<AuditEventList> {
      const from = q.from ? new Date(q.from) : undefined;
      const to = q.to ? new Date(q.to) : undefined;
      if (from && to && from >= to) throw bad("/querystring/to", "to must be after from");
      if (q.namespace !== undefined && /(^|\/)\*\*?(\/|$)/.test(q.namespace.replace(/\/\*\*$/, ""))) {
        throw bad("/querystring/namespace", "namespace takes a path, or a path ending in /** for everything below it");
      }
      const limit = q.limit ?? 100;
      const order = q.order ?? "desc";
      const rows = await repo.events(
        logOf(ctx),
        { from, to, actor: q.actor, eventType: q.eventType, namespace: q.namespace, result: q.result },
        { limit: limit + 1, after: q.cursor === undefined ? undefined : Number(q.cursor), order },
      );
      const page = rows.slice(0, limit);
      const items = page.map((r) => eventDocument(r, r.leaf_index as string));
      const last = items.at(-1);
      return rows.length > limit && last ? { items, nextCursor: String(last.index) } : { items };
    },

    async checkpoints(ctx: CallContext, q: ListCheckpointsQuery): Promise<AuditCheckpointList> {
      const logId = logOf(ctx);
      const limit = q.limit ?? 100;
      const rows = await repo.checkpoints(logId, limit + 1, q.cursor === undefined ? undefined : Number(q.cursor));
      const items = rows.slice(0, limit).map(checkpointView);
      const last = items.at(-1);
      const { origin } = await deps.keys.keyOf(deps.db, logId);
      return rows.length > limit && last ? { origin, items, nextCursor: String(last.treeSize) } : { origin, items };
    },

    async latestCheckpoint(ctx: CallContext): Promise<AuditCheckpoint> {
      const [latest] = await repo.checkpoints(logOf(ctx), 1);
      if (!latest)
        throw new CairnError(
          "not_found",
          "the audit log has no checkpoint yet (one is signed within CAIRN_AUDIT_CHECKPOINT_SECONDS of the first event)",
        );
      return checkpointView(latest);
    },

    async publicKey(ctx: CallContext): Promise<AuditPublicKey> {
      const key = await deps.keys.keyOf(deps.db, logOf(ctx));
      return {
        origin: key.origin,
        algorithm: "Ed25519",
        keyName: key.signer.name,
        keyId: key.signer.keyId.toString("hex"),
        publicKey: b64(key.signer.publicKey),
        verifierKey: key.verifierKey,
      };
    },

    async inclusion(ctx: CallContext, q: InclusionQuery): Promise<InclusionProof> {
      const logId = logOf(ctx);
      const treeSize = q.treeSize ?? (await latestSize(logId, "/querystring/treeSize"));
      if (q.index >= treeSize)
        throw bad("/querystring/index", `index ${q.index} is not in a tree of ${treeSize} events (indexes start at 0)`);
      await requireSize(logId, treeSize, "/querystring/treeSize");
      return proving(async () => {
        const read = reader(logId);
        const [leaf] = await read([{ level: 0, idx: q.index }]).then((m) => [...m.values()]);
        if (!leaf) throw new ProofError(`no leaf hash stored for index ${q.index}`);
        const [proof, root, checkpoint] = await Promise.all([
          inclusionProof(q.index, treeSize, read),
          treeRoot(treeSize, read),
          repo.checkpointAt(logId, treeSize),
        ]);
        return {
          index: q.index,
          treeSize,
          leafHash: b64(leaf),
          rootHash: b64(root),
          proof: proof.map(b64),
          ...(checkpoint ? { checkpoint: checkpoint.note } : {}),
        };
      });
    },

    async consistency(ctx: CallContext, q: ConsistencyQuery): Promise<ConsistencyProof> {
      const logId = logOf(ctx);
      const second = q.second ?? (await latestSize(logId, "/querystring/second"));
      if (q.first > second) throw bad("/querystring/first", `first (${q.first}) must not be larger than second (${second})`);
      await requireSize(logId, second, "/querystring/second");
      return proving(async () => {
        const read = reader(logId);
        const [proof, firstRoot, secondRoot, firstCp, secondCp] = await Promise.all([
          consistencyProof(q.first, second, read),
          treeRoot(q.first, read),
          treeRoot(second, read),
          repo.checkpointAt(logId, q.first),
          repo.checkpointAt(logId, second),
        ]);
        return {
          first: q.first,
          second,
          firstRootHash: b64(firstRoot),
          secondRootHash: b64(secondRoot),
          proof: proof.map(b64),
          ...(firstCp ? { firstCheckpoint: firstCp.note } : {}),
          ...(secondCp ? { secondCheckpoint: secondCp.note } : {}),
        };
      });
    },

    /** `POST /audit/hash`: the HMAC an event about this value would carry. The request is itself audited (without the value). */
    async hash(ctx: CallContext, value: unknown): Promise<HashResult> {
      const tenantId = logOf(ctx);
      const hash = await deps.hmac.of(deps.db, tenantId, value);
      await deps.audit.append(deps.db, {
        tenantId,
        eventType: "audit.hash",
        action: "hash",
        result: "success",
        ctx,
        resource: { type: "audit", id: tenantId },
      });
      return { hash };
    },

    /**
     * Checks the export's range (before anything is streamed, so bad input still gets a problem answer)
     * and returns the NDJSON lines to stream. A checkpoint of the current state is signed first, so an
     * export of the whole log ends on a signature.
     */
    async export(ctx: CallContext, q: ExportQuery): Promise<AsyncGenerator<string>> {
      const logId = logOf(ctx);
      const prepared = await prepareExport(logId, q);
      await deps.audit.append(deps.db, {
        tenantId: logId,
        eventType: "audit.export",
        action: "export",
        result: "success",
        ctx,
        resource: { type: "audit", id: logId },
        metadata: { fromIndex: prepared.start, toIndex: prepared.end },
      });
      return prepared.lines;
    },

    /**
     * `POST /audit/verify`: a fresh export of the caller's log (the code path of `GET /audit/export`, from
     * where retention's archives end to a checkpoint signed now) streamed through the offline verifier of
     * `cairn audit verify --file`, against the log's own published key. Memory stays bounded (the export
     * reads 1,000 events a page, the verifier keeps a compact frontier and one page of leaf hashes); time
     * grows with the log. One run per log at a time on this replica: a caller meanwhile gets the same answer.
     * A failure records `audit.verify_failed` (the built-in alert rule reports it), a success `audit.verify`.
     */
    verify(ctx: CallContext): Promise<AuditVerification> {
      const logId = logOf(ctx);
      const running = verifying.get(logId);
      if (running) return running;
      const run = verifyLog(ctx, logId).finally(() => verifying.delete(logId));
      verifying.set(logId, run);
      return run;
    },
  };
}

/** Export chunks → lines (each chunk the generator yields is whole lines today; this does not rely on it). */
async function* splitLines(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of chunks) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    yield* parts;
  }
  if (rest) yield rest;
}

export type AuditService = ReturnType<typeof createAuditService>;
