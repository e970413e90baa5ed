import { Navigate, NavLink, Route, Routes, useLocation, useSearchParams } from "react-router-dom";
import { AccessPage } from "./pages/Access.js";
import { AuditPage } from "./pages/Audit.js";
import { ConfigsPage } from "./pages/Configs.js";
import { KeysPage } from "./pages/Keys.js";
import { RequestsPage } from "./pages/Requests.js";
import { SecretsPage } from "./pages/Secrets.js";
import { SignInPage } from "./pages/SignIn.js";
import { useSession } from "./session.js";
import { Loading } from "./ui.js";

/** The pages, in the order of the navigation. Paths are what the server sends index.html for (console.ts). */
export const pages = [
  { path: "/configs", label: "Configs", element: <ConfigsPage /> },
  { path: "/secrets", label: "Secrets", element: <SecretsPage /> },
  { path: "/keys", label: "API keys", element: <KeysPage /> },
  { path: "/audit", label: "Audit", element: <AuditPage /> },
  { path: "/requests", label: "Access requests", element: <RequestsPage /> },
  { path: "/roles", label: "Roles", element: <AccessPage /> },
] as const;

export function App() {
  const { me, restoring, signOut } = useSession();
  const location = useLocation();
  if (restoring) return <Loading what="Signing in" />;
  if (!me) {
    return (
      <Routes>
        <Route path="/signin" element={<SignInPage />} />
        <Route path="*" element={<Navigate to={`/signin?next=${encodeURIComponent(location.pathname + location.search)}`} replace />} />
      </Routes>
    );
  }
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">
          <img src="/favicon.svg" alt="" width="22" height="22" /> Cairn
        </span>
        <span className="tenant" title="Tenant">
          {me.tenant.name}
        </span>
        <span className="whoami">
          <span className="muted">{me.type === "api_key" ? "API key" : "Signed in as"}</span> {me.name}
        </span>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <nav className="sidenav" aria-label="Sections">
        <ul>
          {pages.map((p) => (
            <li key={p.path}>
              <NavLink to={p.path}>{p.label}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <Routes>
          {pages.map((p) => (
            <Route key={p.path} path={`${p.path}/*`} element={p.element} />
          ))}
          <Route path="/signin" element={<AfterSignIn />} />
          <Route path="*" element={<Navigate to="/configs" replace />} />
        </Routes>
      </main>
    </div>
  );
}

/** Once signed in, /signin?next=… goes on to the page that was asked for (same-origin paths only). */
function AfterSignIn() {
  const [params] = useSearchParams();
  const next = params.get("next");
  const safe = next?.startsWith("/") && !next.startsWith("//") && !next.startsWith("/signin") ? next : "/configs";
  return <Navigate to={safe} replace />;
}
