import { type FormEvent, useState } from "react";
import { useSession } from "../session.js";
import { ErrorBanner, Field } from "../ui.js";

/** Sign in with email + password (a user session) or with an API key (e.g. the admin key printed at first start). Once signed in, App's /signin route goes on to `next`. */
export function SignInPage() {
  const { signInWithKey, signInWithPassword } = useSession();
  const [mode, setMode] = useState<"password" | "key">("password");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [apiKey, setApiKey] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      if (mode === "password") await signInWithPassword(email, password);
      else await signInWithKey(apiKey);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin" id="main">
      <form className="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">
          <img src="/favicon.svg" alt="" width="28" height="28" /> Sign in to Cairn
        </h1>
        <div className="tabs" role="radiogroup" aria-label="Sign in with">
          <label>
            <input type="radio" name="mode" checked={mode === "password"} onChange={() => setMode("password")} /> Email and password
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === "key"} onChange={() => setMode("key")} /> API key
          </label>
        </div>
        {mode === "password" ? (
          <>
            <Field label="Email">
              {(p) => (
                <input {...p} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
              )}
            </Field>
            <Field label="Password">
              {(p) => (
                <input
                  {...p}
                  type="password"
                  autoComplete="current-password"
                  required
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                />
              )}
            </Field>
          </>
        ) : (
          <Field label="Your API key" hint="cairn_… — the admin key is printed once when the server first starts.">
            {(p) => (
              <input
                {...p}
                type="password"
                autoComplete="off"
                spellCheck={false}
                required
                value={apiKey}
                onChange={(e) => setApiKey(e.target.value)}
              />
            )}
          </Field>
        )}
        <ErrorBanner error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
