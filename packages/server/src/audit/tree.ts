import { createHash } from "node:crypto";
import { type Selectable, sql } from "kysely";
import type { AuditEventsTable } from "../db/types.js";

/**
 * The audit log as an RFC 6962 Merkle tree (section 2.1): leaf hash SHA-256(0x00 ‖ leaf), node hash
 * SHA-256(0x01 ‖ left ‖ right), the root of an empty tree SHA-256(""). A leaf is the canonical JSON
 * (RFC 8785) of the event document below — the same bytes the export writes, so an auditor can
 * recompute every hash from an export alone.
 */

const LEAF_PREFIX = Buffer.from([0]);
const NODE_PREFIX = Buffer.from([1]);

export const emptyRoot: Buffer = createHash("sha256").digest();

export function leafHashOfBytes(leaf: Uint8Array): Buffer {
  return createHash("sha256").update(LEAF_PREFIX).update(leaf).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest();
}

/**
 * RFC 8785 JSON Canonicalization Scheme: ECMAScript number and string serialisation (what JSON.stringify
 * does), object members sorted by their UTF-16 code units (what Array#sort does), no whitespace.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("JSON has no NaN or Infinity");
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`a ${typeof value} cannot be canonicalized`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`;
  const record = value as Record<string, unknown>;
  const members = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`);
  return `{${members.join(",")}}`;
}

/** An audit event as recorded, hashed and exported (seed 001 section 9.6 plus its place in the log). */
export interface AuditEventDocument {
  index: number;
  id: string;
  /** RFC 3339, UTC, microseconds: exactly as stored. */
  timestamp: string;
  tenant: string | null;
  eventType: string;
  action: string;
  result: "success" | "failure" | "denied";
  actor: { id: string | null; type: string | null };
  resource: { type: string | null; id: string | null; namespace: string | null };
  requestContext: { requestId: string | null; sourceIp: string | null; userAgent: string | null };
  metadata: Record<string, unknown>;
}

export function leafHash(doc: AuditEventDocument): Buffer {
  return leafHashOfBytes(Buffer.from(canonicalJson(doc), "utf8"));
}

/**
 * What `AUDIT_DOCUMENT_COLUMNS` selects from audit_events: the row, with its timestamp as the database
 * formats it, and its metadata as the driver hands it over (parsed, or text).
 */
export type AuditDocumentRow = Omit<Selectable<AuditEventsTable>, "occurred_at" | "metadata"> & {
  timestamp: string;
  metadata: Record<string, unknown> | string;
};

/**
 * The select list for `AuditDocumentRow` (from `audit_events`). The timestamp is formatted by the database
 * so it keeps its microseconds: a JavaScript Date would round them away and change the hash.
 */
export const AUDIT_DOCUMENT_COLUMNS = sql<AuditDocumentRow>`seq, id, tenant_id,
  to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as timestamp,
  event_type, action, result, actor_id, actor_type, resource_type, resource_id, namespace,
  request_id, source_ip, user_agent, metadata, leaf_index`;

export function eventDocument(row: AuditDocumentRow, index: number | string): AuditEventDocument {
  return {
    index: Number(index),
    id: row.id,
    timestamp: row.timestamp,
    tenant: row.tenant_id,
    eventType: row.event_type,
    action: row.action,
    result: row.result,
    actor: { id: row.actor_id, type: row.actor_type },
    resource: { type: row.resource_type, id: row.resource_id, namespace: row.namespace },
    requestContext: { requestId: row.request_id, sourceIp: row.source_ip, userAgent: row.user_agent },
    metadata: typeof row.metadata === "string" ? (JSON.parse(row.metadata) as Record<string, unknown>) : row.metadata,
  };
}

/** log id of an event: its tenant, or '' for instance-level events. */
export const logIdOf = (tenantId: string | null): string => tenantId ?? "";

/** A complete perfect subtree: the hash of leaves [idx·2^level, (idx+1)·2^level). */
export interface TreeNode {
  level: number;
  idx: number;
  hash: Buffer;
}

/**
 * The compact frontier of a tree of `size` leaves: the hashes of its right-edge perfect subtrees, largest
 * first (one per set bit of `size`). Appending a leaf merges equal-sized subtrees, so the tree grows in
 * O(log n) per leaf and its root never needs the leaves again.
 */
export class Frontier {
  private constructor(
    public size: number,
    private readonly hashes: Buffer[],
  ) {}

  static empty(): Frontier {
    return new Frontier(0, []);
  }

  /** The frontier of a tree of `size` leaves from its subtree hashes, largest first (hex, or bytes). */
  static restore(size: number, hashes: (string | Buffer)[]): Frontier {
    let bits = 0;
    for (let n = size; n > 0; n = Math.floor(n / 2)) bits += n % 2;
    if (bits !== hashes.length) throw new Error(`frontier of a ${size}-leaf tree needs ${bits} hashes, got ${hashes.length}`);
    return new Frontier(
      size,
      hashes.map((h) => (typeof h === "string" ? Buffer.from(h, "hex") : h)),
    );
  }

  toJSON(): string[] {
    return this.hashes.map((h) => h.toString("hex"));
  }

  /**
   * Appends one leaf hash — or, with `level`, the hash of a perfect subtree of 2^level leaves starting at
   * the current size (which must be a multiple of 2^level, as in a compact range). Returns every subtree
   * completed by it (the appended one included).
   */
  append(hash: Buffer, level = 0): TreeNode[] {
    const width = 2 ** level;
    if (this.size % width !== 0) throw new Error(`a ${width}-leaf subtree cannot start at leaf ${this.size}`);
    const first = this.size / width;
    const completed: TreeNode[] = [{ level, idx: first, hash }];
    // Each trailing 1-bit of the old size (at this height and above) is a subtree of the same height to merge with.
    for (let n = first; n % 2 === 1; n = Math.floor(n / 2)) {
      const left = this.hashes.pop() as Buffer;
      hash = nodeHash(left, hash);
      level += 1;
      completed.push({ level, idx: Math.floor(n / 2), hash });
    }
    this.hashes.push(hash);
    this.size += width;
    return completed;
  }

  /** MTH of the whole tree: the right-edge subtrees folded from the right (RFC 6962 section 2.1). */
  root(): Buffer {
    return rootOf(this.hashes);
  }
}

/** Folds right-edge subtree hashes (largest first) into the root; empty → SHA-256(""). */
export function rootOf(hashes: Buffer[]): Buffer {
  if (hashes.length === 0) return emptyRoot;
  let acc = hashes[hashes.length - 1] as Buffer;
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i] as Buffer, acc);
  return acc;
}
