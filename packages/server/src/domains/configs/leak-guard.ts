/**
 * The leak guard looks at a value written as plain (non-secret) config for things that look like
 * credentials — a private key PEM, an AWS access key id, a well-known token prefix, a long high-entropy
 * token — and says so, naming where and suggesting `secret: true`. A tenant setting (`leakGuard`) makes it
 * a 422 instead of a warning, or turns it off. Matches are never echoed back: only the path and the kind.
 */
export type LeakGuardMode = "warn" | "reject" | "off";

export interface WriteWarning {
  code: string;
  /** JSON pointer into the value. */
  path: string;
  message: string;
}

const PRIVATE_KEY_PEM = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/;
const AWS_ACCESS_KEY_ID = /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b/;
/** Token formats whose prefix alone says what they are. */
const KNOWN_TOKENS: [RegExp, string][] = [
  [/\bgh[pousr]_[A-Za-z0-9]{36,}\b/, "a GitHub token"],
  [/\bgithub_pat_[A-Za-z0-9_]{40,}\b/, "a GitHub token"],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}\b/, "a Slack token"],
  [/\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b/, "a Stripe key"],
  [/\bAIza[0-9A-Za-z_-]{35}\b/, "a Google API key"],
  [/\bcairn_[1-9A-HJ-NP-Za-km-z]{4,}_[1-9A-HJ-NP-Za-km-z]{16,}\b/, "a Cairn API key"],
  [/\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, "a JSON Web Token"],
];
/** Any of KNOWN_TOKENS: one scan says whether to look at them one by one. */
const ANY_KNOWN_TOKEN = new RegExp(KNOWN_TOKENS.map(([pattern]) => `(?:${pattern.source})`).join("|"));
/** A token: one word of at least this many base64/hex-like characters. */
const TOKEN = /^[A-Za-z0-9+/=_\-.~]{24,}$/;
const MIN_ENTROPY_BITS_PER_CHAR = 4;

/** Shannon entropy in bits per character. */
function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Why a string looks like a credential, or undefined. */
function looksLikeCredential(text: string): string | undefined {
  if (text.length < 16) return undefined;
  if (PRIVATE_KEY_PEM.test(text)) return "a private key (PEM)";
  if (AWS_ACCESS_KEY_ID.test(text)) return "an AWS access key id";
  if (ANY_KNOWN_TOKEN.test(text)) for (const [pattern, what] of KNOWN_TOKENS) if (pattern.test(text)) return what;
  // Random tokens of 24+ characters mix upper case, lower case and digits; hex digests, UUIDs, slugs and
  // paths do not, and are not worth a warning.
  if (TOKEN.test(text) && /[0-9]/.test(text) && /[a-z]/.test(text) && /[A-Z]/.test(text)) {
    if (entropy(text) >= MIN_ENTROPY_BITS_PER_CHAR) return "a high-entropy token";
  }
  // A URL with a password in it: scheme://user:password@host
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i.test(text)) return "a URL with a password";
  return undefined;
}

const escapePointer = (part: string) => (part.includes("~") || part.includes("/") ? part.replace(/~/g, "~0").replace(/\//g, "~1") : part);

/** Warnings for every string in `value` that looks like a credential (at most 20). */
export function scanForCredentials(value: unknown): WriteWarning[] {
  const found: WriteWarning[] = [];
  // The JSON pointer of where the scan is, as its parts: joined only for a finding.
  const parts: string[] = [];
  const visit = (v: unknown) => {
    if (found.length >= 20) return;
    if (typeof v === "string") {
      const what = looksLikeCredential(v);
      if (what) {
        const path = parts.map((p) => `/${p}`).join("");
        found.push({
          code: "looks_like_secret",
          path,
          message: `the value at "${path || "/"}" looks like ${what}; store it with "secret": true (or under /api/v1/secrets) so it is masked and every reveal is audited`,
        });
      }
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        parts.push(String(i));
        visit(v[i]);
        parts.pop();
      }
    } else if (v !== null && typeof v === "object") {
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue;
        parts.push(escapePointer(k));
        visit((v as Record<string, unknown>)[k]);
        parts.pop();
      }
    }
  };
  visit(value);
  return found;
}
