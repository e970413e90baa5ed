import { CliError } from "./errors.js";

/**
 * Parse a .env file: `KEY=value` lines, optional `export ` prefix, `#` comments, single quotes
 * (literal), double quotes (with \n \t \" \\ escapes, may span lines). Values stay strings.
 */
export function parseDotenv(text: string, source = "input"): Record<string, string> {
  const result: Record<string, string> = {};
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (!line || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new CliError(`${source}:${i + 1}: expected KEY=value, got "${line.slice(0, 60)}"`);
    const key = match[1] as string;
    let raw = match[2] ?? "";

    if (raw.startsWith('"')) {
      // Collect lines until the closing unescaped quote.
      let body = raw.slice(1);
      while (closingQuote(body) < 0 && i + 1 < lines.length) body += `\n${lines[++i]}`;
      const end = closingQuote(body);
      if (end < 0) throw new CliError(`${source}:${i + 1}: unterminated double quote for ${key}`);
      result[key] = unescapeDoubleQuoted(body.slice(0, end));
    } else if (raw.startsWith("'")) {
      const end = raw.indexOf("'", 1);
      if (end < 0) throw new CliError(`${source}:${i + 1}: unterminated single quote for ${key}`);
      result[key] = raw.slice(1, end);
    } else {
      // An unquoted value ends at " #" (an inline comment).
      const comment = raw.search(/\s#/);
      if (comment >= 0) raw = raw.slice(0, comment);
      result[key] = raw.trim();
    }
  }
  return result;
}

function closingQuote(body: string): number {
  for (let i = 0; i < body.length; i++) {
    if (body[i] === "\\") i++;
    else if (body[i] === '"') return i;
  }
  return -1;
}

function unescapeDoubleQuoted(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => ({ n: "\n", r: "\r", t: "\t" })[c] ?? c);
}
