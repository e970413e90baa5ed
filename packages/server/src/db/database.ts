import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Kysely, type Migration, type MigrationProvider, Migrator, PostgresDialect, sql, type Transaction } from "kysely";
import pg from "pg";
import type { Settings } from "../settings.js";
import { SettingsError } from "../settings.js";
import * as m0001 from "./migrations/0001_init.js";
import * as m0002 from "./migrations/0002_identity.js";
import * as m0003 from "./migrations/0003_audit_log.js";
import * as m0004 from "./migrations/0004_audit_checkpoints.js";
import * as m0005 from "./migrations/0005_alerts.js";
import * as m0006 from "./migrations/0006_audit_partitions.js";
import * as m0007 from "./migrations/0007_secrets.js";
import * as m0008 from "./migrations/0008_secret_rotation.js";
import * as m0009 from "./migrations/0009_key_rotation.js";
import * as m0010 from "./migrations/0010_access_requests.js";
import * as m0011 from "./migrations/0011_approvals.js";
import type { Database } from "./types.js";

export type Db = Kysely<Database>;
/** A connection to query on: the pool, or the transaction in progress. */
export type Conn = Kysely<Database> | Transaction<Database>;

export interface Store {
  db: Db;
  kind: "postgres" | "pglite";
  /** Round-trips to the database; throws when it is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

// int8 (bigserial) as string, never as a lossy number.
pg.types.setTypeParser(20, (v) => v);

const migrations: Record<string, Migration> = {
  "0001_init": m0001,
  "0002_identity": m0002,
  "0003_audit_log": m0003,
  "0004_audit_checkpoints": m0004,
  "0005_alerts": m0005,
  "0006_audit_partitions": m0006,
  "0007_secrets": m0007,
  "0008_secret_rotation": m0008,
  "0009_key_rotation": m0009,
  "0010_access_requests": m0010,
  "0011_approvals": m0011,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function openStore(settings: Settings): Promise<Store> {
  if (settings.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: settings.databaseUrl,
      max: settings.databasePoolSize,
      connectionTimeoutMillis: 5_000,
    });
    // An idle client losing its server must not crash the process; the next query reports it.
    pool.on("error", () => {});
    // Nor a checked-out client losing it (a terminated backend between two queries of a transaction):
    // without a listener its "error" event would be an uncaught exception; the next query fails instead.
    pool.on("connect", (client) => client.on("error", () => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      kind: "postgres",
      ping: async () => {
        await sql`select 1`.execute(db);
      },
      close: () => db.destroy(),
    };
  }
  return openEmbedded(settings.dataDir);
}

async function openEmbedded(dataDir: string): Promise<Store> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { PGliteDialect } = await import("kysely-pglite-dialect");
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const releaseLock = await lockDataDir(dataDir);
  const pglite = new PGlite(path.join(dataDir, "pg"));
  await pglite.waitReady;
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: "pglite",
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: async () => {
      await db.destroy();
      await releaseLock();
    },
  };
}

/**
 * PGlite is one process's database. Two servers on one data directory would corrupt it, so the first
 * takes a lock file; a lock left by a process that died (kill -9) is taken over.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockFile = path.join(dataDir, "cairn.pid");
  try {
    await writeFile(lockFile, String(process.pid), { flag: "wx" });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    const holder = Number((await readFile(lockFile, "utf8").catch(() => "")).trim());
    if (holder && holder !== process.pid && isAlive(holder)) {
      throw new SettingsError(`the data directory ${dataDir} is in use by process ${holder}. Stop it, or pass another --data-dir.`);
    }
    await writeFile(lockFile, String(process.pid));
  }
  return async () => {
    await rm(lockFile, { force: true });
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Applies pending migrations. Kysely's Postgres adapter holds an advisory lock meanwhile, so replicas don't race. */
export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider, migrationTableName: "cairn_migrations", migrationLockTableName: "cairn_migrations_lock" });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error");
    throw new Error(`migration ${failed?.migrationName ?? "?"} failed: ${(error as Error).message ?? error}`, { cause: error });
  }
}
