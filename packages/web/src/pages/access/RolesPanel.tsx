import type { CairnClient, Role } from "@cairn/sdk";
import { useCallback, useState } from "react";
import type { Loaded } from "../../api.js";
import { useAction } from "../../api.js";
import { Badge, Dialog, Empty, ErrorBanner, Loading, Notice, TableHead } from "../../ui.js";
import { describeConditions } from "./model.js";
import { RoleEditor } from "./RoleEditor.js";

/** A role's rules: effect, permission, conditions; inherited roles named. */
export function RoleDetail({ role }: { role: Role }) {
  return (
    <div className="role-detail">
      <p>
        {role.description ? role.description : <span className="muted">No description.</span>}{" "}
        {role.builtin ? <Badge tone="info">built-in</Badge> : <Badge>custom</Badge>}
      </p>
      {role.inherits.length > 0 ? (
        <p>
          Inherits the rules of{" "}
          {role.inherits.map((n, i) => (
            <span key={n}>
              {i > 0 ? ", " : ""}
              <code>{n}</code>
            </span>
          ))}
          .
        </p>
      ) : null}
      {role.rules.length === 0 ? (
        <Empty>No rules of its own.</Empty>
      ) : (
        <div className="table-wrap access-table-wrap">
          <table aria-label={`Rules of role ${role.name}`}>
            <TableHead columns={["Effect", "Permission", "Conditions"]} />
            <tbody>
              {role.rules.map((r, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: a rule is identified by its place in the role
                <tr key={i}>
                  <td>
                    <Badge tone={r.effect === "deny" ? "danger" : "ok"}>{r.effect}</Badge>
                  </td>
                  <td>
                    <code>{r.permission}</code>
                  </td>
                  <td>{describeConditions(r.conditions) || <span className="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** The roles of the tenant; one opened at a time to read its rules; custom ones can be edited and deleted. */
export function RolesPanel({ roles, selected, onSelect }: { roles: Loaded<Role[]>; selected?: string; onSelect: (name?: string) => void }) {
  const [editing, setEditing] = useState<{ role?: Role } | undefined>();
  const [deleting, setDeleting] = useState<Role | undefined>();
  const [notice, setNotice] = useState("");
  const remove = useAction(useCallback((client: CairnClient, name: string) => client.roles.delete(name).then(() => name), []));
  const list = roles.data ?? [];
  const current = list.find((r) => r.name === selected);

  const confirmDelete = async () => {
    if (!deleting) return;
    const done = await remove.run(deleting.name);
    setDeleting(undefined);
    if (done) {
      setNotice(`Role ${done} deleted.`);
      onSelect(undefined);
      await roles.reload();
    }
  };

  return (
    <section aria-labelledby="roles-title" className="access-section">
      <div className="section-header">
        <h2 id="roles-title">Roles</h2>
        <button
          type="button"
          className="primary"
          onClick={() => {
            setNotice("");
            setEditing({});
          }}
        >
          New role
        </button>
      </div>
      <ErrorBanner error={roles.error} />
      <ErrorBanner error={remove.error} onDismiss={remove.clearError} />
      <Notice>{notice}</Notice>
      {roles.loading && !roles.data ? <Loading what="Loading roles" /> : null}
      <div className="split access-split">
        <ul className="role-list" aria-label="Roles">
          {list.map((r) => (
            <li key={r.name}>
              <button
                type="button"
                className={`role-pick${r.name === selected ? " selected" : ""}`}
                aria-pressed={r.name === selected}
                onClick={() => onSelect(r.name === selected ? undefined : r.name)}
              >
                <span className="role-name">{r.name}</span>
                {r.builtin ? <Badge tone="info">built-in</Badge> : null}
              </button>
            </li>
          ))}
        </ul>
        <div className="card role-panel" aria-live="polite">
          {current ? (
            <>
              <div className="section-header">
                <h3>Role {current.name}</h3>
                {!current.builtin ? (
                  <div className="row">
                    <button type="button" onClick={() => setEditing({ role: current })}>
                      Edit role
                    </button>
                    <button type="button" className="danger" onClick={() => setDeleting(current)}>
                      Delete role
                    </button>
                  </div>
                ) : (
                  <span className="muted">Built-in roles cannot change; make a role that inherits from it.</span>
                )}
              </div>
              <RoleDetail role={current} />
            </>
          ) : (
            <p className="muted">Choose a role to see its rules.</p>
          )}
        </div>
      </div>
      <RoleEditor
        open={editing !== undefined}
        role={editing?.role}
        roles={list}
        onClose={() => setEditing(undefined)}
        onSaved={async (saved) => {
          setEditing(undefined);
          setNotice(`Role ${saved.name} saved.`);
          await roles.reload();
          onSelect(saved.name);
        }}
      />
      <Dialog title="Delete role" open={deleting !== undefined} onClose={() => setDeleting(undefined)}>
        {deleting ? (
          <div>
            <p>
              Delete the role <code>{deleting.name}</code>? A role that a binding, another role or an API key still uses cannot be deleted.
            </p>
            <div className="row">
              <button type="button" onClick={() => setDeleting(undefined)}>
                Cancel
              </button>
              <button type="button" className="danger" onClick={() => void confirmDelete()} disabled={remove.busy}>
                Delete {deleting.name}
              </button>
            </div>
          </div>
        ) : null}
      </Dialog>
    </section>
  );
}
