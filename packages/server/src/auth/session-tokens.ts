import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { type CryptoKey, importJWK, type JWK, jwtVerify, SignJWT } from "jose";
import type { KekProvider } from "../crypto/kek.js";
import type { Db } from "../db/database.js";
import { newId } from "../ids.js";

const ISSUER = "cairn";
const AUDIENCE = "cairn-api";
export const ACCESS_TOKEN_SECONDS = 15 * 60;
export const REFRESH_TOKEN_SECONDS = 7 * 24 * 60 * 60;
export const REFRESH_TOKEN_PREFIX = "cairn_rt_";

export interface SessionClaims {
  userId: string;
  tenantId: string;
  email: string;
  sessionId: string;
}

/**
 * Short-lived session tokens: EdDSA (Ed25519) JWTs. The signing key is made once, stored with its
 * private half sealed by the KEK, and shared by every replica through the database.
 */
export function createSessionTokens(deps: { db: Db; kek: KekProvider }) {
  let keys: Promise<{ kid: string; privateKey: CryptoKey; publicKey: CryptoKey }> | undefined;

  async function loadOrCreate() {
    let row = await deps.db
      .selectFrom("signing_keys")
      .selectAll()
      .where("algorithm", "=", "EdDSA")
      .orderBy("created_at")
      .limit(1)
      .executeTakeFirst();
    if (!row) {
      const pair = generateKeyPairSync("ed25519");
      const privateJwk = pair.privateKey.export({ format: "jwk" });
      const publicJwk = pair.publicKey.export({ format: "jwk" });
      const id = newId("signingKey");
      const sealed = await deps.kek.wrap(Buffer.from(JSON.stringify(privateJwk)), `signing-key/${id}`);
      await deps.db
        .insertInto("signing_keys")
        .values({ id, algorithm: "EdDSA", public_jwk: JSON.stringify(publicJwk), private_sealed: sealed })
        .onConflict((oc) => oc.doNothing())
        .execute();
      // Two replicas may race here; the oldest key wins for everybody.
      row = await deps.db
        .selectFrom("signing_keys")
        .selectAll()
        .where("algorithm", "=", "EdDSA")
        .orderBy("created_at")
        .limit(1)
        .executeTakeFirstOrThrow();
    }
    const privateJwk = JSON.parse((await deps.kek.unwrap(row.private_sealed, `signing-key/${row.id}`)).toString("utf8")) as JWK;
    return {
      kid: row.id,
      privateKey: (await importJWK(privateJwk, "EdDSA")) as CryptoKey,
      publicKey: (await importJWK(row.public_jwk as JWK, "EdDSA")) as CryptoKey,
    };
  }

  const signingKeys = () => {
    keys ??= loadOrCreate().catch((e) => {
      keys = undefined;
      throw e;
    });
    return keys;
  };

  return {
    async issueAccessToken(claims: SessionClaims): Promise<string> {
      const { kid, privateKey } = await signingKeys();
      return new SignJWT({ tid: claims.tenantId, email: claims.email, sid: claims.sessionId })
        .setProtectedHeader({ alg: "EdDSA", kid, typ: "JWT" })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(claims.userId)
        .setIssuedAt()
        .setExpirationTime(`${ACCESS_TOKEN_SECONDS}s`)
        .setJti(randomBytes(12).toString("base64url"))
        .sign(privateKey);
    },

    /** The claims of a valid, unexpired token of ours, or undefined. */
    async verifyAccessToken(token: string): Promise<SessionClaims | undefined> {
      try {
        const { publicKey } = await signingKeys();
        const { payload } = await jwtVerify(token, publicKey, { issuer: ISSUER, audience: AUDIENCE, algorithms: ["EdDSA"] });
        if (typeof payload.sub !== "string" || typeof payload.tid !== "string") return undefined;
        return { userId: payload.sub, tenantId: payload.tid, email: String(payload.email ?? ""), sessionId: String(payload.sid ?? "") };
      } catch {
        return undefined;
      }
    },

    newRefreshToken(): { token: string; hash: Buffer } {
      const token = `${REFRESH_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
      return { token, hash: hashRefreshToken(token) };
    },
  };
}

export const hashRefreshToken = (token: string): Buffer => createHash("sha256").update(token, "utf8").digest();

export type SessionTokens = ReturnType<typeof createSessionTokens>;
