import { CairnError } from "../errors.js";

/** The naming rules every domain shares; their messages say the rule, so a user can fix the name. */
export const KEY_RULE = "keys are 1–256 characters of A–Z, a–z, 0–9, '_', '.', '-'";
export const NAMESPACE_RULE =
  "namespaces are 1–16 '/'-separated segments, each 1–64 characters of A–Z, a–z, 0–9, '_', '-', '.' not starting with '.'";
export const ENVIRONMENT_RULE = "environment names are 1–64 characters of a–z, 0–9, '_', '-', starting with a letter";

const KEY = /^[A-Za-z0-9_.-]{1,256}$/;
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/;
const ENVIRONMENT = /^[a-z][a-z0-9_-]{0,63}$/;
export const RESERVED_KEYS = new Set(["history", "validate"]);

export function checkKey(key: string, field = "key"): string {
  if (!KEY.test(key))
    throw new CairnError("bad_request", `invalid key "${clip(key)}": ${KEY_RULE}`, { errors: [{ path: field, message: KEY_RULE }] });
  if (RESERVED_KEYS.has(key)) {
    throw new CairnError("bad_request", `"${key}" is a reserved key name (reserved: ${[...RESERVED_KEYS].join(", ")})`, {
      errors: [{ path: field, message: "reserved key name" }],
    });
  }
  return key;
}

export function checkNamespace(path: string, field = "namespace"): string {
  const segments = path.split("/");
  if (segments.length > 16 || !segments.every((s) => SEGMENT.test(s))) {
    throw new CairnError("bad_request", `invalid namespace "${clip(path)}": ${NAMESPACE_RULE}`, {
      errors: [{ path: field, message: NAMESPACE_RULE }],
    });
  }
  return path;
}

export function checkEnvironmentName(name: string, field = "environment"): string {
  if (!ENVIRONMENT.test(name)) {
    throw new CairnError("bad_request", `invalid environment "${clip(name)}": ${ENVIRONMENT_RULE}`, {
      errors: [{ path: field, message: ENVIRONMENT_RULE }],
    });
  }
  return name;
}

const clip = (s: string) => (s.length > 80 ? `${s.slice(0, 80)}…` : s);
