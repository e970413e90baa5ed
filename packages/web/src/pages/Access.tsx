import { useSearchParams } from "react-router-dom";
import { useApi } from "../api.js";
import { Page } from "../ui.js";
import { BindingsPanel } from "./access/BindingsPanel.js";
import { ExplainForm } from "./access/ExplainForm.js";
import { byBuiltinThenName } from "./access/model.js";
import { RolesPanel } from "./access/RolesPanel.js";
import "./access.css";

/** Roles (built-in and custom, with their rules), role bindings, and the authz "explain" check. */
export function AccessPage() {
  const roles = useApi(async (client) => (await client.roles.list()).items.sort(byBuiltinThenName), []);
  const [params, setParams] = useSearchParams();
  const selected = params.get("role") ?? undefined;
  const select = (name?: string) => setParams(name ? { role: name } : {}, { replace: true });
  return (
    <Page title="Roles and bindings">
      <p className="muted access-intro">
        A role is a set of <code>allow</code>/<code>deny</code> rules on <code>resource:namespacePattern:action</code>, and may inherit
        other roles; deny always wins. A binding gives a role to a user, API key or group within a namespace pattern, optionally until a
        time.
      </p>
      <RolesPanel roles={roles} selected={selected} onSelect={select} />
      <BindingsPanel roles={roles.data ?? []} />
      <ExplainForm />
    </Page>
  );
}
