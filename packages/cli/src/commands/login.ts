import { createClient, isUnauthorized } from "@cairn/sdk";
import type { Command } from "commander";
import { type ConnectionFlags, DEFAULT_URL, normaliseUrl, withConnectionOptions } from "../connection.js";
import { CliError } from "../errors.js";
import { readStdin } from "../input.js";
import { configFile, forgetLogin, readLogin, saveLogin } from "../login-store.js";
import { examples } from "../options.js";
import { printLine } from "../output.js";
import { promptHidden } from "../prompt.js";

export function registerLogin(program: Command): void {
  withConnectionOptions(
    program
      .command("login")
      .description("check an API key against a server and remember both for later commands")
      .addHelpText(
        "after",
        `${examples(
          "cairn login --url http://127.0.0.1:8080          # prompts for the key",
          'echo "$KEY" | cairn login --url https://cairn.example.com',
        )}\nSaved to $XDG_CONFIG_HOME/cairn/config.json (else ~/.config/cairn/config.json), mode 0600.\nCAIRN_URL / CAIRN_TOKEN and --url / --token override it.\n`,
      ),
  ).action(async (_flags: unknown, cmd: Command) => {
    const flags = cmd.optsWithGlobals<ConnectionFlags>();
    const stored = await readLogin();
    const url = normaliseUrl(flags.url || process.env.CAIRN_URL || stored?.url || DEFAULT_URL);
    const token = (flags.token ?? (await askToken())).trim();
    if (!token) throw new CliError("no token given: pass --token, pipe it on stdin, or run in a terminal to be asked");

    try {
      await createClient({ url, token }).environments.list();
    } catch (e) {
      if (isUnauthorized(e)) throw new CliError(`${url} rejected this token (${e.message}); nothing was saved`);
      throw e;
    }
    const file = await saveLogin({ url, token });
    printLine(`logged in to ${url} (saved to ${file})`);
  });

  program
    .command("logout")
    .description("forget the stored login")
    .action(async () => {
      const had = await forgetLogin();
      printLine(had ? `logged out (removed ${configFile()})` : "not logged in");
    });
}

/** From a pipe when there is one (scripts), else a hidden prompt. */
async function askToken(): Promise<string> {
  if (!process.stdin.isTTY) return readStdin("token");
  return promptHidden("API key: ");
}
