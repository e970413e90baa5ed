/**
 * RFC 6962 / RFC 9162 Merkle proofs and C2SP signed notes against PUBLISHED test vectors.
 *
 * Tree vectors: transparency-dev/merkle, proof/verify_test.go (commit 02194e9afb6c1d95b5381350007963aa70fff472):
 * the eight leaves, the roots of the trees of sizes 1–8, and the inclusion and consistency proofs
 * (`leaves`, `roots`, `inclusionProofs`, `consistencyProofs`), plus its corrupted-proof probes.
 * Hash vectors: transparency-dev/merkle, rfc6962/rfc6962_test.go (commit 78493b07ef9b552e3379abf9e23d4da26fbe797c).
 * Signed note vector: golang/mod, sumdb/note/note_test.go and the package doc of sumdb/note/note.go
 * (the PeterNeumann key and its signature; Ed25519 is deterministic, so signing must reproduce it byte for byte).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  compactRangeNodes,
  consistencyProof,
  consistencyProofs,
  inclusionProof,
  type NodeReader,
  nodeKey,
  rangeNodes,
  rootAfterAppending,
  rootFromInclusionProof,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from "../../src/audit/proofs.js";
import {
  checkpointText,
  keyIdOf,
  NoteError,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  verifierKeyString,
} from "../../src/audit/signing.js";
import { emptyRoot, leafHashOfBytes, nodeHash } from "../../src/audit/tree.js";

const h = (hex: string) => Buffer.from(hex, "hex");

// transparency-dev/merkle proof/verify_test.go: `leaves`
const leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(h);
// … `roots`: MTH of the first 1..8 leaves
const roots = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
].map(h);
// … `inclusionProofs` ({leaf (1-based), size, proof}); the {0, 0} entry is an invalid path there too.
const inclusionVectors: { leaf: number; size: number; proof: string[] }[] = [
  { leaf: 1, size: 1, proof: [] },
  {
    leaf: 1,
    size: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    leaf: 6,
    size: 8,
    proof: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  { leaf: 3, size: 3, proof: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
  {
    leaf: 2,
    size: 5,
    proof: [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
];
// … `consistencyProofs`
const consistencyVectors: { size1: number; size2: number; proof: string[] }[] = [
  { size1: 1, size2: 1, proof: [] },
  {
    size1: 1,
    size2: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    size1: 6,
    size2: 8,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  {
    size1: 2,
    size2: 5,
    proof: [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
  {
    size1: 6,
    size2: 7,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
];
const sha256SomeHash = h("abacaba000000000000000000000000000000000000000000060061e00123456");

/** Every complete perfect subtree of a list of leaf hashes, as the sequencer stores them (audit_tree_nodes). */
function storedNodes(leafHashes: Buffer[]): NodeReader {
  const nodes = new Map<string, Buffer>();
  let level = leafHashes.map((x) => x);
  for (let l = 0; level.length > 0; l++) {
    level.forEach((hash, idx) => {
      nodes.set(nodeKey({ level: l, idx }), hash);
    });
    const up: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) up.push(nodeHash(level[i] as Buffer, level[i + 1] as Buffer));
    level = up;
  }
  return async (refs) => {
    const out = new Map<string, Buffer>();
    for (const r of refs) {
      const n = nodes.get(nodeKey(r));
      if (!n) throw new Error(`node ${nodeKey(r)} is not stored`);
      out.set(nodeKey(r), n);
    }
    return out;
  };
}

/** The same leaves again, one by one, with the slow obvious MTH (RFC 6962 2.1). */
function mth(hashes: Buffer[]): Buffer {
  if (hashes.length === 0) return emptyRoot;
  if (hashes.length === 1) return hashes[0] as Buffer;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return nodeHash(mth(hashes.slice(0, k)), mth(hashes.slice(k)));
}

const leafHashes = leaves.map(leafHashOfBytes);
const hex = (xs: Buffer[]) => xs.map((x) => x.toString("hex"));

