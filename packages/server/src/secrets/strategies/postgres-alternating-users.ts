import { createHash, createHmac, pbkdf2Sync, randomBytes, randomInt } from "node:crypto";
import pg from "pg";
import { type RotationStrategy, StrategyError, type StrategyInput } from "./types.js";

/**
 * `postgres-alternating-users`, as AWS Secrets Manager's alternating-users rotation: the secret names one
 * of two logins with the same rights, `app` and `app_clone`. A rotation sets a new password on the one
 * the secret does NOT name (the standby; created on the first rotation as a member of `app`), checks that
 * it can log in with a fresh connection, and only then is the secret switched to it. The login the secret
 * named before is not touched, so clients still holding it keep working through the grace period; it
 * becomes the standby, and the next rotation changes its password.
 *
 * Who runs ALTER ROLE: the credentials of the policy's `adminSecret` (another database_credentials secret,
 * e.g. a role with CREATEROLE; the AWS "master secret"), connecting to the admin secret's own host and
 * port; without one, the secret's own login, which then needs CREATEROLE (copied to the clone). The new
 * password is sent as a SCRAM-SHA-256 verifier computed here, so the plaintext never reaches the server
 * (nor its statement log). Superuser roles are refused.
 */

export interface DatabaseCredentials {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  [extra: string]: unknown;
}

export const CLONE_SUFFIX = "_clone";
const MAX_IDENTIFIER_BYTES = 63;

/** `app` → standby `app_clone`; `app_clone` → standby `app`. `base` is the original login either way. */
export function alternateUser(username: string): { base: string; standby: string } {
  if (username.endsWith(CLONE_SUFFIX) && username.length > CLONE_SUFFIX.length) {
    const base = username.slice(0, -CLONE_SUFFIX.length);
    return { base, standby: base };
  }
  const standby = `${username}${CLONE_SUFFIX}`;
  if (Buffer.byteLength(standby) > MAX_IDENTIFIER_BYTES) {
    throw new StrategyError(
      `the login "${username}" is too long to alternate with "${standby}" (PostgreSQL names are at most ${MAX_IDENTIFIER_BYTES} bytes)`,
    );
  }
  return { base: username, standby };
}

const PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/** 32 characters from a 57-letter alphabet (~186 bits), safe in any connection string. */
export function generatePassword(length = 32): string {
  let out = "";
  for (let i = 0; i < length; i++) out += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  return out;
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, the format of
 * `pg_authid.rolpassword`). ALTER ROLE … PASSWORD '<verifier>' stores it as is. ASCII passwords only
 * (SASLprep is the identity on them), which is what `generatePassword` makes.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** Checks a decrypted value has the database_credentials fields this strategy needs. */
