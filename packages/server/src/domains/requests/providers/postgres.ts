import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { type AccessProvider, type GrantInput, type GrantResult, TransientProviderError } from "./types.js";

/**
 * Temporary PostgreSQL logins, as Vault's database secrets engine issues them. `grant` creates a login role
 * named after the request (`<principal>_<correlation id>`) with a fresh random password and `VALID UNTIL`
 * the expiry, and gives it either membership of an existing role (`role`) or privileges on a table or on
 * every table of a schema (`permissions` on `resource`). `revoke` stops new logins, ends the role's
 * sessions, drops what it owns and drops the role. Both are idempotent: a retry finds the role by name.
 *
 * The password never travels to the target in clear text: the role gets a SCRAM-SHA-256 verifier computed
 * here, so neither the target's statement log nor pg_stat_activity can show it.
 */
export const POSTGRES_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "ALL"] as const;

/** A principal is the readable start of the login name: lower-case letters, digits, `_`. */
export const POSTGRES_PRINCIPAL = /^[a-z_][a-z0-9_]{0,23}$/;
/** `table`, `schema.table` or `schema.*` (every table of the schema, present ones). */
export const POSTGRES_RESOURCE = /^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.([A-Za-z_][A-Za-z0-9_$]{0,62}|\*))?$/;

/** SQLSTATE classes and socket errors worth a retry: connection trouble, too many clients, lock conflicts. */
const TRANSIENT_SQLSTATE = /^(08|53|57P|40001|40P01|55P03)/;
const TRANSIENT_SOCKET = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

export interface PostgresGrantRef extends Record<string, unknown> {
  roleName: string;
}

export function loginNameOf(input: Pick<GrantInput, "principal" | "correlationId">): string {
  const id = input.correlationId.replace(/[^0-9a-z]/gi, "").toLowerCase();
  return `${input.principal}_${id}`.slice(0, 63);
}

/** The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, as libpq's PQencryptPasswordConn). */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** Letters and digits only (no SASLprep surprises, safe in a URL): 32 characters, ~190 bits. */
function newPassword(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  const bytes = randomBytes(64);
  let out = "";
  for (const b of bytes) {
    if (b >= 248) continue; // 248 = 56 * 4 + 24: keep the draw uniform
    out += alphabet[b % alphabet.length];
    if (out.length === 32) break;
  }
  return out.length === 32 ? out : newPassword();
}

function transient(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === "string" && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_SOCKET.has(code))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|connection error/i.test(String((e as Error)?.message));
}

function providerError(e: unknown, doing: string): Error {
  // The message of a pg error names objects, never a password (we never send one).
  const message = `postgres: ${doing} failed: ${(e as Error)?.message ?? String(e)}`;
  return transient(e) ? new TransientProviderError(message) : new Error(message);
}

const ident = (name: string) => pg.escapeIdentifier(name);

function qualified(resource: string): { schema?: string; table?: string } {
  const [a, b] = resource.split(".");
  if (b === undefined) return { table: a };
  if (b === "*") return { schema: a };
  return { schema: a, table: b };
}

export interface PostgresProviderOptions {
  /** Where roles are created: a URL of a role with CREATEROLE (and the grants it hands out). */
  url: string;
  /** Host/port/database handed to the requester (default: those of `url`). */
  publicUrl?: string;
}

export function createPostgresProvider(options: PostgresProviderOptions): AccessProvider {
  const target = new URL(options.url);
  const shown = new URL(options.publicUrl ?? options.url);
  const database = decodeURIComponent(shown.pathname.replace(/^\//, "")) || decodeURIComponent(target.username) || "postgres";

  async function withClient<T>(doing: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: 5_000, application_name: "cairn-access" });
    client.on("error", () => {});
    try {
      await client.connect();
    } catch (e) {
      throw providerError(e, "connecting to the target database");
    }
    try {
      return await fn(client);
    } catch (e) {
      throw providerError(e, doing);
    } finally {
      await client.end().catch(() => {});
    }
  }

  return {
    name: "postgres",

    async grant(input: GrantInput): Promise<GrantResult> {
      const roleName = loginNameOf(input);
      const password = newPassword();
      const verifier = scramVerifier(password);
      const until = input.expiresAt.toISOString();
      await withClient("granting", async (client) => {
        await client.query("begin");
        try {
          const exists = await client.query("select 1 from pg_roles where rolname = $1", [roleName]);
          const verb = exists.rowCount ? "alter" : "create";
          await client.query(
            `${verb} role ${ident(roleName)} with login password ${pg.escapeLiteral(verifier)} valid until ${pg.escapeLiteral(until)}`,
          );
          const db = (await client.query<{ db: string }>("select current_database() as db")).rows[0]?.db as string;
          await client.query(`grant connect on database ${ident(db)} to ${ident(roleName)}`);
          if (input.role) {
            const found = await client.query("select 1 from pg_roles where rolname = $1", [input.role]);
            if (!found.rowCount) throw new Error(`there is no role "${input.role}" on the target database`);
            await client.query(`grant ${ident(input.role)} to ${ident(roleName)}`);
          }
          if (input.permissions?.length) {
            const privileges = input.permissions.map((p) => p.toUpperCase()).join(", ");
            const { schema, table } = qualified(input.resource as string);
            if (schema) await client.query(`grant usage on schema ${ident(schema)} to ${ident(roleName)}`);
            if (table) {
              const name = schema ? `${ident(schema)}.${ident(table)}` : ident(table);
              await client.query(`grant ${privileges} on table ${name} to ${ident(roleName)}`);
            } else {
              await client.query(`grant ${privileges} on all tables in schema ${ident(schema as string)} to ${ident(roleName)}`);
            }
          }
          await client.query("commit");
        } catch (e) {
          await client.query("rollback").catch(() => {});
          throw e;
        }
      });
      const host = shown.hostname;
      const port = Number(shown.port || 5432);
      const url = new URL(`postgres://${host}`);
      url.port = String(port);
      url.username = roleName;
      url.password = password;
      url.pathname = `/${encodeURIComponent(database)}`;
      return {
        grantRef: { roleName } satisfies PostgresGrantRef,
        credentials: { username: roleName, password, host, port, database, url: url.toString() },
      };
    },

    async revoke(input: GrantInput, grantRef: Record<string, unknown>): Promise<void> {
      const roleName = typeof grantRef.roleName === "string" ? grantRef.roleName : loginNameOf(input);
      await withClient("revoking", async (client) => {
        const exists = await client.query("select 1 from pg_roles where rolname = $1", [roleName]);
        if (!exists.rowCount) return;
        // No new sessions, then end the open ones, then take away what it owns and the role itself.
        await client.query(`alter role ${ident(roleName)} nologin`);
        await client.query("select pg_terminate_backend(pid) from pg_stat_activity where usename = $1 and pid <> pg_backend_pid()", [
          roleName,
        ]);
        await client.query("begin");
        try {
          await client.query(`reassign owned by ${ident(roleName)} to current_user`);
          await client.query(`drop owned by ${ident(roleName)}`);
          await client.query(`drop role if exists ${ident(roleName)}`);
          await client.query("commit");
        } catch (e) {
          await client.query("rollback").catch(() => {});
          throw e;
        }
      });
    },
  };
}
