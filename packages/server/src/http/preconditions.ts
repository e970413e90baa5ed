import { CairnError } from "../errors.js";

/** `If-Match: "3"` → 3, `*` → "*", absent → undefined. Cairn's ETags are strong: `"<version>"`. */
export function parseIfMatch(header: string | string[] | undefined): number | "*" | undefined {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header[0] : header)?.trim() ?? "";
  if (value === "*") return "*";
  const m = /^"(\d{1,9})"$/.exec(value);
  if (!m?.[1]) {
    throw new CairnError(
      "bad_request",
      `If-Match must be a version in quotes, like "3" (the ETag of a read), or *; got ${value.slice(0, 40)}`,
    );
  }
  return Number(m[1]);
}

/** The ETag of a resolved read: `"<version>"`, or `"<environment>.<version>"` when inherited from another environment. */
export const etagOf = (environment: string, resolvedFrom: string, version: number) =>
  environment === resolvedFrom ? `"${version}"` : `"${resolvedFrom}.${version}"`;

export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}
