import { CairnApiError, CairnClient, type TokenPair, type WhoAmI } from "@cairn/sdk";
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from "react";

/**
 * What the console signs in with: an API key (`cairn_…`), or a user session (15-minute access token +
 * single-use refresh token, renewed by the SDK on a 401). Kept in sessionStorage: it ends with the tab, and
 * the strict Content-Security-Policy the server sends with the console keeps foreign scripts from reading it.
 */
type Credentials = { kind: "key"; token: string } | { kind: "session"; token: string; refreshToken: string };

const STORAGE_KEY = "cairn.console.credentials";

function loadCredentials(): Credentials | undefined {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Credentials) : undefined;
  } catch {
    return undefined;
  }
}

function storeCredentials(credentials: Credentials | undefined) {
  if (credentials) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credentials));
  else sessionStorage.removeItem(STORAGE_KEY);
}

/** The API is served from the same origin as the console. */
const baseUrl = () => window.location.origin;

function clientFor(credentials: Credentials, onTokens: (pair: TokenPair) => void): CairnClient {
  return credentials.kind === "key"
    ? new CairnClient({ url: baseUrl(), token: credentials.token })
    : new CairnClient({ url: baseUrl(), token: credentials.token, refreshToken: credentials.refreshToken, onTokens });
}

export interface Session {
  /** The signed-in client; undefined before sign-in. */
  client: CairnClient | undefined;
  /** Who the credential belongs to (user or API key, tenant, roles). */
  me: WhoAmI | undefined;
  /** True until a stored credential has been checked with the server. */
  restoring: boolean;
  signInWithKey(key: string): Promise<void>;
  signInWithPassword(email: string, password: string): Promise<void>;
  signOut(): Promise<void>;
}

const SessionContext = createContext<Session | undefined>(undefined);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [client, setClient] = useState<CairnClient>();
  const [me, setMe] = useState<WhoAmI>();
  const [restoring, setRestoring] = useState(true);

  const adopt = useCallback(async (credentials: Credentials) => {
    const onTokens = (pair: TokenPair) => storeCredentials({ kind: "session", token: pair.accessToken, refreshToken: pair.refreshToken });
    const next = clientFor(credentials, onTokens);
    const who = await next.auth.whoami();
    storeCredentials(
      credentials.kind === "key"
        ? credentials
        : { kind: "session", token: next.token ?? credentials.token, refreshToken: next.refreshToken ?? credentials.refreshToken },
    );
    setClient(next);
    setMe(who);
  }, []);

  useEffect(() => {
    const stored = loadCredentials();
    if (!stored) {
      setRestoring(false);
      return;
    }
    adopt(stored)
      .catch((err: unknown) => {
        // A revoked key or an ended session: forget it and show the sign-in form.
        if (err instanceof CairnApiError && err.status === 401) storeCredentials(undefined);
      })
      .finally(() => setRestoring(false));
  }, [adopt]);

  const session = useMemo<Session>(
    () => ({
      client,
      me,
      restoring,
      signInWithKey: (key) => adopt({ kind: "key", token: key.trim() }),
      signInWithPassword: async (email, password) => {
        const anonymous = new CairnClient({ url: baseUrl() });
        const pair = await anonymous.auth.login(email, password);
        await adopt({ kind: "session", token: pair.accessToken, refreshToken: pair.refreshToken });
      },
      signOut: async () => {
        const stored = loadCredentials();
        storeCredentials(undefined);
        setClient(undefined);
        setMe(undefined);
        // End the session on the server too (its refresh token stops working); an API key just stays valid.
        if (stored?.kind === "session") await client?.auth.logout(stored.refreshToken).catch(() => undefined);
      },
    }),
    [client, me, restoring, adopt],
  );
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside <SessionProvider>");
  return session;
}

/** The signed-in client; pages are only rendered once signed in. */
export function useClient(): CairnClient {
  const { client } = useSession();
  if (!client) throw new Error("useClient before sign-in");
  return client;
}
