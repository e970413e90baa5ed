import type { CairnClient, Role, Rule } from "@cairn/sdk";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { useAction } from "../../api.js";
import { Dialog, ErrorBanner, Field } from "../../ui.js";
import { draftOf, emptyRule, fieldErrors, NAME_PATTERN, type RuleDraft, ruleOf } from "./model.js";

/** Create (no `role`) or edit a custom role: description, inherited roles, rules. Saved with PUT /roles/{name}. */
export function RoleEditor({
  open,
  role,
  roles,
  onClose,
  onSaved,
}: {
  open: boolean;
  role?: Role;
  roles: Role[];
  onClose: () => void;
  onSaved: (role: Role) => void;
}) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [inherits, setInherits] = useState<string[]>([]);
  const [rules, setRules] = useState<RuleDraft[]>([emptyRule()]);
  const [local, setLocal] = useState<Record<string, string>>({});
  const save = useAction(
    useCallback(
      (client: CairnClient, target: string, body: { description?: string; rules: Rule[]; inherits: string[] }) =>
        client.roles.put(target, body),
      [],
    ),
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: reset when the dialog opens (or another role is edited)
  useEffect(() => {
    if (!open) return;
    setName(role?.name ?? "");
    setDescription(role?.description ?? "");
    setInherits(role?.inherits ?? []);
    setRules(role ? role.rules.map(draftOf) : [emptyRule()]);
    setLocal({});
    save.clearError();
  }, [open, role?.name]);

  const server = fieldErrors(save.error);
  const errors = { ...server, ...local };
  const setRule = (i: number, patch: Partial<RuleDraft>) => setRules((prev) => prev.map((r, j) => (j === i ? { ...r, ...patch } : r)));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    const target = role?.name ?? name.trim();
    if (!role && !NAME_PATTERN.test(target)) {
      problems["/name"] = "1–64 characters of A–Z, a–z, 0–9, '_', '-', '.', starting with a letter or digit";
    }
    if (!role && roles.some((r) => r.name === target)) problems["/name"] = `a role "${target}" exists already: edit it instead`;
    const body = { description: description.trim() || undefined, rules: rules.map((r, i) => ruleOf(r, i, problems)), inherits };
    setLocal(problems);
    if (Object.keys(problems).length > 0) return;
    const saved = await save.run(target, body);
    if (saved) onSaved(saved);
  };

  const others = roles.filter((r) => r.name !== role?.name);
  return (
    <Dialog title={role ? `Edit role ${role.name}` : "New role"} open={open} onClose={onClose}>
      <form onSubmit={submit} className="role-editor" noValidate>
        <ErrorBanner error={save.error} onDismiss={save.clearError} />
        {!role ? (
          <Field label="Name" hint="letters, digits, '_', '-', '.'" error={errors["/name"]}>
            {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" required />}
          </Field>
        ) : null}
        <Field label="Description" error={errors["/description"]}>
          {(p) => <input {...p} value={description} onChange={(e) => setDescription(e.target.value)} />}
        </Field>
        <fieldset className="role-inherits" aria-describedby={errors["/inherits"] ? "role-inherits-error" : undefined}>
          <legend>Inherits the rules of</legend>
          {others.length === 0 ? <p className="empty">No other roles.</p> : null}
          <div className="role-checks">
            {others.map((r) => (
              <label key={r.name} className="check">
                <input
                  type="checkbox"
                  checked={inherits.includes(r.name)}
                  onChange={(e) => setInherits((prev) => (e.target.checked ? [...prev, r.name] : prev.filter((n) => n !== r.name)))}
                />{" "}
                {r.name}
                {r.builtin ? <span className="muted"> (built-in)</span> : null}
              </label>
            ))}
          </div>
          {errors["/inherits"] ? (
            <div className="field-error" id="role-inherits-error" role="alert">
              {errors["/inherits"]}
            </div>
          ) : null}
        </fieldset>
        <h3 className="role-rules-title">Rules</h3>
        <p className="hint">
          A permission is <code>resource:namespacePattern:action</code>, e.g. <code>configs:payments/**:write</code>; deny always wins.
        </p>
        {rules.map((r, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: rules have no identity but their place
          <fieldset key={i} className="rule-draft">
            <legend>Rule {i + 1}</legend>
            <div className="rule-main">
              <Field label={`Effect of rule ${i + 1}`} error={errors[`/rules/${i}/effect`]}>
                {(p) => (
                  <select {...p} value={r.effect} onChange={(e) => setRule(i, { effect: e.target.value as RuleDraft["effect"] })}>
                    <option value="allow">allow</option>
                    <option value="deny">deny</option>
                  </select>
                )}
              </Field>
              <Field label={`Permission of rule ${i + 1}`} error={errors[`/rules/${i}/permission`] ?? errors[`/rules/${i}`]}>
                {(p) => (
                  <input
                    {...p}
                    className="mono"
                    value={r.permission}
                    placeholder="configs:payments/**:read"
                    onChange={(e) => setRule(i, { permission: e.target.value })}
                    autoComplete="off"
                    spellCheck={false}
                  />
                )}
              </Field>
            </div>
            <details className="rule-conditions" open={Boolean(r.environments || r.sourceIps || r.windowStart || r.windowEnd || r.days)}>
              <summary>Conditions (optional; all must hold)</summary>
              <div className="rule-condition-grid">
                <Field label={`Environments of rule ${i + 1}`} hint="comma-separated">
                  {(p) => <input {...p} value={r.environments} onChange={(e) => setRule(i, { environments: e.target.value })} />}
                </Field>
                <Field label={`Source IPs of rule ${i + 1}`} hint="CIDR blocks, comma-separated">
                  {(p) => <input {...p} value={r.sourceIps} onChange={(e) => setRule(i, { sourceIps: e.target.value })} />}
                </Field>
                <Field label={`Window start of rule ${i + 1}`} hint="HH:MM UTC">
                  {(p) => (
                    <input {...p} value={r.windowStart} placeholder="09:00" onChange={(e) => setRule(i, { windowStart: e.target.value })} />
                  )}
                </Field>
                <Field label={`Window end of rule ${i + 1}`} hint="HH:MM UTC">
                  {(p) => (
                    <input {...p} value={r.windowEnd} placeholder="17:00" onChange={(e) => setRule(i, { windowEnd: e.target.value })} />
                  )}
                </Field>
                <Field label={`Days of rule ${i + 1}`} hint="1 = Monday … 7 = Sunday, comma-separated">
                  {(p) => <input {...p} value={r.days} placeholder="1,2,3,4,5" onChange={(e) => setRule(i, { days: e.target.value })} />}
                </Field>
              </div>
              {errors[`/rules/${i}/conditions`] ? (
                <div className="field-error" role="alert">
                  {errors[`/rules/${i}/conditions`]}
                </div>
              ) : null}
            </details>
            <button type="button" className="link" onClick={() => setRules((prev) => prev.filter((_, j) => j !== i))}>
              Remove rule {i + 1}
            </button>
          </fieldset>
        ))}
        <div className="row role-editor-actions">
          <button type="button" onClick={() => setRules((prev) => [...prev, emptyRule()])}>
            Add rule
          </button>
          <span className="spacer" />
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={save.busy}>
            {save.busy ? "Saving…" : role ? "Save role" : "Create role"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
