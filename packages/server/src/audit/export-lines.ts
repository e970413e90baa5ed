import type { AuditRepository, CheckpointRow } from "../domains/audit/repository.js";
import { consistencyProofs, type NodeReader, type NodeRef, nodeKey, ProofError } from "./proofs.js";
import { canonicalJson, eventDocument } from "./tree.js";
import type { ExportCheckpoint, ExportHeader, ExportLine, ExportTail } from "./verify.js";

/**
 * The lines of the export format (`GET /audit/export`, src/audit/verify.ts), shared by the export and the
 * retention archives, so an archive is byte for byte what an export of the same range would be.
 */

/** Events per page (one query for the events, one for their committed leaf hashes, one for checkpoints). */
const PAGE = 1000;

export const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

const line = (l: ExportLine) => `${JSON.stringify(l)}\n`;

/** The stored subtrees `refs`, in order; a missing one is a ProofError. */
export async function storedHashes(refs: NodeRef[], read: NodeReader): Promise<Buffer[]> {
  if (refs.length === 0) return [];
  const nodes = await read(refs);
  return refs.map((r) => {
    const h = nodes.get(nodeKey(r));
    if (!h) throw new ProofError(`the log has no stored subtree ${nodeKey(r)}`);
    return h;
  });
}

/**
 * Checkpoint lines, each with its consistency proof from the one before it (`previous`, or the previous
 * in the list); the proofs of a batch come from one read of the stored nodes.
 */
export async function withConsistency(rows: CheckpointRow[], previous: number | undefined, read: NodeReader): Promise<ExportCheckpoint[]> {
  const sizes = rows.map((r) => Number(r.tree_size));
  const pairs: [number, number][] = [];
  sizes.forEach((size, i) => {
    const from = i === 0 ? previous : sizes[i - 1];
    if (from !== undefined) pairs.push([from, size]);
  });
  const proofs = await consistencyProofs(pairs, read);
  let p = 0;
  return rows.map((row, i) => {
    const from = i === 0 ? previous : sizes[i - 1];
    const consistency = from === undefined ? undefined : { from, proof: (proofs[p++] as Buffer[]).map(b64) };
    return { treeSize: sizes[i] as number, note: row.note, ...(consistency ? { consistency } : {}) };
  });
}

/**
 * Header, the checkpoints up to the start (`opening`), then page by page the committed leaf hashes, the
 * events exactly as hashed, and each checkpoint right after the event that completes its size; when the
 * range ends before a checkpoint, the `tail` subtrees and that checkpoint; last, the end line.
 * `everyEvent`: a page missing events fails the stream (archives) instead of leaving the gap to the verifier.
 */
export async function* exportLines(options: {
  repo: AuditRepository;
  logId: string;
  header: ExportHeader;
  opening: ExportCheckpoint[];
  tail: { line: ExportTail; checkpoint: CheckpointRow } | undefined;
  read: NodeReader;
  everyEvent?: boolean;
}): AsyncGenerator<string> {
  const { repo, logId, header, opening, tail, read } = options;
  const { start, end } = header;
  yield line({ header });
  for (const checkpoint of opening) yield line({ checkpoint });
  let previous = opening.at(-1)?.treeSize;
  let events = 0;
  for (let page = start; page < end; page += PAGE) {
    const pageEnd = Math.min(page + PAGE, end);
    const [leaves, rows, checkpointRows] = await Promise.all([
      repo.leafHashes(logId, page, pageEnd),
      repo.eventsByIndex(logId, page, pageEnd),
      repo.checkpointsBetween(logId, page + 1, pageEnd),
    ]);
    if (options.everyEvent && rows.length !== pageEnd - page) {
      throw new Error(`log "${logId}" has ${rows.length} of the ${pageEnd - page} events ${page}..${pageEnd - 1} in the database`);
    }
    const checkpoints = await withConsistency(checkpointRows, previous, read);
    previous = checkpoints.at(-1)?.treeSize ?? previous;
    // The committed leaf hashes, as runs of consecutive indexes.
    let run: { start: number; hashes: string[] } | undefined;
    for (let i = page; i <= pageEnd; i++) {
      const h = i < pageEnd ? leaves.get(i) : undefined;
      if (h) {
        run ??= { start: i, hashes: [] };
        run.hashes.push(b64(h));
      } else if (run) {
        yield line({ leaves: run });
        run = undefined;
      }
    }
    const checkpointsUpTo = function* (size: number) {
      while (checkpoints.length > 0 && (checkpoints[0] as ExportCheckpoint).treeSize <= size) {
        yield line({ checkpoint: checkpoints.shift() as ExportCheckpoint });
      }
    };
    for (const row of rows) {
      const index = Number(row.leaf_index);
      yield* checkpointsUpTo(index);
      // Exactly the bytes that were hashed into the log.
      yield `${canonicalJson(eventDocument(row, index))}\n`;
      events++;
    }
    yield* checkpointsUpTo(Number.MAX_SAFE_INTEGER);
  }
  if (tail) {
    yield line({ tail: tail.line });
    for (const checkpoint of await withConsistency([tail.checkpoint], previous, read)) yield line({ checkpoint });
  }
  yield line({ end: { events, treeSize: start + events } });
}
