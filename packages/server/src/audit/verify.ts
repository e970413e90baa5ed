import { compactRangeNodes, rootAfterAppending, verifyConsistency } from "./proofs.js";
import {
  type Checkpoint,
  NoteError,
  type NoteVerifier,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  splitNote,
  verifierOf,
} from "./signing.js";
import { type AuditEventDocument, Frontier, leafHash } from "./tree.js";

/**
 * Offline verification of an audit export (`GET /api/v1/audit/export`, `cairn audit export`): pure, no
 * server, no database. It rebuilds the Merkle tree from the exported events, checks every checkpoint's
 * Ed25519 signature against a trusted public key, the consistency proof between consecutive checkpoints
 * (RFC 9162 2.1.4.2), and that the rebuilt tree has each checkpoint's root at its size — and names the
 * first bad index and why.
 *
 * The export is NDJSON, one JSON document per line:
 *
 *   {"header":{format, origin, tenant, verifierKey, start, end, frontier}}   first line
 *   {"leaves":{start, hashes}}        leaf hashes the log committed for the events that follow
 *   {…event document…}                exactly the bytes that were hashed (RFC 8785 JSON), index ascending
 *   {"checkpoint":{treeSize, note, consistency?:{from, proof}}}   after the event that completes its size
 *   {"tail":{treeSize, hashes}}       a slice that ends before the log does: the subtrees from its end to
 *                                     the next checkpoint, whose signed root then covers the slice too
 *   {"end":{events, treeSize}}        last line: a file cut short is detected
 *
 * `frontier` is the compact range of the tree left of `start` (base64 hashes, largest subtree first), so an
 * export that starts mid-log still rebuilds the same roots. The committed leaf hashes locate a changed event
 * exactly: they are themselves proven by the signed roots (the tree is rebuilt from them), so an event whose
 * hash differs from its committed hash is the one that was altered.
 */

export const EXPORT_FORMAT = "cairn-audit-export/1";

export interface ExportHeader {
  format: string;
  origin: string;
  tenant: string | null;
  verifierKey: string;
  /** Index of the first exported event. */
  start: number;
  /** Tree size after the last exported event (exclusive end index). */
  end: number;
  frontier: string[];
}

export interface ExportLeaves {
  start: number;
  hashes: string[];
}

export interface ExportCheckpoint {
  treeSize: number;
  note: string;
  /** Proof that the previous checkpoint in the export is a prefix of this one. */
  consistency?: { from: number; proof: string[] };
}

/** The perfect subtrees tiling [header.end, treeSize) (their canonical compact range), left to right. */
export interface ExportTail {
  treeSize: number;
  hashes: string[];
}

export interface ExportEnd {
  events: number;
  treeSize: number;
}

export type ExportLine =
  | { header: ExportHeader }
  | { leaves: ExportLeaves }
  | { checkpoint: ExportCheckpoint }
  | { tail: ExportTail }
  | { end: ExportEnd }
  | AuditEventDocument;

export interface AuditVerifyFailure {
  /** The first leaf index that is wrong (missing, changed, swapped, …), when one can be named. */
  index?: number;
  /** The tree size of the checkpoint that failed, for checkpoint failures. */
  checkpoint?: number;
  /** 1-based line of the export where it was found. */
  line: number;
  reason: string;
}

export interface AuditVerifyResult {
  ok: boolean;
  origin?: string;
  /** Events read and verified. */
  events: number;
  /** Tree size reached (start + events). */
  treeSize: number;
  /** Base64 root of the rebuilt tree at `treeSize`. */
  root?: string;
  /** Checkpoints whose signature verified. */
  checkpoints: number;
  /** Size of the last checkpoint matched against the rebuilt tree (0 if none). */
  signedSize: number;
  failure?: AuditVerifyFailure;
}

