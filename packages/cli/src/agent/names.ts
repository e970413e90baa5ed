import type { ResolvedConfig } from "@cairn/sdk";
import { CliError } from "../errors.js";

/**
 * The environment-variable name of a key: upper case, and every character other than A–Z, 0–9 and `_`
 * becomes `_` (`database.url` → `DATABASE_URL`, `feature-flags.beta` → `FEATURE_FLAGS_BETA`). The same
 * rule as the server's `?format=dotenv`.
 */
export const envVarName = (key: string): string => key.toUpperCase().replace(/[^A-Z0-9_]/g, "_");

/** A value as the text of a variable: strings as they are, everything else (numbers, objects, arrays) as JSON. */
export const envVarValue = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value));

/** What the server sends in place of a secret's value when it is not revealed. */
export const MASKED = "••••";

export interface EnvironmentSet {
  /** Variable name → value. */
  vars: Record<string, string>;
  /** Keys left out because they are secrets the credential may not reveal. */
  skipped: string[];
}

/**
 * The variables for a namespace's resolved items. `revealed` says whether the list was read with secrets
 * in clear; when not, secrets are left out (their value would be the mask). Two keys with one name are an
 * error naming both: silently picking one would hand a process the wrong value.
 */
export function environmentOf(items: readonly ResolvedConfig[], revealed: boolean): EnvironmentSet {
  const vars: Record<string, string> = {};
  const owner = new Map<string, string>();
  const skipped: string[] = [];
  for (const item of items) {
    if (item.secret && !revealed) {
      skipped.push(item.key);
      continue;
    }
    const name = envVarName(item.key);
    const other = owner.get(name);
    if (other !== undefined) {
      throw new CliError(
        `keys "${other}" and "${item.key}" both become the variable ${name}: rename one of them (or narrow with --prefix)`,
      );
    }
    owner.set(name, item.key);
    vars[name] = envVarValue(item.value);
  }
  return { vars, skipped };
}

/** One .env line: plain values bare, others double-quoted with escapes (as the server's `?format=dotenv`). */
export function dotenvLine(name: string, value: unknown): string {
  const text = envVarValue(value);
  if (/^[A-Za-z0-9_./:@,+-]*$/.test(text)) return `${name}=${text}`;
  const quoted = text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\$/g, "\\$");
  return `${name}="${quoted}"`;
}
