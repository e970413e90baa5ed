import { sql } from "kysely";
import { DecryptionError } from "../../crypto/envelope.js";
import type { KekRing } from "../../crypto/kek.js";
import { kekWrappedColumns } from "../../crypto/kek-columns.js";
import type { Keyring } from "../../crypto/keyring.js";
import type { Conn } from "../../db/database.js";
import type { KeyRotationsTable } from "../../db/types.js";
import { CairnError } from "../../errors.js";
import type { Log } from "../../events/redis.js";
import { valueAad } from "../configs/values.js";
import type { KeyRotationRepository } from "./repository.js";

type Job = Pick<KeyRotationsTable, "id" | "kind" | "tenant_id" | "namespace_id" | "new_data_key_id"> & {
  cursor: Record<string, unknown>;
  skipped: string | number;
};

/** Sweeps after the first: rows written under the old key by a replica that had not heard of the rotation yet. */
const MAX_PASSES = 5;

interface MasterCursor {
  t: number;
  after: string | null;
  all?: boolean;
  pass: number;
  passSkipped: number;
}

interface DataCursor {
  phase: "configs" | "versions";
  after: string | [string, number] | null;
  pass: number;
  passSkipped: number;
}

/**
 * One batch of a rotation job at a time, in the transaction that holds the job's row lock: a crash (or a
 * restart) loses at most the batch in progress, and the next claim resumes from the stored cursor. Every
 * row is updated compare-and-set (only if it still holds the blob that was read), so concurrent writers win.
 */
