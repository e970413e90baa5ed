import { DecryptCommand, EncryptCommand, GenerateDataKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { CairnError } from "../errors.js";
import { DecryptionError } from "./envelope.js";
import type { KekBackend } from "./kek.js";
import type { KekSettings } from "./kek-settings.js";

/** Answers of KMS that mean "this ciphertext does not open here": tampered, moved, or another key's. */
const INTEGRITY_ERRORS = new Set(["InvalidCiphertextException", "IncorrectKeyException"]);

/**
 * `aws-kms`: data keys come from GenerateDataKey and are unwrapped by Decrypt; other keys are wrapped by
 * Encrypt. The wrapping context travels as the KMS encryption context (`cairn:context`), which KMS binds
 * to the ciphertext and writes to CloudTrail — it names where a key lives, never anything secret.
 * Decrypt names the key that wrapped (from the blob's header), so blobs of an older key keep opening
 * after CAIRN_AWS_KMS_KEY_ID moved to a new one, until `cairn admin rotate-master-key` rewrapped them.
 */
export function awsKmsKekBackend(settings: NonNullable<KekSettings["awsKms"]>, client?: KMSClient): KekBackend {
  const kms =
    client ??
    new KMSClient({
      ...(settings.region ? { region: settings.region } : {}),
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      ...(settings.credentials ? { credentials: settings.credentials } : {}),
      maxAttempts: 3,
    });
  const encryptionContext = (context: string) => ({ "cairn:context": context });

  async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      const name = (e as { name?: string }).name ?? "";
      if (INTEGRITY_ERRORS.has(name)) throw new DecryptionError(`AWS KMS refused to decrypt a wrapped key (${name})`);
      throw new CairnError("unavailable", `the AWS KMS key provider failed to ${what} (${name || (e as Error).message}); retry shortly`, {
        headers: { "Retry-After": "1" },
        cause: e,
      });
    }
  }

  const bytes = (v: Uint8Array | undefined, what: string) => {
    if (!v) throw new CairnError("unavailable", `AWS KMS answered without ${what}`);
    return Buffer.from(v);
  };

  return {
    kind: "aws-kms",
    ref: settings.keyId,
    canUnwrap: () => true,
    async wrap(plaintext, context) {
      const out = await call("encrypt", () =>
        kms.send(new EncryptCommand({ KeyId: settings.keyId, Plaintext: plaintext, EncryptionContext: encryptionContext(context) })),
      );
      return bytes(out.CiphertextBlob, "a ciphertext");
    },
    async unwrap(ref, raw, context) {
      const out = await call("decrypt", () =>
        kms.send(new DecryptCommand({ KeyId: ref, CiphertextBlob: raw, EncryptionContext: encryptionContext(context) })),
      );
      return bytes(out.Plaintext, "a plaintext");
    },
    async generate(context) {
      const out = await call("generate a data key", () =>
        kms.send(new GenerateDataKeyCommand({ KeyId: settings.keyId, KeySpec: "AES_256", EncryptionContext: encryptionContext(context) })),
      );
      return { plaintext: bytes(out.Plaintext, "a plaintext"), wrapped: bytes(out.CiphertextBlob, "a ciphertext") };
    },
  };
}
