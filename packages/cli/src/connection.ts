import { type CairnClient, createClient, isUnauthorized, type TokenPair } from "@cairn/sdk";
import type { Command } from "commander";
import { CliError } from "./errors.js";
import { readLogin, type StoredSession, saveLogin, withLoginLock } from "./login-store.js";

export const DEFAULT_URL = "http://127.0.0.1:8080";

/** Renew a session's access token this long before it expires, so a command never starts with one about to die. */
const RENEW_BEFORE_MS = 60_000;

export interface ConnectionFlags {
  url?: string;
  token?: string;
}

/** Adds `--url` / `--token` to a command that talks to the server. */
export function withConnectionOptions(cmd: Command): Command {
  return cmd
    .option("--url <url>", `server URL (default: $CAIRN_URL, else your login, else ${DEFAULT_URL})`)
    .option("--token <token>", "API key (default: $CAIRN_TOKEN, else your login)");
}

export interface ResolvedConnection {
  url: string;
  token: string | undefined;
  /** The stored session (`cairn login --email`), when no API key was given and it is for this URL. */
  session?: StoredSession;
}

/**
 * Flags beat environment variables, which beat the stored login. The stored token is only sent to
 * the URL it was stored for, so pointing the CLI at another server never leaks it there.
 */
export async function resolveConnection(flags: ConnectionFlags, env = process.env): Promise<ResolvedConnection> {
  const stored = await readLogin(env);
  const url = normaliseUrl(flags.url || env.CAIRN_URL || stored?.url || DEFAULT_URL);
  const mine = stored && normaliseUrl(stored.url) === url ? stored : undefined;
  const given = flags.token || env.CAIRN_TOKEN;
  if (given) return { url, token: given };
  if (mine?.session) return { url, token: mine.session.accessToken, session: mine.session };
  return { url, token: mine?.token };
}

/** A client for the command's connection; fails early and clearly when there is no token. */
export async function connect(cmd: Command): Promise<CairnClient> {
  const { url, token, session } = await resolveConnection(cmd.optsWithGlobals<ConnectionFlags>());
  if (session) return sessionClient(url, session);
  if (!token) throw new CliError(`not logged in to ${url}: run \`cairn login\`, or set CAIRN_TOKEN (and CAIRN_URL)`);
  return createClient({ url, token });
}

/** The stored form of a fresh token pair. */
export function storedSession(pair: TokenPair, now = Date.now()): StoredSession {
  return {
    email: pair.user.email,
    userId: pair.user.id,
    tenantId: pair.user.tenantId,
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    expiresAt: new Date(now + pair.expiresIn * 1000).toISOString(),
  };
}

/**
 * A client signed in with the stored session. An access token that has expired (or is about to) is
 * renewed first; one the server still refuses is renewed by the SDK on the 401. Every new pair is
 * written back at once: the old refresh token is spent.
 */
async function sessionClient(url: string, stored: StoredSession): Promise<CairnClient> {
  const save = async (pair: TokenPair) => {
    await saveLogin({ url, session: storedSession(pair) });
  };
  const session = Date.parse(stored.expiresAt) - RENEW_BEFORE_MS > Date.now() ? stored : await renew(url, stored);
  return createClient({ url, token: session.accessToken, refreshToken: session.refreshToken, onTokens: save });
}

/** Exchange the refresh token under the login lock; if another process already did, use what it stored. */
async function renew(url: string, stale: StoredSession): Promise<StoredSession> {
  return withLoginLock(async () => {
    const now = await readLogin();
    if (now?.session && normaliseUrl(now.url) === url && now.session.refreshToken !== stale.refreshToken) return now.session;
    try {
      const pair = await createClient({ url }).auth.refresh(stale.refreshToken);
      const session = storedSession(pair);
      await saveLogin({ url, session });
      return session;
    } catch (e) {
      if (isUnauthorized(e)) {
        throw new CliError(`your session as ${stale.email} at ${url} has ended (${e.message}): run \`cairn login --email ${stale.email}\``);
      }
      throw e;
    }
  });
}

export function normaliseUrl(url: string): string {
  const trimmed = url.trim().replace(/\/+$/, "");
  return /^https?:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
}