export function createRotationSteps(deps: { kek: KekRing; keyring: Keyring; repo: KeyRotationRepository; batchSize: number; log?: Log }) {
  const header = () => deps.kek.header;
  const notCurrent = (column: string) => sql`substring(${sql.ref(column)} from 1 for ${header().length}) <> ${header()}`;

  /** Blobs not under the current KEK, over every KEK-wrapped column. */
  async function countMaster(conn: Conn): Promise<number> {
    let n = 0;
    for (const c of kekWrappedColumns) {
      const r = await sql<{ n: string }>`select count(*) as n from ${sql.table(c.table)} where ${notCurrent(c.column)}`.execute(conn);
      n += Number(r.rows[0]?.n ?? 0);
    }
    return n;
  }

  async function countAll(conn: Conn): Promise<number> {
    let n = 0;
    for (const c of kekWrappedColumns) {
      const r = await sql<{ n: string }>`select count(*) as n from ${sql.table(c.table)} where ${sql.ref(c.column)} is not null`.execute(
        conn,
      );
      n += Number(r.rows[0]?.n ?? 0);
    }
    return n;
  }

  /** Values of a namespace not sealed under `newKeyId` (heads and versions). */
  async function countData(conn: Conn, namespaceId: string, newKeyId: string): Promise<number> {
    const r = await sql<{ n: string }>`
      select (select count(*) from configs where namespace_id = ${namespaceId} and value_sealed is not null and data_key_id <> ${newKeyId})
           + (select count(*) from config_versions where namespace_id = ${namespaceId} and value_sealed is not null and data_key_id <> ${newKeyId}) as n`.execute(
      conn,
    );
    return Number(r.rows[0]?.n ?? 0);
  }

  async function masterStep(trx: Conn, job: Job): Promise<"more" | "done"> {
    const cur = job.cursor as unknown as MasterCursor;
    const col = kekWrappedColumns[cur.t];
    if (!col) {
      const remaining = await countMaster(trx);
      if (remaining > cur.passSkipped && cur.pass + 1 < MAX_PASSES) {
        await deps.repo.progress(trx, job.id, {
          addTotal: remaining,
          total: undefined,
          cursor: { t: 0, after: null, pass: cur.pass + 1, passSkipped: 0 },
        });
        await sql`update key_rotations set skipped = 0 where id = ${job.id}`.execute(trx);
        return "more";
      }
      return "done";
    }
    const rows = (
      await sql<Record<string, unknown>>`
        select * from ${sql.table(col.table)}
        where ${cur.after === null ? sql`true` : sql`${sql.ref(col.key)} > ${cur.after}`} and ${cur.all ? sql`true` : notCurrent(col.column)}
          and ${sql.ref(col.column)} is not null
        order by ${sql.ref(col.key)} limit ${deps.batchSize}`.execute(trx)
    ).rows;
    let done = 0;
    let skipped = 0;
    for (const row of rows) {
      const old = Buffer.from(row[col.column] as Uint8Array);
      const context = col.context(row);
      let plain: Buffer;
      try {
        plain = await deps.kek.unwrap(old, context);
      } catch (e) {
        if (!(e instanceof DecryptionError)) throw e;
        deps.log?.warn({ table: col.table, key: String(row[col.key]) }, "a wrapped key failed its integrity check; left as it is");
        skipped++;
        continue;
      }
      const wrapped = await deps.kek.wrap(plain, context);
      plain.fill(0);
      await sql`
        update ${sql.table(col.table)} set ${sql.ref(col.column)} = ${wrapped}
          ${col.providerColumn ? sql`, ${sql.ref(col.providerColumn)} = ${deps.kek.id}` : sql``}
        where ${sql.ref(col.key)} = ${row[col.key]} and ${sql.ref(col.column)} = ${old}`.execute(trx);
      done++;
    }
    const last = rows.at(-1);
    const next: MasterCursor =
      rows.length < deps.batchSize
        ? { ...cur, t: cur.t + 1, after: null, passSkipped: cur.passSkipped + skipped }
        : { ...cur, after: String(last?.[col.key]), passSkipped: cur.passSkipped + skipped };
    await deps.repo.progress(trx, job.id, { status: "running", addDone: done + skipped, addSkipped: skipped, cursor: { ...next } });
    return "more";
  }

  /** Re-encrypts one value under the new key; false when it failed its integrity check (left as it is). */
  async function reseal(
    trx: Conn,
    newKeyId: string,
    row: { tenant_id: string; namespace_id: string; key: string; environment: string; data_key_id: string; value_sealed: Buffer },
    version: number,
  ): Promise<Buffer | undefined> {
    const aad = valueAad(row.tenant_id, row.namespace_id, row.key, row.environment, version);
    let plain: Buffer;
    try {
      plain = await deps.keyring.open(trx, row.data_key_id, row.value_sealed, aad);
    } catch (e) {
      if (e instanceof CairnError && e.code === "integrity_failure") return undefined;
      throw e;
    }
    const sealed = await deps.keyring.seal(trx, newKeyId, plain, aad);
    plain.fill(0);
    return sealed;
  }

  async function dataStep(trx: Conn, job: Job): Promise<"more" | "done"> {
    const cur = job.cursor as unknown as DataCursor;
    const ns = job.namespace_id as string;
    const newKey = job.new_data_key_id as string;
    let done = 0;
    let skipped = 0;
    let next: DataCursor;
    if (cur.phase === "configs") {
      let q = trx
        .selectFrom("configs")
        .select(["id", "tenant_id", "namespace_id", "key", "environment", "version", "data_key_id", "value_sealed"])
        .where("namespace_id", "=", ns)
        .where("value_sealed", "is not", null)
        .where("data_key_id", "<>", newKey)
        .orderBy("id")
        .limit(deps.batchSize);
      if (cur.after !== null) q = q.where("id", ">", cur.after as string);
      const rows = await q.execute();
      for (const r of rows) {
        const old = Buffer.from(r.value_sealed as Uint8Array);
        const sealed = await reseal(trx, newKey, { ...r, data_key_id: r.data_key_id as string, value_sealed: old }, r.version);
        if (!sealed) {
          skipped++;
          continue;
        }
        await trx
          .updateTable("configs")
          .set({ data_key_id: newKey, value_sealed: sealed })
          .where("id", "=", r.id)
          .where("version", "=", r.version)
          .where("data_key_id", "=", r.data_key_id)
          .where("value_sealed", "=", old)
          .execute();
        done++;
      }
      next =
        rows.length < deps.batchSize
          ? { ...cur, phase: "versions", after: null, passSkipped: cur.passSkipped + skipped }
          : { ...cur, after: rows.at(-1)?.id ?? null, passSkipped: cur.passSkipped + skipped };
    } else {
      let q = trx
        .selectFrom("config_versions")
        .select(["config_id", "tenant_id", "namespace_id", "key", "environment", "version", "data_key_id", "value_sealed"])
        .where("namespace_id", "=", ns)
        .where("value_sealed", "is not", null)
        .where("data_key_id", "<>", newKey)
        .orderBy("config_id")
        .orderBy("version")
        .limit(deps.batchSize);
      if (cur.after !== null) {
        const [id, v] = cur.after as [string, number];
        q = q.where(sql<boolean>`(config_id, version) > (${id}, ${v})`);
      }
      const rows = await q.execute();
      for (const r of rows) {
        const old = Buffer.from(r.value_sealed as Uint8Array);
        const sealed = await reseal(trx, newKey, { ...r, data_key_id: r.data_key_id as string, value_sealed: old }, r.version);
        if (!sealed) {
          skipped++;
          continue;
        }
        await trx
          .updateTable("config_versions")
          .set({ data_key_id: newKey, value_sealed: sealed })
          .where("config_id", "=", r.config_id)
          .where("version", "=", r.version)
          .where("data_key_id", "=", r.data_key_id)
          .where("value_sealed", "=", old)
          .execute();
        done++;
      }
      const last = rows.at(-1);
      if (rows.length === deps.batchSize && last) {
        next = { ...cur, after: [last.config_id, last.version], passSkipped: cur.passSkipped + skipped };
      } else {
        const passSkipped = cur.passSkipped + skipped;
        const remaining = await countData(trx, ns, newKey);
        if (remaining <= passSkipped || cur.pass + 1 >= MAX_PASSES) {
          await deps.repo.progress(trx, job.id, { addDone: done + skipped, addSkipped: skipped });
          await retireUnused(trx, ns, newKey);
          return "done";
        }
        await sql`update key_rotations set skipped = 0, total = total + ${remaining} where id = ${job.id}`.execute(trx);
        next = { phase: "configs", after: null, pass: cur.pass + 1, passSkipped: 0 };
        skipped = 0;
      }
    }
    await deps.repo.progress(trx, job.id, { status: "running", addDone: done + skipped, addSkipped: skipped, cursor: { ...next } });
    return "more";
  }

  /** Old keys of the namespace that no row uses any more are marked retired (kept, never used to seal again). */
  async function retireUnused(trx: Conn, namespaceId: string, activeKeyId: string) {
    await sql`
      update data_keys d set retired_at = now()
      where d.namespace_id = ${namespaceId} and d.id <> ${activeKeyId} and d.retired_at is null
        and not exists (select 1 from configs c where c.data_key_id = d.id)
        and not exists (select 1 from config_versions v where v.data_key_id = d.id)`.execute(trx);
  }

  return {
    countMaster,
    countAll,
    countData,
    step: (trx: Conn, job: Job) => (job.kind === "master" ? masterStep(trx, job) : dataStep(trx, job)),
  };
}

export type RotationSteps = ReturnType<typeof createRotationSteps>;