/**
 * The trusted key, from any of: a verifier key `<name>+<hex ID>+<base64(0x01 ‖ key)>`, the JSON answer of
 * `GET /audit/public-key` (its `verifierKey`), or base64 of the raw 32-byte Ed25519 key (then the key name
 * is taken from the signatures, and the key ID must match it).
 */
export function parseTrustedKey(text: string): { verifier?: NoteVerifier; publicKey: Buffer } {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    let doc: { verifierKey?: unknown };
    try {
      doc = JSON.parse(trimmed) as { verifierKey?: unknown };
    } catch {
      throw new NoteError("the public key file is not valid JSON");
    }
    if (typeof doc.verifierKey !== "string") throw new NoteError("the public key JSON has no verifierKey");
    return parseTrustedKey(doc.verifierKey);
  }
  if (trimmed.includes("+") && !/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) {
    const verifier = parseVerifierKey(trimmed);
    return { verifier, publicKey: verifier.publicKey };
  }
  const raw = Buffer.from(trimmed, "base64");
  if (raw.length !== 32 || raw.toString("base64") !== trimmed) {
    throw new NoteError("the public key is neither a verifier key (name+id+key) nor base64 of a 32-byte Ed25519 key");
  }
  return { publicKey: raw };
}

const b64 = (s: unknown, what: string): Buffer => {
  const buf = typeof s === "string" ? Buffer.from(s, "base64") : Buffer.alloc(0);
  if (buf.length !== 32 || buf.toString("base64") !== s) throw new VerifyStop(`${what} is not base64 of a 32-byte hash`);
  return buf;
};

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

/** Ends verification at the line being read. */
class VerifyStop extends Error {
  constructor(
    message: string,
    readonly where: { index?: number; checkpoint?: number } = {},
  ) {
    super(message);
  }
}

/**
 * Streams an export through the checks, line by line (`push`), then `finish()`. Stops at the first
 * failure; later lines are ignored.
 */
export class AuditVerifier {
  readonly #trusted: { verifier?: NoteVerifier; publicKey: Buffer };
  readonly #expectedOrigin?: string;
  #line = 0;
  #header?: ExportHeader;
  #tree?: Frontier;
  #events = 0;
  #committed = new Map<number, Buffer>();
  #nextLeaves = 0;
  /** First event whose hash differs from the leaf hash the log committed; blamed once a signed root proves the committed hashes. */
  #mismatch?: { index: number; line: number };
  #lastCheckpoint?: Checkpoint;
  /** The root of the tree the slice continues into (from a tail line), to check the next checkpoint against. */
  #extended?: { size: number; root: Buffer };
  #checkpoints = 0;
  #signedSize = 0;
  #ended = false;
  #failure?: AuditVerifyFailure;

