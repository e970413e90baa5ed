import type { Binding, CairnClient, CreateBindingBody, Role } from "@cairn/sdk";
import { type FormEvent, useCallback, useState } from "react";
import { useAction, useApi } from "../../api.js";
import { Badge, Empty, ErrorBanner, Field, Loading, Notice, TableHead, Time } from "../../ui.js";
import { fieldErrors } from "./model.js";

type SubjectType = "user" | "key" | "group";
interface Suggestion {
  id: string;
  label: string;
}

/** Keys, users and groups the caller may list, as suggestions for the subject field (a missing permission just means none). */
async function loadSubjects(client: CairnClient): Promise<Record<SubjectType, Suggestion[]>> {
  const quiet = <T,>(p: Promise<T>) => p.catch(() => undefined);
  const [keys, users, groups] = await Promise.all([quiet(client.keys.list()), quiet(client.users.list()), quiet(client.groups.list())]);
  return {
    key: (keys?.items ?? []).filter((k) => k.status !== "revoked").map((k) => ({ id: k.id, label: k.name })),
    user: (users?.items ?? []).map((u) => ({ id: u.id, label: u.email })),
    group: (groups?.items ?? []).map((g) => ({ id: g.id, label: g.name })),
  };
}

const bindingKey = (path: string) => {
  const m = path.match(/^\/(?:body\/)?(role|subject\/id|subject\/type|subject|namespacePattern|expiresAt)/);
  return m ? `/${m[1] === "subject" ? "subject/id" : m[1]}` : "";
};

/** Role bindings: who has which role where, until when; create and delete. */
export function BindingsPanel({ roles }: { roles: Role[] }) {
  const bindings = useApi(async (client) => (await client.bindings.list()).items, []);
  const subjects = useApi(loadSubjects, []);
  const [role, setRole] = useState("");
  const [subjectType, setSubjectType] = useState<SubjectType>("key");
  const [subjectId, setSubjectId] = useState("");
  const [pattern, setPattern] = useState("**");
  const [expires, setExpires] = useState("");
  const [notice, setNotice] = useState("");
  const create = useAction(useCallback((client: CairnClient, body: CreateBindingBody) => client.bindings.create(body), []));
  const remove = useAction(useCallback((client: CairnClient, b: Binding) => client.bindings.delete(b.id).then(() => b), []));
  const errors = fieldErrors(create.error, bindingKey);
  const chosenRole = role || roles[0]?.name || "";

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setNotice("");
    const expiresAt = expires ? new Date(expires) : undefined;
    const made = await create.run({
      role: chosenRole,
      subject: { type: subjectType, id: subjectId.trim() },
      namespacePattern: pattern.trim() || "**",
      ...(expiresAt && !Number.isNaN(expiresAt.getTime()) ? { expiresAt: expiresAt.toISOString() } : {}),
    });
    if (made) {
      setNotice(`Bound ${made.role} to ${made.subject.type} ${made.subject.id} in ${made.namespacePattern}.`);
      setSubjectId("");
      setExpires("");
      await bindings.reload();
    }
  };

  const del = async (b: Binding) => {
    setNotice("");
    const done = await remove.run(b);
    if (done) {
      setNotice(`Binding of ${done.role} to ${done.subject.type} ${done.subject.id} deleted.`);
      await bindings.reload();
    }
  };

  const suggestions = subjects.data?.[subjectType] ?? [];
  const labelOf = (b: Binding) => subjects.data?.[b.subject.type]?.find((s) => s.id === b.subject.id)?.label;
  const items = bindings.data ?? [];
  return (
    <section aria-labelledby="bindings-title" className="access-section">
      <h2 id="bindings-title">Role bindings</h2>
      <ErrorBanner error={bindings.error} />
      <ErrorBanner error={remove.error} onDismiss={remove.clearError} />
      <Notice>{notice}</Notice>
      <form className="card binding-form" onSubmit={submit} aria-label="New role binding">
        <h3>Bind a role</h3>
        <ErrorBanner error={create.error} onDismiss={create.clearError} />
        <div className="access-grid">
          <Field label="Role" error={errors["/role"]}>
            {(p) => (
              <select {...p} value={chosenRole} onChange={(e) => setRole(e.target.value)}>
                {roles.map((r) => (
                  <option key={r.name} value={r.name}>
                    {r.name}
                    {r.builtin ? " (built-in)" : ""}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Subject type">
            {(p) => (
              <select {...p} value={subjectType} onChange={(e) => setSubjectType(e.target.value as SubjectType)}>
                <option value="key">API key</option>
                <option value="user">user</option>
                <option value="group">group</option>
              </select>
            )}
          </Field>
          <Field
            label="Subject id"
            hint={subjectType === "key" ? "key_…" : subjectType === "user" ? "usr_…" : "the group's id"}
            error={errors["/subject/id"]}
          >
            {(p) => (
              <input
                {...p}
                list="binding-subjects"
                value={subjectId}
                onChange={(e) => setSubjectId(e.target.value)}
                required
                autoComplete="off"
                spellCheck={false}
              />
            )}
          </Field>
          <datalist id="binding-subjects">
            {suggestions.map((s) => (
              <option key={s.id} value={s.id}>
                {s.label}
              </option>
            ))}
          </datalist>
          <Field label="Namespace pattern" hint="** = everywhere; payments/** = payments and below" error={errors["/namespacePattern"]}>
            {(p) => <input {...p} value={pattern} onChange={(e) => setPattern(e.target.value)} spellCheck={false} />}
          </Field>
          <Field label="Expires" hint="optional; your local time" error={errors["/expiresAt"]}>
            {(p) => <input {...p} type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} />}
          </Field>
        </div>
        <button type="submit" className="primary" disabled={create.busy || !chosenRole}>
          {create.busy ? "Binding…" : "Create binding"}
        </button>
      </form>
      {bindings.loading && !bindings.data ? <Loading what="Loading role bindings" /> : null}
      {bindings.data && items.length === 0 ? <Empty>No role bindings.</Empty> : null}
      {items.length > 0 ? (
        <div className="table-wrap access-table-wrap">
          <table aria-label="Role bindings">
            <TableHead columns={["Role", "Subject", "Namespaces", "Expires", "Created"]} actions />
            <tbody>
              {items.map((b) => (
                <tr key={b.id} data-binding-id={b.id}>
                  <td>
                    <code>{b.role}</code>
                  </td>
                  <td>
                    <span className="muted">{b.subject.type}</span> <code>{b.subject.id}</code>
                    {labelOf(b) ? <span className="muted"> ({labelOf(b)})</span> : null}
                  </td>
                  <td>
                    <code>{b.namespacePattern}</code>
                  </td>
                  <td>
                    {b.expiresAt ? <Time at={b.expiresAt} /> : <span className="muted">never</span>}{" "}
                    {b.expired ? <Badge tone="warn">expired</Badge> : null}
                  </td>
                  <td>
                    <Time at={b.createdAt} />
                  </td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      disabled={remove.busy}
                      onClick={() => void del(b)}
                      aria-label={`Delete binding of ${b.role} to ${b.subject.type} ${b.subject.id}`}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
