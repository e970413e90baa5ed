import { type CairnClient, createClient } from "@cairn/sdk";
import type { Command } from "commander";
import { CliError } from "./errors.js";
import { readLogin } from "./login-store.js";

export const DEFAULT_URL = "http://127.0.0.1:8080";

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
}

/**
 * Flags beat environment variables, which beat the stored login. The stored token is only sent to
 * the URL it was stored for, so pointing the CLI at another server never leaks it there.
 */
export async function resolveConnection(flags: ConnectionFlags, env = process.env): Promise<ResolvedConnection> {
  const stored = await readLogin(env);
  const url = normaliseUrl(flags.url || env.CAIRN_URL || stored?.url || DEFAULT_URL);
  const storedToken = stored && normaliseUrl(stored.url) === url ? stored.token : undefined;
  return { url, token: flags.token || env.CAIRN_TOKEN || storedToken };
}

/** A client for the command's connection; fails early and clearly when there is no token. */
export async function connect(cmd: Command): Promise<CairnClient> {
  const { url, token } = await resolveConnection(cmd.optsWithGlobals<ConnectionFlags>());
  if (!token) throw new CliError(`not logged in to ${url}: run \`cairn login\`, or set CAIRN_TOKEN (and CAIRN_URL)`);
  return createClient({ url, token });
}

export function normaliseUrl(url: string): string {
  const trimmed = url.trim().replace(/\/+$/, "");
  return /^https?:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
}