  constructor(options: { publicKey: string; origin?: string }) {
    this.#trusted = parseTrustedKey(options.publicKey);
    this.#expectedOrigin = options.origin;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Feeds one line of the export. Returns false once verification has failed. */
  push(text: string): boolean {
    if (this.#failure) return false;
    this.#line++;
    if (text.trim() === "") return true;
    try {
      if (this.#ended) throw new VerifyStop("there is data after the end line");
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        throw new VerifyStop("the line is not JSON", { index: this.#tree?.size });
      }
      if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new VerifyStop("the line is not a JSON object");
      const line = doc as Record<string, unknown>;
      if (!this.#header) {
        if (!line.header) throw new VerifyStop("the export does not start with its header line");
        this.#onHeader(line.header as ExportHeader);
      } else if ("leaves" in line && Object.keys(line).length === 1) this.#onLeaves(line.leaves as ExportLeaves);
      else if ("checkpoint" in line && Object.keys(line).length === 1) this.#onCheckpoint(line.checkpoint as ExportCheckpoint);
      else if ("end" in line && Object.keys(line).length === 1) this.#onEnd(line.end as ExportEnd);
      else if ("tail" in line && Object.keys(line).length === 1) this.#onTail(line.tail as ExportTail);
      else if ("header" in line && Object.keys(line).length === 1) throw new VerifyStop("a second header line");
      else this.#onEvent(line as unknown as AuditEventDocument);
    } catch (e) {
      if (e instanceof VerifyStop) this.#fail(e.message, e.where);
      else if (e instanceof NoteError) this.#fail(e.message, {});
      else throw e;
    }
    return this.#failure === undefined;
  }

  finish(): AuditVerifyResult {
    if (!this.#failure) {
      if (!this.#header) this.#fail("the export is empty (no header line)", {});
      else if (!this.#ended)
        this.#fail(`the export is cut short: no end line after index ${(this.#tree?.size ?? 1) - 1}`, { index: this.#tree?.size });
      else if (this.#mismatch) {
        this.#line = this.#mismatch.line;
        this.#fail("the event differs from the leaf hash the log committed (not yet covered by a checkpoint)", {
          index: this.#mismatch.index,
        });
      } else if (this.#events > 0 && this.#signedSize === 0) {
        // Events without any signed root prove nothing (an export stripped of its checkpoints looks like this).
        this.#fail(`no signed checkpoint covers any of the ${this.#events} events, so none of them is proven`, {
          index: this.#header.start,
        });
      }
    }
    return {
      ok: this.#failure === undefined,
      origin: this.#header?.origin,
      events: this.#events,
      treeSize: this.#tree?.size ?? 0,
      root: this.#tree?.root().toString("base64"),
      checkpoints: this.#checkpoints,
      signedSize: this.#signedSize,
      failure: this.#failure,
    };
  }

  #fail(reason: string, where: { index?: number; checkpoint?: number }) {
    this.#failure = { ...where, line: this.#line, reason };
  }

  #onHeader(h: ExportHeader) {
    if (!h || typeof h !== "object") throw new VerifyStop("malformed header");
    if (h.format !== EXPORT_FORMAT)
      throw new VerifyStop(`unknown export format "${String(h.format)}" (this verifier reads ${EXPORT_FORMAT})`);
    if (typeof h.origin !== "string" || !h.origin) throw new VerifyStop("the header has no origin");
    if (this.#expectedOrigin && h.origin !== this.#expectedOrigin) {
      throw new VerifyStop(`the export is of log ${h.origin}, not ${this.#expectedOrigin}`);
    }
    if (this.#trusted.verifier && this.#trusted.verifier.name !== h.origin) {
      throw new VerifyStop(`the trusted key is ${this.#trusted.verifier.name}'s, but the export is of log ${h.origin}`);
    }
    if (!isCount(h.start) || !isCount(h.end) || h.end < h.start) throw new VerifyStop("the header's start and end are not an index range");
    if (!Array.isArray(h.frontier)) throw new VerifyStop("the header has no frontier");
    const hashes = h.frontier.map((x, i) => b64(x, `frontier hash ${i}`).toString("hex"));
    try {
      this.#tree = Frontier.restore(h.start, hashes);
    } catch (e) {
      throw new VerifyStop(`the header's frontier does not fit a tree of ${h.start}: ${(e as Error).message}`);
    }
    this.#header = h;
    this.#nextLeaves = h.start;
  }

  #onLeaves(l: ExportLeaves) {
    if (!l || !isCount(l.start) || !Array.isArray(l.hashes)) throw new VerifyStop("malformed leaves line");
    if (l.start < this.#nextLeaves) throw new VerifyStop(`leaf hashes start at ${l.start}, before ${this.#nextLeaves}`);
    l.hashes.forEach((h, i) => {
      this.#committed.set(l.start + i, b64(h, `committed leaf hash of index ${l.start + i}`));
    });
    this.#nextLeaves = l.start + l.hashes.length;
  }

