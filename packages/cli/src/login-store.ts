import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { CliError } from "./errors.js";

/** What `cairn login` remembers. The token is a credential: the file is 0600 in a 0700 directory. */
export interface StoredLogin {
  url: string;
  token: string;
}

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
    const parsed = JSON.parse(text) as Partial<StoredLogin>;
    if (typeof parsed.url === "string" && typeof parsed.token === "string") return { url: parsed.url, token: parsed.token };
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
