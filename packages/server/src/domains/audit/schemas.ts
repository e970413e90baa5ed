import { type Static, Type } from "typebox";

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Base64Hash = Type.String({ description: "base64 of a 32-byte SHA-256 hash", pattern: "^[A-Za-z0-9+/]{43}=$" });
const Index = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Size = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Time = Type.String({ format: "date-time", description: "RFC 3339" });

/** An audit event: exactly the document that is hashed into the log (RFC 8785 JSON) and exported. */
export const AuditEvent = Type.Object({
  index: Type.Integer({ description: "leaf index in the tenant's Merkle log (gapless, from 0)" }),
  id: Type.String(),
  timestamp: Type.String({ description: "RFC 3339, UTC, microseconds" }),
  tenant: Nullable(Type.String()),
  eventType: Type.String({ description: "e.g. config.update, secret.reveal, auth.failed, authz.denied" }),
  action: Type.String(),
  result: Type.Union([Type.Literal("success"), Type.Literal("failure"), Type.Literal("denied")]),
  actor: Type.Object({ id: Nullable(Type.String()), type: Nullable(Type.String()) }),
  resource: Type.Object({ type: Nullable(Type.String()), id: Nullable(Type.String()), namespace: Nullable(Type.String()) }),
  requestContext: Type.Object({
    requestId: Nullable(Type.String()),
    sourceIp: Nullable(Type.String()),
    userAgent: Nullable(Type.String()),
  }),
  metadata: Type.Record(Type.String(), Type.Unknown(), {
    description: "names, versions, reasons; values only as valueHmac (HMAC-SHA256, see POST /audit/hash)",
  }),
});
export type AuditEvent = Static<typeof AuditEvent>;

export const ListAuditQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: "date-time", description: "events at or after this time (RFC 3339)" })),
    to: Type.Optional(Type.String({ format: "date-time", description: "events before this time (RFC 3339)" })),
    actor: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "actor id: key_…, usr_…, system" })),
    eventType: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        pattern: "^[A-Za-z0-9_.-]+\\*?$",
        description: "exact, or a prefix ending in * (config.*)",
      }),
    ),
    namespace: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1100, description: "exact namespace, or ns/** for it and everything below" }),
    ),
    result: Type.Optional(Type.Union([Type.Literal("success"), Type.Literal("failure"), Type.Literal("denied")])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    order: Type.Optional(
      Type.Union([Type.Literal("desc"), Type.Literal("asc")], {
        default: "desc",
        description: "by leaf index: newest first (desc) or oldest first",
      }),
    ),
    cursor: Type.Optional(
      Type.String({ pattern: "^[0-9]{1,16}$", description: "nextCursor of the previous page (same filters and order)" }),
    ),
  },
  { additionalProperties: false },
);
export type ListAuditQuery = Static<typeof ListAuditQuery>;

export const AuditEventList = Type.Object({
  items: Type.Array(AuditEvent),
  nextCursor: Type.Optional(Type.String({ description: "pass as ?cursor= for the next page; absent on the last page" })),
});
export type AuditEventList = Static<typeof AuditEventList>;

export const AuditCheckpoint = Type.Object({
  treeSize: Size,
  rootHash: Base64Hash,
  note: Type.String({ description: "the C2SP signed note: origin, tree size, root hash, blank line, — <key name> <signature>" }),
  createdAt: Time,
});
export type AuditCheckpoint = Static<typeof AuditCheckpoint>;

export const ListCheckpointsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ pattern: "^[0-9]{1,16}$", description: "nextCursor of the previous page" })),
  },
  { additionalProperties: false },
);
export type ListCheckpointsQuery = Static<typeof ListCheckpointsQuery>;

export const AuditCheckpointList = Type.Object({
  origin: Type.String(),
  items: Type.Array(AuditCheckpoint, { description: "newest first" }),
  nextCursor: Type.Optional(Type.String()),
});
export type AuditCheckpointList = Static<typeof AuditCheckpointList>;

