import { chmod, mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { CliError } from "./errors.js";

/**
 * What `cairn login` remembers: an API key (`token`), or a user's session (`session`). Both are
 * credentials: the file is 0600 in a 0700 directory.
 */
export type StoredLogin = { url: string; token: string; session?: undefined } | { url: string; session: StoredSession; token?: undefined };

/** A session from `cairn login --email`: the access token (15 min) and the single-use refresh token. */
export interface StoredSession {
  email: string;
  userId: string;
  tenantId: string;
  accessToken: string;
  refreshToken: string;
  /** When the access token stops working (RFC 3339); the CLI renews it a little before. */
  expiresAt: string;
}

const isSession = (v: unknown): v is StoredSession => {
  if (!v || typeof v !== "object") return false;
  const s = v as Record<string, unknown>;
  return ["email", "userId", "tenantId", "accessToken", "refreshToken", "expiresAt"].every((k) => typeof s[k] === "string");
};

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "cairn");
}

export const configFile = (env: NodeJS.ProcessEnv = process.env) => join(configDir(env), "config.json");

export async function readLogin(env: NodeJS.ProcessEnv = process.env): Promise<StoredLogin | undefined> {
  const file = configFile(env);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    const parsed = JSON.parse(text) as { url?: unknown; token?: unknown; session?: unknown };
    if (typeof parsed.url === "string" && typeof parsed.token === "string") return { url: parsed.url, token: parsed.token };
    if (typeof parsed.url === "string" && isSession(parsed.session)) return { url: parsed.url, session: parsed.session };
  } catch {
    // fall through to the error below
  }
  throw new CliError(`${file} is not a valid Cairn login file: run \`cairn login\` again`);
}

export async function saveLogin(login: StoredLogin, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = configDir(env);
  const file = configFile(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir leaves an existing directory's mode alone; this directory is ours, so tighten it.
  await chmod(dir, 0o700);
  // Write a private temp file, then rename: the token is never readable by others, not even briefly.
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600, flag: "w" });
  await chmod(temp, 0o600);
  await rename(temp, file);
  return file;
}

/** Returns whether there was a login to forget. */
export async function forgetLogin(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = configFile(env);
  try {
    await rm(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

const LOCK_STALE_MS = 15_000;
const LOCK_WAIT_MS = 10_000;

/**
 * Run `fn` while holding `<config>.lock`, so two CLI processes never renew one session at once: a
 * refresh token is single-use, and the server ends the whole session when a spent one comes back.
 * A lock older than 15 s is a crashed process's and is taken over.
 */
export async function withLoginLock<T>(fn: () => Promise<T>, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  const dir = configDir(env);
  const lock = `${configFile(env)}.lock`;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await (await open(lock, "wx", 0o600)).close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > LOCK_STALE_MS) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new CliError(`another cairn process holds ${lock}; if none is running, delete that file`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}
