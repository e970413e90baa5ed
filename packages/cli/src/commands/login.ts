import { createClient, isUnauthorized, type TokenPair } from "@cairn/sdk";
import { type Command, Option } from "commander";
import { type ConnectionFlags, DEFAULT_URL, normaliseUrl, storedSession, withConnectionOptions } from "../connection.js";
import { CliError, UsageError } from "../errors.js";
import { readStdin } from "../input.js";
import { configFile, forgetLogin, readLogin, saveLogin } from "../login-store.js";
import { examples } from "../options.js";
import { note, printLine } from "../output.js";
import { promptHidden, readPassword } from "../prompt.js";

interface LoginFlags extends ConnectionFlags {
  email?: string;
  passwordStdin?: boolean;
}

export function registerLogin(program: Command): void {
  withConnectionOptions(
    program
      .command("login")
      .description("sign in — as a user (--email, asks for the password) or with an API key — and remember it for later commands")
      .addOption(new Option("--email <email>", "log in as this user: the password is asked without echo").conflicts("token"))
      .option("--password-stdin", "with --email: read the password from stdin (scripts)")
      .addHelpText(
        "after",
        `${examples(
          "cairn login --url https://cairn.example.com --email ana@example.com",
          'printf %s "$PASSWORD" | cairn login --email ci-bot@example.com --password-stdin',
          "cairn login --url http://127.0.0.1:8080          # prompts for an API key",
          'echo "$KEY" | cairn login --url https://cairn.example.com',
        )}
Saved to $XDG_CONFIG_HOME/cairn/config.json (else ~/.config/cairn/config.json), mode 0600.
A user's session token lasts 15 minutes and is renewed with the stored refresh token as needed (7 days).
CAIRN_URL / CAIRN_TOKEN and --url / --token override it.
`,
      ),
  ).action(async (_flags: unknown, cmd: Command) => {
    const flags = cmd.optsWithGlobals<LoginFlags>();
    if (flags.passwordStdin && !flags.email) throw new UsageError("--password-stdin goes with --email");
    const stored = await readLogin();
    const url = normaliseUrl(flags.url || process.env.CAIRN_URL || stored?.url || DEFAULT_URL);
    if (flags.email) return loginAsUser(url, flags.email, Boolean(flags.passwordStdin));

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
    .description("end the stored session on the server (revoking its refresh token) and forget the stored login")
    .addHelpText("after", examples("cairn logout"))
    .action(async () => {
      const stored = await readLogin();
      let revokeFailed: string | undefined;
      if (stored?.session) {
        try {
          await createClient({ url: normaliseUrl(stored.url) }).auth.logout(stored.session.refreshToken);
        } catch (e) {
          revokeFailed = e instanceof Error ? e.message : String(e);
        }
      }
      const had = await forgetLogin();
      if (revokeFailed) {
        // Forgotten here either way; the refresh token then simply runs out (7 days at most).
        throw new CliError(`removed ${configFile()}, but the server did not revoke the session: ${revokeFailed}`);
      }
      if (!had) return printLine("not logged in");
      printLine(
        stored?.session
          ? `logged out ${stored.session.email} (session revoked, removed ${configFile()})`
          : `logged out (removed ${configFile()})`,
      );
    });
}

async function loginAsUser(url: string, email: string, passwordStdin: boolean): Promise<void> {
  const password = await readPassword({ fromStdin: passwordStdin });
  let pair: TokenPair;
  try {
    pair = await createClient({ url }).auth.login(email, password);
  } catch (e) {
    if (isUnauthorized(e)) throw new CliError(`${url} refused this email and password (${e.message}); nothing was saved`);
    throw e;
  }
  const file = await saveLogin({ url, session: storedSession(pair) });
  printLine(`logged in to ${url} as ${pair.user.email} (saved to ${file})`);
  if (process.env.CAIRN_TOKEN) note("note: CAIRN_TOKEN is set and wins over this login; unset it to use the session");
}

/** From a pipe when there is one (scripts), else a hidden prompt. */
async function askToken(): Promise<string> {
  if (!process.stdin.isTTY) return readStdin("token");
  return promptHidden("API key: ");
}
