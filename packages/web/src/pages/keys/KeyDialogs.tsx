import type { CairnClient, CreateKeyBody, KeyView } from "@cairn/sdk";
import { type FormEvent, useCallback, useState } from "react";
import { useAction, useApi } from "../../api.js";
import { CopyButton, Dialog, DialogActions, ErrorBanner, Field, Time } from "../../ui.js";
import { expiryChoices, graceHints } from "./api.js";

/** A key as the API hands it out, exactly once (after create or rotate). */
export interface ShownKey {
  title: string;
  key: string;
  name: string;
  note?: string;
}

/** The key in clear, this once: copy it now, Cairn keeps only its hash. */
export function ShownOnceDialog({ shown, onClose }: { shown: ShownKey | undefined; onClose: () => void }) {
  return (
    <Dialog title={shown?.title ?? "API key"} open={shown !== undefined} onClose={onClose}>
      {shown ? (
        <div className="key-once">
          <p className="key-warning" role="note">
            <strong>Copy this key now: it will not be shown again.</strong> Cairn keeps only a hash of it; if it is lost, rotate the key.
          </p>
          <Field label={`API key for ${shown.name}`}>
            {(p) => (
              <input
                {...p}
                className="key-secret"
                readOnly
                spellCheck={false}
                autoComplete="off"
                value={shown.key}
                onFocus={(e) => e.target.select()}
              />
            )}
          </Field>
          {shown.note ? <p className="hint">{shown.note}</p> : null}
          <div className="dialog-actions">
            <CopyButton text={shown.key} label="Copy key" />
            <button type="button" className="primary" onClick={onClose}>
              I have saved it
            </button>
          </div>
        </div>
      ) : null}
    </Dialog>
  );
}

/** Name, roles, expiry and rate limit of a new key. */
export function CreateKeyDialog({
  open,
  onClose,
  onCreated,
}: {
  open: boolean;
  onClose: () => void;
  onCreated: (created: Awaited<ReturnType<CairnClient["keys"]["create"]>>) => void;
}) {
  return (
    <Dialog title="New API key" open={open} onClose={onClose}>
      <CreateKeyForm onClose={onClose} onCreated={onCreated} />
    </Dialog>
  );
}