export const AuditPublicKey = Type.Object({
  origin: Type.String({ description: "the log's origin line, also the key name of its signatures" }),
  algorithm: Type.Literal("Ed25519"),
  keyName: Type.String(),
  keyId: Type.String({ description: "4-byte key ID, hex: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4]" }),
  publicKey: Type.String({ description: "base64 of the 32-byte Ed25519 public key" }),
  verifierKey: Type.String({ description: "<name>+<key ID>+<base64(0x01 ‖ key)>, as Go's sumdb/note and C2SP tools read it" }),
});
export type AuditPublicKey = Static<typeof AuditPublicKey>;

export const InclusionQuery = Type.Object(
  {
    index: Index,
    treeSize: Type.Optional(
      Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "default: the latest checkpoint's size" }),
    ),
  },
  { additionalProperties: false },
);
export type InclusionQuery = Static<typeof InclusionQuery>;

export const InclusionProof = Type.Object({
  index: Index,
  treeSize: Size,
  leafHash: Base64Hash,
  rootHash: Base64Hash,
  proof: Type.Array(Base64Hash, { description: "RFC 6962 2.1.1 audit path, leaf side first" }),
  checkpoint: Type.Optional(Type.String({ description: "the signed checkpoint of this tree size, when there is one" })),
});
export type InclusionProof = Static<typeof InclusionProof>;

export const ConsistencyQuery = Type.Object(
  {
    first: Size,
    second: Type.Optional(
      Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "default: the latest checkpoint's size" }),
    ),
  },
  { additionalProperties: false },
);
export type ConsistencyQuery = Static<typeof ConsistencyQuery>;

export const ConsistencyProof = Type.Object({
  first: Size,
  second: Size,
  firstRootHash: Base64Hash,
  secondRootHash: Base64Hash,
  proof: Type.Array(Base64Hash, { description: "RFC 6962 2.1.2 consistency proof" }),
  firstCheckpoint: Type.Optional(Type.String()),
  secondCheckpoint: Type.Optional(Type.String()),
});
export type ConsistencyProof = Static<typeof ConsistencyProof>;

export const ExportQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: "date-time", description: "start at the first event at or after this time" })),
    to: Type.Optional(Type.String({ format: "date-time", description: "end after the last event before this time" })),
    fromIndex: Type.Optional(Index),
    toIndex: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "exclusive end index" })),
  },
  { additionalProperties: false },
);
export type ExportQuery = Static<typeof ExportQuery>;

export const HashBody = Type.Object(
  { value: Type.Unknown({ description: "any JSON value, as it would be written to a config key" }) },
  { additionalProperties: false },
);
export type HashBody = Static<typeof HashBody>;

export const HashResult = Type.Object({
  hash: Type.String({ description: "hmac-sha256:<hex>, the valueHmac an audit event about this value carries" }),
});
export type HashResult = Static<typeof HashResult>;

/** `POST /audit/verify`: what the offline verifier (`cairn audit verify --file`) says about a fresh export of the log. */
export const AuditVerification = Type.Object({
  verified: Type.Boolean({ description: "every event, checkpoint signature and consistency proof checked out" }),
  summary: Type.String({ description: "the line `cairn audit verify` prints: verified N events, root … / FAILED at index i: why" }),
  start: Type.Integer({ minimum: 0, description: "first index checked (where retention's archives end; 0 without archives)" }),
  events: Type.Integer({ minimum: 0, description: "events read and verified" }),
  treeSize: Type.Integer({ minimum: 0, description: "tree size reached" }),
  signedSize: Type.Integer({ minimum: 0, description: "size of the last checkpoint matched against the rebuilt tree" }),
  checkpoints: Type.Integer({ minimum: 0, description: "checkpoints whose signature verified" }),
  root: Type.Optional(Base64Hash),
  firstBadIndex: Type.Optional(Type.Integer({ minimum: 0, description: "the first leaf index that is wrong, when one can be named" })),
  checkpoint: Type.Optional(Type.Integer({ minimum: 0, description: "tree size of the checkpoint that failed" })),
  reason: Type.Optional(Type.String({ description: "why verification failed" })),
  verifierKey: Type.String({ description: "the log's published key it was verified against (GET /audit/public-key)" }),
});
export type AuditVerification = Static<typeof AuditVerification>;
