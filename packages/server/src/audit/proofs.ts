import { timingSafeEqual } from "node:crypto";
import { Frontier, nodeHash, rootOf } from "./tree.js";

/**
 * Merkle proofs of the audit log, RFC 6962 section 2.1.1 (inclusion) and 2.1.2 (consistency), generated
 * from the stored complete subtrees (`audit_tree_nodes`) and verified with the algorithms of RFC 9162
 * sections 2.1.3.2 and 2.1.4.2.
 *
 * Every proof element is the hash of a subtree that RFC 6962's recursion visits, D[a:b]. Such a range
 * always starts at a multiple of the smallest power of two ≥ its length, so it is made of the aligned
 * perfect subtrees given by the set bits of b − a (largest first), all of which are stored; its hash is
 * those folded from the right. Generation is therefore: list the nodes needed (pure), fetch them in one
 * query, fold.
 *
 * Indexes are plain numbers (exact to 2^53) and never go through 32-bit bit operators.
 */

/** A stored node: the hash of leaves [idx·2^level, (idx+1)·2^level). */
export interface NodeRef {
  level: number;
  idx: number;
}

export const nodeKey = (n: NodeRef) => `${n.level}/${n.idx}`;

/** Reads stored nodes; must return every one asked for (or throw). */
export type NodeReader = (refs: NodeRef[]) => Promise<Map<string, Buffer>>;

export class ProofError extends Error {
  override name = "ProofError";
}

const half = (n: number) => Math.floor(n / 2);
const odd = (n: number) => n % 2 === 1;

function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  let x = n;
  while (x % 2 === 0) x /= 2;
  return x === 1;
}

/** Largest power of two strictly smaller than n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The aligned perfect subtrees that make up D[a:b], largest first. */
export function rangeNodes(a: number, b: number): NodeRef[] {
  const out: NodeRef[] = [];
  let size = b - a;
  let pos = a;
  let level = 0;
  while (2 ** (level + 1) <= size) level++;
  for (; size > 0; level--) {
    const width = 2 ** level;
    if (size >= width) {
      out.push({ level, idx: pos / width });
      pos += width;
      size -= width;
    }
  }
  return out;
}

/**
 * The canonical compact range of leaves [a, b): the largest aligned perfect subtrees that tile it, left to
 * right. Appended to the frontier of a tree of size a, they give the tree of size b (an export slice's
 * link to the next checkpoint after it).
 */
export function compactRangeNodes(a: number, b: number): NodeRef[] {
  const out: NodeRef[] = [];
  let pos = a;
  while (pos < b) {
    let level = 0;
    while (pos % 2 ** (level + 1) === 0 && pos + 2 ** (level + 1) <= b) level++;
    out.push({ level, idx: pos / 2 ** level });
    pos += 2 ** level;
  }
  return out;
}

/**
 * The root of the tree of size `size + (appended leaves)`: the frontier of a tree of `size` (its perfect
 * subtrees' hashes, largest first) with the perfect subtrees of `compactRangeNodes(size, …)` appended.
 */
export function rootAfterAppending(size: number, frontier: Buffer[], appended: { level: number; hash: Buffer }[]): Buffer {
  const tree = Frontier.restore(size, frontier);
  for (const node of appended) tree.append(node.hash, node.level);
  return tree.root();
}

/** A proof as ranges D[a:b] whose hashes are its elements, in order. */
type RangeList = [number, number][];

/** RFC 6962 2.1.1: PATH(m, D[0:n]) as the ranges whose hashes form the audit path, leaf side first. */
export function inclusionRanges(m: number, n: number): RangeList {
  if (!(Number.isSafeInteger(m) && Number.isSafeInteger(n) && m >= 0 && m < n)) {
    throw new ProofError(`no inclusion proof for index ${m} in a tree of ${n}`);
  }
  const path: RangeList = [];
  let a = 0;
  let b = n;
  while (b - a > 1) {
    const k = splitPoint(b - a);
    if (m < a + k) {
      path.push([a + k, b]);
      b = a + k;
    } else {
      path.push([a, a + k]);
      a += k;
    }
  }
  return path.reverse();
}