export function credentialsOf(value: unknown, what: string): DatabaseCredentials {
  const v = (typeof value === "string" ? safeJson(value) : value) as Record<string, unknown> | undefined;
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new StrategyError(`${what} is not database_credentials (an object)`);
  for (const field of ["host", "database", "username", "password"] as const) {
    if (typeof v[field] !== "string" || v[field] === "") throw new StrategyError(`${what} has no ${field}`);
  }
  const port = v.port === undefined ? 5432 : Number(v.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new StrategyError(`${what} has a bad port`);
  return { ...(v as DatabaseCredentials), port };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** libpq's `sslmode` (an optional field of the secret) → node-postgres' `ssl`. */
function sslOf(c: DatabaseCredentials): pg.ClientConfig["ssl"] {
  switch (c.sslmode) {
    case "require":
      return { rejectUnauthorized: false };
    case "verify-ca":
    case "verify-full":
      return true;
    default:
      return c.ssl === true ? true : undefined;
  }
}

export interface PostgresStrategyOptions {
  /** Per connection attempt and per statement, ms (default 10 s). */
  timeoutMs?: number;
}

export function createPostgresAlternatingUsers(options: PostgresStrategyOptions = {}): RotationStrategy {
  const timeoutMs = options.timeoutMs ?? 10_000;

  async function connect(c: DatabaseCredentials, as: { user: string; password: string; database: string }, step: string) {
    const client = new pg.Client({
      host: c.host,
      port: c.port,
      database: as.database,
      user: as.user,
      password: as.password,
      ssl: sslOf(c),
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      statement_timeout: timeoutMs,
      application_name: "cairn-rotation",
    });
    client.on("error", () => {});
    try {
      await client.connect();
    } catch (e) {
      await client.end().catch(() => {});
      throw new StrategyError(`${step}: cannot log in to ${c.host}:${c.port}/${as.database} as "${as.user}": ${messageOf(e)}`);
    }
    return client;
  }

  return {
    name: "postgres-alternating-users",
    types: ["database_credentials"],
    async prepare(input: StrategyInput) {
      const current = credentialsOf(input.current, "the secret");
      const admin = input.admin === undefined ? current : credentialsOf(input.admin, "the admin secret");
      const { base, standby } = alternateUser(current.username);
      if (input.admin !== undefined && (admin.username === standby || admin.username === base)) {
        throw new StrategyError(`the admin secret logs in as "${admin.username}", one of the two users it would rotate; use another role`);
      }
      const password = generatePassword();
      const verifier = scramVerifier(password);
      const scrub = (text: string) => text.split(password).join("••••").split(verifier).join("••••");

      // ALTER ROLE on the server the admin credentials point at (never send them elsewhere).
      const server = { ...current, host: admin.host, port: admin.port, sslmode: admin.sslmode, ssl: admin.ssl } as DatabaseCredentials;
      const client = await connect(admin, { user: admin.username, password: admin.password, database: admin.database }, "admin login");
      let created = false;
      try {
        const roles = await client.query<{ rolname: string; rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean }>(
          "select rolname, rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = any($1::text[])",
          [[base, standby]],
        );
        const baseRole = roles.rows.find((r) => r.rolname === base);
        if (!baseRole) throw new StrategyError(`the role "${base}" does not exist on ${admin.host}:${admin.port}`);
        if (roles.rows.some((r) => r.rolsuper)) throw new StrategyError(`refusing to rotate superuser role "${base}" or "${standby}"`);
        const role = client.escapeIdentifier(standby);
        const secret = client.escapeLiteral(verifier);
        if (roles.rows.some((r) => r.rolname === standby)) {
          await client.query(`alter role ${role} with login password ${secret}`);
        } else {
          // The clone gets base's rights by membership, and its sessions act as base (SET role), so objects
          // either login creates belong to base and stay usable after the next flip. Attributes that are
          // not inherited (CREATEROLE, CREATEDB) are copied.
          const attributes = [baseRole.rolcreaterole ? "createrole" : "", baseRole.rolcreatedb ? "createdb" : ""].filter(Boolean).join(" ");
          await client.query(`create role ${role} with login ${attributes} password ${secret} in role ${client.escapeIdentifier(base)}`);
          await client.query(`alter role ${role} set role = ${client.escapeLiteral(base)}`);
          created = true;
        }
      } catch (e) {
        if (e instanceof StrategyError) throw e;
        throw new StrategyError(scrub(`setting the password of "${standby}" failed: ${messageOf(e)}`));
      } finally {
        await client.end().catch(() => {});
      }

      // A fresh connection with the new password, before anything points at it.
      const check = await connect(server, { user: standby, password, database: current.database }, "verifying the new password").catch(
        (e: unknown) => {
          throw new StrategyError(scrub(messageOf(e)));
        },
      );
      try {
        const who = await check.query<{ user: string }>("select session_user as user");
        if (who.rows[0]?.user !== standby)
          throw new StrategyError(`verifying the new password: logged in as "${who.rows[0]?.user}", not "${standby}"`);
      } finally {
        await check.end().catch(() => {});
      }
      return {
        value: { ...current, username: standby, password },
        note: created ? `created "${standby}" as a member of "${base}"` : `new password for "${standby}"`,
      };
    },
  };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
