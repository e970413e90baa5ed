/** Human output goes to stdout; `--json` prints the API response untouched so scripts can rely on it. */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** Status notes (e.g. "no keys") go to stderr so stdout stays clean for pipes. */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Strings as they are (so `$(cairn get …)` gives the raw value); anything else as pretty JSON. */
export function formatValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/** One-line rendering for tables: strings raw, other values as compact JSON, cut to `width`. */
export function inlineValue(value: unknown, width = 48): string {
  const text = value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  const oneLine = text.replace(/\s*\n\s*/g, " ");
  return oneLine.length > width ? `${oneLine.slice(0, width - 1)}…` : oneLine;
}

/** A plain left-aligned table with a header row; no borders, so it copies and greps well. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const render = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  printLine(render(headers));
  for (const row of rows) printLine(render(row));
}

/** `production/api db.url` — how a key is named in messages. */
export const keyLabel = (namespace: string, key: string) => `${namespace} ${key}`;

/** ANSI colour only for a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colour(code: "red" | "green" | "dim", text: string): string {
  if (!process.stdout.isTTY || process.env.NO_COLOR) return text;
  const codes = { red: 31, green: 32, dim: 2 };
  return `\u001b[${codes[code]}m${text}\u001b[0m`;
}

/** `label: value` lines with the values aligned, for `show` commands. */
export function printFields(fields: [string, string][]): void {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  for (const [label, value] of fields) printLine(`${`${label}:`.padEnd(width)} ${value}`);
}

/**
 * A credential the server shows only once (a new API key): the secret alone on stdout, so
 * `KEY=$(cairn keys create …)` captures exactly it, and what it is plus the warning on stderr.
 */
export function printOnce(intro: string, secret: string): void {
  note(intro);
  printLine(secret);
  note("save it now: it is shown only this once (Cairn keeps only a hash and cannot show it again)");
}

/** `-` for a missing value in tables and fields. */
export const orDash = (value: string | number | null | undefined) =>
  value === null || value === undefined || value === "" ? "-" : String(value);
