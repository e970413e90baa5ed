import { basename, extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseDotenv } from "./dotenv.js";
import { CliError } from "./errors.js";

export type DocumentFormat = "json" | "yaml" | "dotenv";
export const DOCUMENT_FORMATS = ["auto", "json", "yaml", "dotenv"] as const;

/** Pick a format from the file name; for stdin or unknown names, from the content. */
export function detectFormat(file: string, text: string): DocumentFormat {
  const ext = extname(file).toLowerCase();
  const name = basename(file).toLowerCase();
  if (ext === ".json") return "json";
  if (ext === ".yaml" || ext === ".yml") return "yaml";
  if (ext === ".env" || name === ".env" || name.startsWith(".env.")) return "dotenv";
  const trimmed = text.trimStart();
  if (trimmed.startsWith("{")) return "json";
  // Every meaningful line is KEY=value: a .env file (YAML would read it as one string).
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.trim().startsWith("#"));
  if (lines.length > 0 && lines.every((l) => /^\s*(export\s+)?[^=\s:]+\s*=/.test(l))) return "dotenv";
  return "yaml";
}

/**
 * The keys and values a document sets: a top-level object's members (values keep their JSON/YAML
 * types; nothing is flattened), or a .env file's variables (strings).
 */
export function parseDocument(text: string, format: DocumentFormat, source: string): Record<string, unknown> {
  if (format === "dotenv") return parseDotenv(text, source);
  let parsed: unknown;
  try {
    parsed = format === "json" ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new CliError(`${source} is not valid ${format.toUpperCase()}: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CliError(`${source}: expected an object whose members are the keys to set`);
  }
  return parsed as Record<string, unknown>;
}

/** One key to import; `secret` comes from a `cairn export --format json` document's items. */
export interface ImportEntry {
  key: string;
  value: unknown;
  secret?: boolean;
}

/** What the server masks unrevealed secrets as: importing it would overwrite real secrets with dots. */
const MASKED_VALUE = "••••";

/**
 * The keys a parsed document sets. A `cairn export --format json` document ({namespace, environment,
 * items}) imports as its items (keeping their secret flags), so export → import round-trips.
 */
export function toImportEntries(document: Record<string, unknown>, source: string): ImportEntry[] {
  const entries = isExportedList(document)
    ? document.items.map((item) => ({ key: item.key, value: item.value, secret: item.secret || undefined }))
    : Object.entries(document).map(([key, value]) => ({ key, value }));
  const masked = entries.filter((e) => e.value === MASKED_VALUE).map((e) => e.key);
  if (masked.length > 0) {
    throw new CliError(
      `${source}: ${masked.join(", ")} ${masked.length === 1 ? "is a masked secret" : "are masked secrets"} ("${MASKED_VALUE}"); export with --reveal, or leave ${masked.length === 1 ? "it" : "them"} out`,
    );
  }
  return entries;
}

interface ExportedList {
  namespace: string;
  environment: string;
  items: { key: string; value: unknown; secret?: boolean }[];
}

function isExportedList(d: Record<string, unknown>): d is Record<string, unknown> & ExportedList {
  return (
    typeof d.namespace === "string" &&
    typeof d.environment === "string" &&
    Array.isArray(d.items) &&
    d.items.every((i) => typeof i === "object" && i !== null && typeof (i as { key?: unknown }).key === "string")
  );
}