  #onEvent(doc: AuditEventDocument) {
    const tree = this.#tree as Frontier;
    const header = this.#header as ExportHeader;
    const expected = tree.size;
    if (!isCount(doc.index)) throw new VerifyStop("an event without a valid index", { index: expected });
    if (doc.index > expected) {
      throw new VerifyStop(`event missing: the export jumps from index ${expected - 1} to ${doc.index} (deleted?)`, { index: expected });
    }
    if (doc.index < expected)
      throw new VerifyStop(`event ${doc.index} appears again or out of order (expected index ${expected})`, { index: doc.index });
    if (expected >= header.end)
      throw new VerifyStop(`more events than the header announces (it ends at ${header.end})`, { index: expected });
    if (doc.tenant !== header.tenant)
      throw new VerifyStop(`the event belongs to tenant ${String(doc.tenant)}, not to this log's`, { index: expected });
    const hash = leafHash(doc);
    const committed = this.#committed.get(expected);
    this.#committed.delete(expected);
    if (committed && !committed.equals(hash) && !this.#mismatch) this.#mismatch = { index: expected, line: this.#line };
    // Rebuilt from the committed hashes when the export has them (so the signed roots prove them), else from the events.
    tree.append(committed ?? hash);
    this.#events++;
  }

  #onCheckpoint(c: ExportCheckpoint) {
    const tree = this.#tree as Frontier;
    const header = this.#header as ExportHeader;
    if (!c || typeof c.note !== "string" || !isCount(c.treeSize)) throw new VerifyStop("malformed checkpoint line");
    const where = { checkpoint: c.treeSize };
    let text: string;
    try {
      text = openNote(c.note, this.#verifierFor(c.note));
    } catch (e) {
      if (e instanceof NoteError) throw new VerifyStop(`checkpoint at tree size ${c.treeSize}: ${e.message}`, where);
      throw e;
    }
    let cp: Checkpoint;
    try {
      cp = parseCheckpoint(text);
    } catch (e) {
      if (e instanceof NoteError) throw new VerifyStop(`checkpoint at tree size ${c.treeSize}: ${e.message}`, where);
      throw e;
    }
    if (cp.origin !== header.origin) throw new VerifyStop(`a checkpoint of another log (${cp.origin})`, where);
    if (cp.size !== c.treeSize)
      throw new VerifyStop(`the checkpoint line says tree size ${c.treeSize} but the signed note says ${cp.size}`, where);
    const previous = this.#lastCheckpoint;
    if (previous) {
      if (cp.size <= previous.size) throw new VerifyStop(`checkpoints out of order: ${cp.size} after ${previous.size}`, where);
      const proof = c.consistency;
      if (!proof || proof.from !== previous.size || !Array.isArray(proof.proof)) {
        throw new VerifyStop(`no consistency proof from the previous checkpoint (size ${previous.size})`, where);
      }
      const hashes = proof.proof.map((h, i) => b64(h, `consistency proof element ${i}`));
      if (!verifyConsistency(previous.size, cp.size, hashes, previous.root, cp.root)) {
        throw new VerifyStop(
          `the checkpoint at size ${cp.size} is not consistent with the one at size ${previous.size}: the log was rewritten between them`,
          where,
        );
      }
    }
    this.#checkpoints++;
    this.#lastCheckpoint = cp;
    if (cp.size > tree.size && cp.size <= header.end) {
      throw new VerifyStop(
        `event missing: the signed checkpoint covers ${cp.size} events, the export has only ${tree.size} (the tail was removed?)`,
        { index: tree.size },
      );
    }
    const extended = cp.size > header.end && this.#extended?.size === cp.size ? this.#extended.root : undefined;
    if (cp.size === tree.size || extended) {
      if (!(extended ?? tree.root()).equals(cp.root)) {
        const from = Math.max(this.#signedSize, header.start);
        throw new VerifyStop(
          this.#mismatch
            ? "the event differs from what the log committed and signed (changed, swapped or forged)"
            : `the events ${from}..${tree.size - 1}${extended ? ` (with the tail's subtrees up to ${cp.size})` : ""} do not produce the signed root of the checkpoint at size ${cp.size}`,
          { index: this.#mismatch?.index ?? from, checkpoint: cp.size },
        );
      }
      if (this.#mismatch) {
        this.#line = this.#mismatch.line;
        throw new VerifyStop("the event differs from what the log committed and signed (changed, swapped or forged)", {
          index: this.#mismatch.index,
        });
      }
      this.#signedSize = tree.size;
    } else if (cp.size < tree.size && cp.size >= header.start && cp.size !== header.start) {
      throw new VerifyStop(`the checkpoint at size ${cp.size} comes after event ${tree.size - 1}`, where);
    }
  }

  #onTail(t: ExportTail) {
    const tree = this.#tree as Frontier;
    const header = this.#header as ExportHeader;
    if (!t || !isCount(t.treeSize) || !Array.isArray(t.hashes)) throw new VerifyStop("malformed tail line");
    if (tree.size < header.end) {
      throw new VerifyStop(`event missing: the export announces events up to index ${header.end - 1} but has only ${tree.size}`, {
        index: tree.size,
      });
    }
    if (t.treeSize <= header.end) throw new VerifyStop("the tail line does not reach past the export's end");
    const refs = compactRangeNodes(header.end, t.treeSize);
    if (refs.length !== t.hashes.length)
      throw new VerifyStop(`the tail to size ${t.treeSize} needs ${refs.length} subtree hashes, not ${t.hashes.length}`);
    const frontier = tree.toJSON().map((h) => Buffer.from(h, "hex"));
    const appended = refs.map((r, i) => ({ level: r.level, hash: b64(t.hashes[i], `tail hash ${i}`) }));
    this.#extended = { size: t.treeSize, root: rootAfterAppending(tree.size, frontier, appended) };
  }

  #onEnd(e: ExportEnd) {
    const tree = this.#tree as Frontier;
    const header = this.#header as ExportHeader;
    if (!e || !isCount(e.events) || !isCount(e.treeSize)) throw new VerifyStop("malformed end line");
    if (tree.size < header.end) {
      throw new VerifyStop(`event missing: the export announces events up to index ${header.end - 1} but ends at ${tree.size}`, {
        index: tree.size,
      });
    }
    if (e.treeSize !== tree.size || e.events !== this.#events) {
      throw new VerifyStop(`the end line says ${e.events} events / size ${e.treeSize}, the export has ${this.#events} / ${tree.size}`);
    }
    this.#ended = true;
  }

  /** The trusted key; a raw key takes its name from the note's signature whose key ID matches it. */
  #verifierFor(note: string): NoteVerifier {
    if (this.#trusted.verifier) return this.#trusted.verifier;
    const { signatures } = splitNote(note);
    for (const s of signatures) {
      const v = verifierOf(s.name, this.#trusted.publicKey);
      if (v.keyId.equals(s.keyId)) return v;
    }
    throw new NoteError("not signed by the trusted public key (no signature has its key ID)");
  }
}

/** Verifies a whole export (lines, or an async stream of lines). */
export async function verifyAuditExport(
  lines: Iterable<string> | AsyncIterable<string>,
  options: { publicKey: string; origin?: string },
): Promise<AuditVerifyResult> {
  const verifier = new AuditVerifier(options);
  for await (const line of lines) if (!verifier.push(line)) break;
  return verifier.finish();
}

/** One-line summary: "verified N events, root …" or "FAILED at index i: why". */
export function describeVerification(r: AuditVerifyResult): string {
  if (r.ok) {
    const unsigned = r.treeSize - r.signedSize;
    const tail =
      r.events > 0 && unsigned > 0 ? ` (the last ${unsigned}, after the checkpoint at size ${r.signedSize}, are not signed yet)` : "";
    return `verified ${r.events} events, root ${r.root}${tail}`;
  }
  const f = r.failure as AuditVerifyFailure;
  const where = f.index !== undefined ? `index ${f.index}` : f.checkpoint !== undefined ? `checkpoint ${f.checkpoint}` : `line ${f.line}`;
  return `FAILED at ${where}: ${f.reason} (export line ${f.line})`;
}
