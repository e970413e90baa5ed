import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "commander";
import { UsageError } from "./errors.js";

/** Everything piped on stdin, or a usage error when stdin is a terminal (nothing would ever arrive). */
export async function readStdin(what: string): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError(`no ${what} given: pass it as an argument or a file, or pipe it on stdin`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** A file's text; `-` means stdin. */
export async function readInputFile(path: string, what: string): Promise<string> {
  return path === "-" ? readStdin(what) : readFile(path, "utf8");
}

export type ValueMode = "auto" | "string" | "json";

/**
 * `auto`: JSON when the text parses as JSON (so `8080`, `true`, `{"a":1}` keep their types),
 * else the text as a string. `string` and `json` force one reading.
 */
export function parseValue(text: string, mode: ValueMode): unknown {
  if (mode === "string") return text;
  try {
    return JSON.parse(text);
  } catch (e) {
    if (mode === "json") throw new UsageError(`value is not valid JSON: ${(e as Error).message}`);
    return text;
  }
}

/** commander option parser for versions, limits, ports. */
export function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a whole number ≥ 1");
  return n;
}

export function port(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("expected a port number 0–65535");
  return n;
}

/** `--at`: anything Date can read ("2025-01-31", RFC 3339 …), sent to the server as RFC 3339. */
export function pointInTime(raw: string): string {
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new InvalidArgumentError("expected a date/time, e.g. 2025-01-31T12:00:00Z");
  return new Date(ms).toISOString();
}

/** `--tag k=v`, repeatable. */
export function collectTag(raw: string, tags: Record<string, string> = {}): Record<string, string> {
  const eq = raw.indexOf("=");
  if (eq < 1) throw new InvalidArgumentError("expected key=value");
  return { ...tags, [raw.slice(0, eq)]: raw.slice(eq + 1) };
}
