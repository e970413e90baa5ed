import { CairnError, type FieldError } from "../../errors.js";

export const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());
/** jsonb arrives parsed from pg and PGlite; json text is parsed here. */
export const parse = <T>(v: unknown): T => (typeof v === "string" ? (JSON.parse(v) as T) : (v as T));

export const invalid = (what: string, errors: FieldError[]) =>
  new CairnError("validation_failed", `${what}: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`, { errors });

export const isUniqueViolation = (e: unknown) => (e as { code?: string })?.code === "23505";