function CreateKeyForm({
  onClose,
  onCreated,
}: {
  onClose: () => void;
  onCreated: (created: Awaited<ReturnType<CairnClient["keys"]["create"]>>) => void;
}) {
  const roles = useApi((client) => client.roles.list(), []);
  const [name, setName] = useState("");
  const [chosen, setChosen] = useState<string[]>([]);
  const [expiryDays, setExpiryDays] = useState(0);
  const [limit, setLimit] = useState("");
  const [windowSeconds, setWindowSeconds] = useState("60");
  const create = useAction(useCallback((client: CairnClient, body: CreateKeyBody) => client.keys.create(body), []));

  async function submit(event: FormEvent) {
    event.preventDefault();
    const body: CreateKeyBody = { name: name.trim(), roles: chosen };
    if (expiryDays > 0) body.expiresAt = new Date(Date.now() + expiryDays * 86_400_000).toISOString();
    if (limit.trim() !== "") body.rateLimit = { limit: Number(limit), windowSeconds: Number(windowSeconds || "60") };
    const created = await create.run(body);
    if (created) onCreated(created);
  }

  const toggle = (role: string, on: boolean) => setChosen((now) => (on ? [...now, role] : now.filter((r) => r !== role)));

  return (
    <form onSubmit={submit}>
      <Field label="Name" hint="What uses it, e.g. payments-ci.">
        {(p) => <input {...p} required maxLength={128} autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <fieldset className="choice key-roles">
        <legend>Roles</legend>
        {roles.error ? <ErrorBanner error={roles.error} /> : null}
        {roles.data === undefined && !roles.error ? <span className="muted">Loading roles…</span> : null}
        {roles.data?.items.map((role) => (
          <label key={role.name} title={role.description ?? undefined}>
            <input type="checkbox" checked={chosen.includes(role.name)} onChange={(e) => toggle(role.name, e.target.checked)} /> {role.name}
          </label>
        ))}
        {roles.data && chosen.length === 0 ? <span className="hint">No role: the key may do nothing until it gets one.</span> : null}
      </fieldset>
      <Field label="Expires">
        {(p) => (
          <select {...p} value={expiryDays} onChange={(e) => setExpiryDays(Number(e.target.value))}>
            {expiryChoices.map((c) => (
              <option key={c.days} value={c.days}>
                {c.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <div className="row">
        <Field label="Rate limit (requests)" hint="Empty: the server's default.">
          {(p) => <input {...p} type="number" min={1} step={1} value={limit} onChange={(e) => setLimit(e.target.value)} />}
        </Field>
        <Field label="Per window (seconds)">
          {(p) => (
            <input
              {...p}
              type="number"
              min={1}
              max={86_400}
              step={1}
              required={limit.trim() !== ""}
              value={windowSeconds}
              onChange={(e) => setWindowSeconds(e.target.value)}
            />
          )}
        </Field>
      </div>
      <ErrorBanner error={create.error} onDismiss={create.clearError} />
      <DialogActions onCancel={onClose} busy={create.busy} label="Create key" busyLabel="Creating…" />
    </form>
  );
}

/** Rotate with a grace period: a new key now; the old one keeps working (status `rotating`) until the grace ends. */
export function RotateKeyDialog({
  target,
  onClose,
  onRotated,
}: {
  target: KeyView | undefined;
  onClose: () => void;
  onRotated: (rotated: Awaited<ReturnType<CairnClient["keys"]["rotate"]>>) => void;
}) {
  return (
    <Dialog title={target ? `Rotate ${target.name}` : "Rotate key"} open={target !== undefined} onClose={onClose}>
      {target ? <RotateKeyForm key={target.id} target={target} onClose={onClose} onRotated={onRotated} /> : null}
    </Dialog>
  );
}

function RotateKeyForm({
  target,
  onClose,
  onRotated,
}: {
  target: KeyView;
  onClose: () => void;
  onRotated: (rotated: Awaited<ReturnType<CairnClient["keys"]["rotate"]>>) => void;
}) {
  const [grace, setGrace] = useState("3600");
  const rotate = useAction(
    useCallback((client: CairnClient, gracePeriodSeconds: number) => client.keys.rotate(target.id, { gracePeriodSeconds }), [target.id]),
  );
  async function submit(event: FormEvent) {
    event.preventDefault();
    const rotated = await rotate.run(Number(grace));
    if (rotated) onRotated(rotated);
  }
  return (
    <form onSubmit={submit}>
      <p>
        A new key with the same roles and limits replaces <strong>{target.name}</strong> (<code>cairn_{target.prefix}_…</code>). The new key
        is shown once.
      </p>
      <Field label="Grace period (seconds)" hint={`How long the old key keeps working. ${graceHints}`}>
        {(p) => (
          <input {...p} type="number" required min={0} max={2_592_000} step={1} value={grace} onChange={(e) => setGrace(e.target.value)} />
        )}
      </Field>
      <ErrorBanner error={rotate.error} onDismiss={rotate.clearError} />
      <DialogActions onCancel={onClose} busy={rotate.busy} label="Rotate key" busyLabel="Rotating…" />
    </form>
  );
}

/** Revoke, after saying what it means (and warning when it is the key this console is signed in with). */
export function RevokeKeyDialog({
  target,
  signedInWith,
  onClose,
  onRevoked,
}: {
  target: KeyView | undefined;
  signedInWith: string | undefined;
  onClose: () => void;
  onRevoked: (revoked: KeyView) => void;
}) {
  return (
    <Dialog title={target ? `Revoke ${target.name}?` : "Revoke key?"} open={target !== undefined} onClose={onClose}>
      {target ? (
        <RevokeKeyForm key={target.id} target={target} self={signedInWith === target.id} onClose={onClose} onRevoked={onRevoked} />
      ) : null}
    </Dialog>
  );
}

function RevokeKeyForm({
  target,
  self,
  onClose,
  onRevoked,
}: {
  target: KeyView;
  self: boolean;
  onClose: () => void;
  onRevoked: (revoked: KeyView) => void;
}) {
  const revoke = useAction(useCallback((client: CairnClient) => client.keys.revoke(target.id), [target.id]));
  async function confirm() {
    const revoked = await revoke.run();
    if (revoked) onRevoked(revoked);
  }
  return (
    <div>
      <p>
        Every request made with <strong>{target.name}</strong> (<code>cairn_{target.prefix}_…</code>) will be refused (401) within a second.
        This cannot be undone.
      </p>
      {target.lastUsedAt ? (
        <p className="hint">
          Last used <Time at={target.lastUsedAt} />.
        </p>
      ) : null}
      {self ? (
        <p className="key-warning" role="note">
          This is the key this console is signed in with: you will be signed out.
        </p>
      ) : null}
      <ErrorBanner error={revoke.error} onDismiss={revoke.clearError} />
      <div className="dialog-actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="danger" onClick={() => void confirm()} disabled={revoke.busy}>
          {revoke.busy ? "Revoking…" : "Revoke key"}
        </button>
      </div>
    </div>
  );
}
