import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import type { Db } from "../db/database.js";
import type { AuditRepository } from "../domains/audit/repository.js";
import type { Checkpointer } from "./checkpoints.js";
import { b64, exportLines, storedHashes, withConsistency } from "./export-lines.js";
import { compactRangeNodes, frontierNodes, type NodeReader } from "./proofs.js";
import type { AuditKeys } from "./signing.js";
import { AuditVerifier, type AuditVerifyResult, EXPORT_FORMAT, type ExportHeader } from "./verify.js";

/**
 * Archive files of audit retention. An archive holds the leaves [start, end) of one log in the export
 * format (`GET /audit/export`, src/audit/verify.ts), gzip-compressed, so `cairn audit verify --file` checks
 * it like any export:
 *
 *   header (with the compact frontier at `start`, so a range that starts mid-log rebuilds the same roots)
 *   the last checkpoint before `start` and the one at `start` (signed; chained by consistency proofs)
 *   committed leaf hashes, the events exactly as hashed, every checkpoint up to `end` after its last event
 *   when `end` has no checkpoint of its own: a `tail` line (the subtrees from `end` to the next checkpoint)
 *   and that checkpoint, whose signed root then covers the last events of the archive too
 *   end line
 */

export interface ArchiveRange {
  logId: string;
  start: number;
  end: number;
  month: string;
  partition: string;
}

export interface ArchiveDeps {
  db: Db;
  repo: AuditRepository;
  keys: AuditKeys;
  checkpointer: Pick<Checkpointer, "checkpointNow">;
}

/** The directory of a log's archives: its tenant id, or `instance` for instance-level events. */
export function archiveFileOf(dir: string, range: ArchiveRange): string {
  const logDir = range.logId === "" ? "instance" : /^[A-Za-z0-9_.-]+$/.test(range.logId) ? range.logId : encodeURIComponent(range.logId);
  return path.join(dir, logDir, `${range.month}_${range.start}-${range.end}.ndjson.gz`);
}

/**
 * The archive's lines. Everything that can fail on the log's state (no checkpoint after `end`, a missing
 * subtree) fails here, before the first line; a missing event fails the stream.
 */
export async function archiveLines(deps: ArchiveDeps, range: ArchiveRange): Promise<AsyncGenerator<string>> {
  const { db, repo, keys } = deps;
  const { logId, start, end } = range;
  const read: NodeReader = (refs) => repo.nodes(logId, refs);
  // The archive's last events must be signed: by a checkpoint at `end` or after it.
  let closing = await repo.checkpointAfter(logId, end - 1);
  if (!closing) {
    await deps.checkpointer.checkpointNow(logId);
    closing = await repo.checkpointAfter(logId, end - 1);
  }
  if (!closing) throw new Error(`log "${logId}" has no signed checkpoint at or after tree size ${end}`);
  const key = await keys.keyOf(db, logId);
  const frontier = (await storedHashes(frontierNodes(start), read)).map(b64);
  const before = start > 0 ? await repo.checkpoints(logId, 1, start) : [];
  const atStart = start > 0 ? await repo.checkpointsBetween(logId, start, start) : [];
  const opening = await withConsistency([...before, ...atStart], undefined, read);
  const closingSize = Number(closing.tree_size);
  const tail = closingSize > end ? (await storedHashes(compactRangeNodes(end, closingSize), read)).map(b64) : undefined;
  const header: ExportHeader & { archive: Record<string, string> } = {
    format: EXPORT_FORMAT,
    origin: key.origin,
    tenant: logId === "" ? null : logId,
    verifierKey: key.verifierKey,
    start,
    end,
    frontier,
    archive: { month: range.month, partition: range.partition, createdAt: new Date().toISOString() },
  };
  const closingTail = tail ? { line: { treeSize: closingSize, hashes: tail }, checkpoint: closing } : undefined;
  return exportLines({ repo, logId, header, opening, tail: closingTail, read, everyEvent: true });
}

/**
 * Writes the lines gzip-compressed to `file`, durably: a temporary file beside it, fsync, rename, fsync of
 * the directory. On failure nothing is left behind but what was there before.
 */
export async function writeArchiveFile(file: string, lines: AsyncIterable<string>): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const partial = `${file}.partial`;
  try {
    await pipeline(Readable.from(lines), createGzip(), createWriteStream(partial, { mode: 0o600 }));
    await fsync(partial, "r+");
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
  await rename(partial, file);
  await fsync(path.dirname(file), "r");
}

/** fsync of a file or directory (any descriptor of it flushes it). */
async function fsync(target: string, flags: string): Promise<void> {
  const handle = await open(target, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Reads an archive back from disk and verifies it with the offline verifier; also its size and SHA-256. */
export async function verifyArchiveFile(
  file: string,
  trusted: { publicKey: string; origin: string },
): Promise<{ result: AuditVerifyResult; sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const source = createReadStream(file);
  source.on("data", (chunk) => {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  });
  const gunzip = createGunzip();
  source.on("error", (e) => gunzip.destroy(e));
  const verifier = new AuditVerifier(trusted);
  try {
    const input = createInterface({ input: source.pipe(gunzip), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of input) if (!verifier.push(line)) break;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  return { result: verifier.finish(), sha256: hash.digest("hex"), bytes };
}
