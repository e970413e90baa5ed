import { createPatch } from "rfc6902";
import { CairnError } from "../../errors.js";
import type { ChangeType, ConfigEntry } from "./schemas.js";

export const MASK = "••••";

/** A value as stored: its JSON text in UTF-8; refuses values over the configured limit with a 413. */
export function encodeValue(value: unknown, maxBytes: number, where = "value"): Buffer {
  if (value === undefined) {
    throw new CairnError("bad_request", `${where} is required (any JSON value, e.g. "text", 42, {"a": 1})`, {
      errors: [{ path: `/${where}`, message: "required" }],
    });
  }
  const bytes = Buffer.from(JSON.stringify(value), "utf8");
  if (bytes.length > maxBytes) {
    throw new CairnError("payload_too_large", `${where} is ${bytes.length} bytes; the limit is ${maxBytes} bytes (CAIRN_MAX_VALUE_BYTES)`);
  }
  return bytes;
}

export const decodeValue = (bytes: Buffer): unknown => JSON.parse(bytes.toString("utf8"));

/** RFC 6902 patch turning the previous version's value into this one's; computed on read, never stored. */
export function diffOf(changeType: ChangeType, previous: unknown, current: unknown) {
  if (changeType === "delete") return [{ op: "remove", path: "" }];
  if (previous === undefined) return [{ op: "add", path: "", value: current }];
  return createPatch(previous, current);
}

/** `database.url` → `DATABASE_URL`: upper case, every other character than A–Z and 0–9 becomes `_`. */
export const envVarName = (key: string): string => key.toUpperCase().replace(/[^A-Z0-9]/g, "_");

/** One dotenv line; strings that need it are double-quoted with escapes, other JSON is written as JSON. */
export function dotenvLine(key: string, value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const plain = /^[A-Za-z0-9_./:@,+-]*$/.test(text);
  const quoted = `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\$/g, "\\$")}"`;
  return `${envVarName(key)}=${plain ? text : quoted}`;
}

/** Associated data of a sealed value: it names exactly where the value lives. */
export const valueAad = (tenantId: string, namespaceId: string, key: string, environment: string, version: number) => [
  "config",
  tenantId,
  namespaceId,
  key,
  environment,
  version,
];

/** The wire form of a stored entry; a secret's value is masked unless revealed. */
export function entryOf(
  namespace: string,
  environment: string,
  row: { key: string; version: number; secret: boolean; tags: Record<string, string>; at: Date; by: string },
  value: unknown,
  reveal: boolean,
): ConfigEntry {
  return {
    namespace,
    key: row.key,
    environment,
    value: row.secret && !reveal && value !== undefined ? MASK : (value ?? null),
    version: row.version,
    secret: row.secret,
    tags: row.tags ?? {},
    updatedAt: new Date(row.at).toISOString(),
    updatedBy: row.by,
  };
}