describe("RFC 6962 hashes (transparency-dev/merkle rfc6962_test.go)", () => {
  it("empty tree, empty leaf, a leaf, a node", () => {
    assert.equal(emptyRoot.toString("hex"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.equal(leafHashOfBytes(Buffer.alloc(0)).toString("hex"), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    assert.equal(
      leafHashOfBytes(Buffer.from("L123456")).toString("hex"),
      "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
    );
    assert.equal(
      nodeHash(Buffer.from("N123"), Buffer.from("N456")).toString("hex"),
      "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb",
    );
  });
});

describe("proofs from stored subtrees (transparency-dev/merkle proof/verify_test.go)", () => {
  const read = storedNodes(leafHashes);

  it("the root of every tree size 1–8, from stored nodes only", async () => {
    for (let size = 1; size <= 8; size++) {
      assert.equal((await treeRoot(size, read)).toString("hex"), roots[size - 1]?.toString("hex"), `root of size ${size}`);
    }
    assert.equal((await treeRoot(0, read)).toString("hex"), emptyRoot.toString("hex"));
  });

  it("generates exactly the published inclusion proofs, and they verify", async () => {
    for (const v of inclusionVectors) {
      const index = v.leaf - 1;
      const proof = await inclusionProof(index, v.size, read);
      assert.deepEqual(hex(proof), v.proof, `inclusion of leaf ${index} in size ${v.size}`);
      assert.ok(verifyInclusion(index, v.size, leafHashes[index] as Buffer, proof, roots[v.size - 1] as Buffer));
    }
  });

  it("generates exactly the published consistency proofs, and they verify", async () => {
    for (const v of consistencyVectors) {
      const proof = await consistencyProof(v.size1, v.size2, read);
      assert.deepEqual(hex(proof), v.proof, `consistency ${v.size1} → ${v.size2}`);
      assert.ok(verifyConsistency(v.size1, v.size2, proof, roots[v.size1 - 1] as Buffer, roots[v.size2 - 1] as Buffer));
    }
  });

  it("rejects the corrupted inclusion probes of verify_test.go", () => {
    for (const v of inclusionVectors.slice(1)) {
      const i = v.leaf - 1;
      const proof = v.proof.map(h);
      const root = roots[v.size - 1] as Buffer;
      const leaf = leafHashes[i] as Buffer;
      const probes: [number, number, Buffer, Buffer, Buffer[], string][] = [
        [i - 1, v.size, root, leaf, proof, "leafIndex - 1"],
        [i + 1, v.size, root, leaf, proof, "leafIndex + 1"],
        [i ^ 2, v.size, root, leaf, proof, "leafIndex ^ 2"],
        [i, v.size * 2, root, leaf, proof, "treeSize * 2"],
        [i, Math.floor(v.size / 2), root, leaf, proof, "treeSize / 2"],
        [i, v.size, root, Buffer.from("WrongLeaf"), proof, "wrong leaf"],
        [i, v.size, emptyRoot, leaf, proof, "empty root"],
        [i, v.size, sha256SomeHash, leaf, proof, "random root"],
        [i, v.size, root, leaf, [...proof, Buffer.alloc(0)], "trailing garbage"],
        [i, v.size, root, leaf, [...proof, root], "trailing root"],
        [i, v.size, root, leaf, [Buffer.alloc(0), ...proof], "preceding garbage"],
        [i, v.size, root, leaf, [root, ...proof], "preceding root"],
      ];
      proof.forEach((_, k) => {
        const wrong = proof.map((p) => Buffer.from(p));
        const flipped = wrong[k] as Buffer;
        flipped[0] = (flipped[0] as number) ^ 8;
        probes.push([i, v.size, root, leaf, wrong, `modified proof[${k}] bit 3`]);
      });
      if (proof.length > 0) probes.push([i, v.size, root, leaf, proof.slice(0, -1), "removed component"]);
      if (proof.length > 1)
        probes.push([i, v.size, root, leaf, [proof[0] as Buffer, sha256SomeHash, ...proof.slice(1)], "inserted component"]);
      for (const [index, size, r, l, p, desc] of probes) {
        assert.equal(verifyInclusion(index, size, l, p, r), false, `leaf ${i} size ${v.size}: ${desc} must not verify`);
      }
    }
    // Sizes and indexes that can never verify.
    for (const [index, size] of [
      [0, 0],
      [1, 0],
      [2, 1],
    ] as const) {
      assert.equal(verifyInclusion(index, size, sha256SomeHash, [], emptyRoot), false);
    }
    assert.throws(() => rootFromInclusionProof(5, 5, sha256SomeHash, []));
  });

  it("rejects the corrupted consistency probes of verify_test.go, and its edge cases", () => {
    for (const v of consistencyVectors.filter((x) => x.proof.length > 0)) {
      const { size1, size2 } = v;
      const proof = v.proof.map(h);
      const root1 = roots[size1 - 1] as Buffer;
      const root2 = roots[size2 - 1] as Buffer;
      const probes: [number, number, Buffer, Buffer, Buffer[], string][] = [
        [size1 - 1, size2, root1, root2, proof, "size1 - 1"],
        [size1 + 1, size2, root1, root2, proof, "size1 + 1"],
        [size1 ^ 2, size2, root1, root2, proof, "size1 ^ 2"],
        [size1, size2 * 2, root1, root2, proof, "size2 * 2"],
        [size1, Math.floor(size2 / 2), root1, root2, proof, "size2 / 2"],
        [size1, size2, Buffer.from("WrongRoot"), root2, proof, "wrong root1"],
        [size1, size2, root1, Buffer.from("WrongRoot"), proof, "wrong root2"],
        [size1, size2, root2, root1, proof, "swapped roots"],
        [size1, size2, root1, root2, [], "empty proof"],
        [size1, size2, root1, root2, [...proof, Buffer.alloc(0)], "trailing garbage"],
        [size1, size2, root1, root2, [...proof, root1], "trailing root1"],
        [size1, size2, root1, root2, [...proof, root2], "trailing root2"],
        [size1, size2, root1, root2, [Buffer.alloc(0), ...proof], "preceding garbage"],
        [size1, size2, root1, root2, [root1, ...proof], "preceding root1"],
        [size1, size2, root1, root2, [root2, ...proof], "preceding root2"],
        [size1, size2, root1, root2, [proof[0] as Buffer, ...proof], "preceding proof[0]"],
        [size1, size2, root1, root2, proof.slice(0, -1), "truncated proof"],
      ];
      proof.forEach((_, k) => {
        const wrong = proof.map((p) => Buffer.from(p));
        const flipped = wrong[k] as Buffer;
        flipped[0] = (flipped[0] as number) ^ 16;
        probes.push([size1, size2, root1, root2, wrong, `modified proof[${k}] bit 4`]);
      });
      for (const [s1, s2, r1, r2, p, desc] of probes) {
        assert.equal(verifyConsistency(s1, s2, p, r1, r2), false, `${size1} → ${size2}: ${desc} must not verify`);
      }
    }
    const r1 = Buffer.from("don't care 1");
    const r2 = Buffer.from("don't care 2");
    const cases: [number, number, Buffer, Buffer, Buffer[], boolean][] = [
      [0, 0, r1, r2, [], false],
      [1, 1, r1, r2, [], false],
      [0, 0, r1, r1, [], true],
      [0, 1, r1, r2, [], true],
      [1, 1, r2, r2, [], true],
      [1, 0, r1, r2, [], false],
      [2, 1, r1, r2, [], false],
      [1, 2, r1, r2, [], false],
      [0, 0, emptyRoot, r2, [], false],
      [1, 1, emptyRoot, r2, [], false],
      [0, 0, emptyRoot, emptyRoot, [emptyRoot], false],
      [0, 1, emptyRoot, emptyRoot, [emptyRoot], false],
      [1, 1, emptyRoot, emptyRoot, [emptyRoot], false],
    ];
    for (const [s1, s2, a, b, p, want] of cases) assert.equal(verifyConsistency(s1, s2, p, a, b), want, `${s1} → ${s2}`);
  });

  it("every proof of every pair of sizes up to 70 leaves verifies against the obvious MTH", async () => {
    const many = Array.from({ length: 70 }, (_, i) => leafHashOfBytes(Buffer.from(`event ${i}`)));
    const readMany = storedNodes(many);
    const rootsMany = Array.from({ length: 71 }, (_, n) => mth(many.slice(0, n)));
    for (let n = 1; n <= 70; n++) {
      assert.equal((await treeRoot(n, readMany)).toString("hex"), (rootsMany[n] as Buffer).toString("hex"));
      for (let m = 0; m < n; m++) {
        const p = await inclusionProof(m, n, readMany);
        assert.ok(verifyInclusion(m, n, many[m] as Buffer, p, rootsMany[n] as Buffer), `inclusion ${m} in ${n}`);
      }
      for (let m = 0; m <= n; m++) {
        const p = await consistencyProof(m, n, readMany);
        assert.ok(verifyConsistency(m, n, p, rootsMany[m] as Buffer, rootsMany[n] as Buffer), `consistency ${m} → ${n}`);
      }
    }
    // A batch (an export's checkpoint chain) gives the same proofs as one at a time.
    const pairs: [number, number][] = [
      [3, 9],
      [9, 16],
      [16, 41],
      [41, 70],
    ];
    const batch = await consistencyProofs(pairs, readMany);
    for (const [i, [m, n]] of pairs.entries()) assert.deepEqual(hex(batch[i] as Buffer[]), hex(await consistencyProof(m, n, readMany)));
  });

  it("a frontier plus the compact range to a later size gives that size's root (an export slice's tail)", async () => {
    const many = Array.from({ length: 40 }, (_, i) => leafHashOfBytes(Buffer.from(`tail ${i}`)));
    const read = storedNodes(many);
    for (let a = 0; a <= 40; a++) {
      const frontierRefs = rangeNodes(0, a);
      const frontier = [...(await read(frontierRefs)).values()];
      for (let b = a + 1; b <= 40; b++) {
        const refs = compactRangeNodes(a, b);
        const nodes = await read(refs);
        const appended = refs.map((r) => ({ level: r.level, hash: nodes.get(nodeKey(r)) as Buffer }));
        assert.equal(rootAfterAppending(a, frontier, appended).toString("hex"), mth(many.slice(0, b)).toString("hex"), `${a} → ${b}`);
      }
    }
  });

  it("decomposes ranges into aligned perfect subtrees", () => {
    assert.deepEqual(rangeNodes(0, 7), [
      { level: 2, idx: 0 },
      { level: 1, idx: 2 },
      { level: 0, idx: 6 },
    ]);
    assert.deepEqual(rangeNodes(8, 13), [
      { level: 2, idx: 2 },
      { level: 0, idx: 12 },
    ]);
    // Indexes past 2^32 stay exact (no 32-bit bit operations).
    assert.deepEqual(rangeNodes(2 ** 40, 2 ** 40 + 3), [
      { level: 1, idx: 2 ** 39 },
      { level: 0, idx: 2 ** 40 + 2 },
    ]);
  });
});

describe("C2SP signed notes (golang/mod sumdb/note vectors)", () => {
  const skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
  const vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
  const text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
  const signed = `${text}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

  it("signs the published note byte for byte, and opens it", () => {
    const signer = parseSignerKey(skey);
    assert.equal(verifierKeyString(signer), vkey);
    assert.equal(signNote(text, signer), signed);
    assert.equal(openNote(signed, parseVerifierKey(vkey)), text);
    assert.equal(keyIdOf("PeterNeumann", signer.publicKey).toString("hex"), "c74f20a3");
  });

  it("refuses a changed text, a foreign key, mangled verifier keys", () => {
    const verifier = parseVerifierKey(vkey);
    assert.throws(() => openNote(signed.replace("cryptography", "cryptographY"), verifier), NoteError);
    const other = parseVerifierKey("EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop");
    assert.throws(() => openNote(signed, other), /not signed by the trusted key EnochRoot/);
    assert.throws(() => parseVerifierKey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"), NoteError);
    assert.throws(() => parseVerifierKey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T"), NoteError);
    assert.throws(() => openNote(text, verifier), NoteError);
  });

  it("a checkpoint is origin, size, base64 root; a forged size or root breaks the signature", () => {
    const signer = parseSignerKey(skey);
    const body = checkpointText("PeterNeumann", 8, roots[7] as Buffer);
    assert.equal(body, `PeterNeumann\n8\n${(roots[7] as Buffer).toString("base64")}\n`);
    const note = signNote(body, signer);
    const cp = parseCheckpoint(openNote(note, signer));
    assert.equal(cp.size, 8);
    assert.equal(cp.origin, "PeterNeumann");
    assert.ok(cp.root.equals(roots[7] as Buffer));
    assert.throws(() => openNote(note.replace("\n8\n", "\n9\n"), signer), /does not verify/);
    assert.throws(() => parseCheckpoint("origin\n08\nAAAA\n"), NoteError);
  });
});
