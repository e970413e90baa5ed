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

/** commander option parser for counts that may be 0 (a usage quota). */
export function nonNegativeInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || raw.trim() === "") throw new InvalidArgumentError("expected a whole number ≥ 0");
  return n;
}

/** Repeatable string option: `--role a --role b` → ["a", "b"]. */
export function collect(raw: string, list: string[] = []): string[] {
  return [...list, raw];
}

/** `--meta key=value`, repeatable; the value is JSON when it parses as JSON (`--meta tier=3`), else a string. */
export function collectMeta(raw: string, meta: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = raw.indexOf("=");
  if (eq < 1) throw new InvalidArgumentError("expected key=value");
  return { ...meta, [raw.slice(0, eq)]: parseValue(raw.slice(eq + 1), "auto") };
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `90s`, `15m`, `12h`, `30d`, `2w`, or several at once (`1h30m`); a bare number is seconds. */
export function parseDuration(raw: string): number {
  const text = raw.trim().toLowerCase();
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+[smhdw])+$/.test(text)) throw new InvalidArgumentError("expected a duration such as 90s, 15m, 12h, 30d, 2w or 1h30m");
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhdw])/g)) seconds += Number(n) * (UNIT_SECONDS[unit as string] as number);
  return seconds;
}

/** `--expires-in 30d` → the RFC 3339 moment that far from now. */
export function timeFromNow(raw: string): string {
  const seconds = parseDuration(raw);
  if (seconds < 1) throw new InvalidArgumentError("expected a duration of at least 1s");
  return new Date(Date.now() + seconds * 1000).toISOString();
}

/** `--since`: a date/time, or a duration meaning that long ago (`7d`). */
export function pastTime(raw: string): string {
  if (/^(\d+[smhdw])+$/i.test(raw.trim())) return new Date(Date.now() - parseDuration(raw) * 1000).toISOString();
  return pointInTime(raw);
}

/** `--rate-limit 100/60s` (also `100/1m`, `100/m`, `100/60`) → {limit, windowSeconds}. */
export function rateLimit(raw: string): { limit: number; windowSeconds: number } {
  const m = /^\s*(\d+)\s*\/\s*(\d*[smhdw]?(?:\d+[smhdw])*)\s*$/i.exec(raw);
  const limit = Number(m?.[1]);
  const window = m?.[2] ?? "";
  if (!m || !window || !Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidArgumentError("expected <requests>/<window>, e.g. 100/60s, 1000/1h or 10/s");
  }
  const windowSeconds = /^[smhdw]$/i.test(window) ? parseDuration(`1${window}`) : parseDuration(window);
  if (windowSeconds < 1) throw new InvalidArgumentError("the window must be at least 1s");
  return { limit, windowSeconds };
}
