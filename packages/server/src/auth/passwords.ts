import { hash, verify } from "@node-rs/argon2";
import { CairnError } from "../errors.js";

export const MIN_PASSWORD_LENGTH = 12;
const MAX_PASSWORD_LENGTH = 256;

// The most common passwords and patterns of leaked-password lists that pass the length rule.
const COMMON = new Set(
  [
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456123456",
    "qwertyuiop12",
    "qwertyuiopasdf",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "administrator",
    "admin1234567",
    "changeme1234",
    "trustno1trustno1",
    "football1234",
    "baseball1234",
    "superman1234",
    "sunshine1234",
    "princess1234",
    "starwars1234",
    "monkey123456",
    "dragon123456",
    "master123456",
    "abc123abc123",
    "aaaaaaaaaaaa",
    "111111111111",
    "000000000000",
    "correcthorsebatterystaple",
  ].map((p) => p.toLowerCase()),
);

/** Refuses weak passwords with a message that says what would be accepted. */
export function checkPasswordPolicy(password: string, email?: string): void {
  const problems: string[] = [];
  if (password.length < MIN_PASSWORD_LENGTH) problems.push(`at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) problems.push(`at most ${MAX_PASSWORD_LENGTH} characters`);
  const lower = password.toLowerCase();
  if (COMMON.has(lower) || /^(.)\1+$/.test(password) || /^(0123456789|1234567890)+\d*$/.test(password)) {
    problems.push("not a common or trivially guessable password");
  }
  if (email && lower.includes(email.toLowerCase().split("@")[0] ?? "\u0000") && (email.split("@")[0]?.length ?? 0) >= 4) {
    problems.push("not containing your email name");
  }
  if (problems.length) {
    throw new CairnError("validation_failed", `the password must be ${problems.join(", and ")}`, {
      errors: [{ path: "/password", message: problems.join("; ") }],
    });
  }
}

/** argon2id with the library's defaults (m=19 MiB, t=2, p=1: OWASP's recommendation). */
export const hashPassword = (password: string): Promise<string> => hash(password);

export async function verifyPassword(hashed: string, password: string): Promise<boolean> {
  try {
    return await verify(hashed, password);
  } catch {
    return false;
  }
}

// Compared against when the account does not exist, so a miss costs as much time as a hit.
let dummyHash: Promise<string> | undefined;
export const dummyPasswordHash = () => {
  dummyHash ??= hash("cairn-dummy-password-for-timing");
  return dummyHash;
};
