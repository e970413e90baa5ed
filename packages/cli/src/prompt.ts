import { CliError, UsageError } from "./errors.js";
import { readStdin } from "./input.js";

/** Ask for a secret on the terminal without echoing it. */
export function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding("utf8");
  stdin.resume();
  return new Promise((resolve, reject) => {
    let input = "";
    const finish = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") {
          finish();
          return resolve(input);
        }
        if (ch === "\u0003" || ch === "\u0004") {
          finish();
          return reject(new CliError("cancelled"));
        }
        if (ch === "\u007f" || ch === "\b") input = input.slice(0, -1);
        else input += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/**
 * A password: from stdin with `--password-stdin` (scripts; one trailing newline dropped), else asked on
 * the terminal without echo — twice when `confirm`, so a typo does not become the password.
 */
export async function readPassword(options: { fromStdin?: boolean; confirm?: boolean; label?: string }): Promise<string> {
  const label = options.label ?? "password";
  if (options.fromStdin) {
    const password = (await readStdin(label)).replace(/\r?\n$/, "");
    if (!password) throw new CliError(`no ${label} on stdin`);
    return password;
  }
  if (!process.stdin.isTTY) throw new UsageError(`no terminal to ask for the ${label} on: pipe it in with --password-stdin`);
  const password = await promptHidden(`${capitalise(label)}: `);
  if (!password) throw new CliError(`no ${label} given`);
  if (options.confirm && (await promptHidden(`${capitalise(label)} again: `)) !== password) {
    throw new CliError(`the two ${label}s differ; nothing was changed`);
  }
  return password;
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
