import { type Static, Type } from "typebox";

const Index = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const RetentionRunBody = Type.Object(
  {
    retentionDays: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 36_500,
        description: "archive month partitions that ended more than this many days ago (default: CAIRN_AUDIT_RETENTION_DAYS)",
      }),
    ),
  },
  { additionalProperties: false },
);
export type RetentionRunBody = Static<typeof RetentionRunBody>;

export const ArchiveWritten = Type.Object({
  logId: Type.String({ description: "tenant id, or '' for instance-level events" }),
  origin: Type.String({ description: "the log's checkpoint origin (and key name)" }),
  fromIndex: Index,
  toIndex: Type.Integer({ minimum: 1, description: "exclusive" }),
  events: Type.Integer({ minimum: 1 }),
  file: Type.String({ description: "gzip NDJSON in the export format, on the server's disk" }),
  sha256: Type.String({ description: "hex SHA-256 of the file" }),
  bytes: Type.Integer({ minimum: 0 }),
});

export const PartitionOutcome = Type.Object({
  partition: Type.String({ description: "audit_events_yYYYYmMM" }),
  month: Type.String({ description: "YYYY-MM (UTC)" }),
  status: Type.Union([Type.Literal("archived"), Type.Literal("waiting"), Type.Literal("failed")], {
    description: "archived: written, read back, verified, then detached and dropped; waiting/failed: kept (see reason)",
  }),
  reason: Type.Optional(Type.String()),
  events: Type.Integer({ minimum: 0, description: "rows the partition held" }),
  archives: Type.Array(ArchiveWritten),
});

export const RetentionRun = Type.Object({
  retentionDays: Type.Union([Type.Integer(), Type.Null()], { description: "null: keep forever (only partitions were created ahead)" }),
  cutoff: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  archiveDir: Type.String(),
  created: Type.Array(Type.String(), { description: "partitions created by this run" }),
  partitions: Type.Array(PartitionOutcome),
});
export type RetentionRun = Static<typeof RetentionRun>;