/** RFC 6962 2.1.2: PROOF(m, D[0:n]) as ranges. Empty when m = 0 or m = n. */
export function consistencyRanges(m: number, n: number): RangeList {
  if (!(Number.isSafeInteger(m) && Number.isSafeInteger(n) && m >= 0 && m <= n)) {
    throw new ProofError(`no consistency proof from size ${m} to size ${n}`);
  }
  if (m === 0 || m === n) return [];
  const proof: RangeList = [];
  let a = 0;
  let b = n;
  let whole = true; // SUBPROOF's b: whether D[a:b] is a subtree of the old tree too
  let mm = m;
  while (mm !== b - a) {
    const k = splitPoint(b - a);
    if (mm <= k) {
      proof.push([a + k, b]);
      b = a + k;
    } else {
      proof.push([a, a + k]);
      a += k;
      mm -= k;
      whole = false;
    }
  }
  if (!whole) proof.push([a, b]);
  return proof.reverse();
}

/** Fetches what the ranges need in one read and folds each range into its hash. */
async function hashRanges(ranges: RangeList, read: NodeReader): Promise<Buffer[]> {
  const perRange = ranges.map(([a, b]) => rangeNodes(a, b));
  const unique = new Map<string, NodeRef>();
  for (const refs of perRange) for (const r of refs) unique.set(nodeKey(r), r);
  const nodes = unique.size > 0 ? await read([...unique.values()]) : new Map<string, Buffer>();
  return perRange.map((refs) =>
    rootOf(
      refs.map((r) => {
        const h = nodes.get(nodeKey(r));
        if (!h) throw new ProofError(`the log has no stored subtree ${nodeKey(r)}`);
        return h;
      }),
    ),
  );
}

/** MTH(D[0:n]) from stored nodes. */
export async function treeRoot(n: number, read: NodeReader): Promise<Buffer> {
  const [root] = await hashRanges([[0, n]], read);
  return root as Buffer;
}

export async function inclusionProof(m: number, n: number, read: NodeReader): Promise<Buffer[]> {
  return hashRanges(inclusionRanges(m, n), read);
}

export async function consistencyProof(m: number, n: number, read: NodeReader): Promise<Buffer[]> {
  return hashRanges(consistencyRanges(m, n), read);
}

/** Several consistency proofs with one read of the nodes they need (an export's chain of checkpoints). */
export async function consistencyProofs(pairs: [number, number][], read: NodeReader): Promise<Buffer[][]> {
  const ranges = pairs.map(([m, n]) => consistencyRanges(m, n));
  const hashes = await hashRanges(ranges.flat(), read);
  let at = 0;
  return ranges.map((r) => {
    const proof = hashes.slice(at, at + r.length);
    at += r.length;
    return proof;
  });
}

/** The perfect subtrees left of index `size` (the compact frontier of a tree of that size), largest first. */
export const frontierNodes = (size: number): NodeRef[] => rangeNodes(0, size);

const equal = (x: Uint8Array, y: Uint8Array) => x.length === y.length && timingSafeEqual(x, y);

/**
 * RFC 9162 2.1.3.2: the root that an inclusion proof of `leaf` at `index` in a tree of `size` leads to,
 * or a ProofError when the proof has the wrong shape.
 */
export function rootFromInclusionProof(index: number, size: number, leaf: Uint8Array, proof: Uint8Array[]): Buffer {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) {
    throw new ProofError(`index ${index} is not in a tree of ${size}`);
  }
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) throw new ProofError("the inclusion proof is longer than the tree is deep");
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new ProofError("the inclusion proof is shorter than the tree is deep");
  return r;
}

export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: Uint8Array[], root: Uint8Array): boolean {
  try {
    return equal(rootFromInclusionProof(index, size, leaf, proof), root);
  } catch (e) {
    if (e instanceof ProofError) return false;
    throw e;
  }
}

/**
 * RFC 9162 2.1.4.2: does `proof` show that the tree of `size1` with root `root1` is a prefix of the tree
 * of `size2` with root `root2`? Equal sizes need equal roots and an empty proof; size1 = 0 an empty proof.
 */
export function verifyConsistency(size1: number, size2: number, proof: Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean {
  if (!(Number.isSafeInteger(size1) && Number.isSafeInteger(size2)) || size1 < 0 || size2 < size1) return false;
  if (size1 === size2) return proof.length === 0 && equal(root1, root2);
  if (size1 === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  const path = [...proof];
  // An old tree that is a perfect subtree is its own first element.
  if (isPowerOfTwo(size1)) path.unshift(root1);
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = Buffer.from(path[0] as Uint8Array);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equal(fr, root1) && equal(sr, root2);
}
