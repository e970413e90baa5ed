import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** A self-signed certificate and its key from the machine's openssl, valid for `days` days. */
export function makeCertificate(days: number, cn = "cairn-test"): { cert_pem: string; private_key_pem: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "cairn-cert-"));
  try {
    const key = path.join(dir, "key.pem");
    const cert = path.join(dir, "cert.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        String(days),
        "-subj",
        `/CN=${cn}`,
      ],
      { stdio: "ignore" },
    );
    return { cert_pem: readFileSync(cert, "utf8"), private_key_pem: readFileSync(key, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether a command is on PATH (openssl, ssh-keygen): tests that need it skip without it. */
export function has(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
