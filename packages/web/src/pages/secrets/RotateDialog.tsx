import type { CairnClient } from "@cairn/sdk";
import { type FormEvent, useCallback, useState } from "react";
import { useAction } from "../../api.js";
import { Dialog, DialogActions, ErrorBanner, Field } from "../../ui.js";
import {
  generatedTypes,
  parseValue,
  type RotateOptions,
  type RotationPolicy,
  rotateSecret,
  type SecretEntry,
  type SecretWriteResult,
  textTypes,
  typeLabels,
} from "./api.js";

export interface RotateTarget {
  entry: SecretEntry;
  policy: RotationPolicy | null;
}

/** "Rotate now": a generated (or typed-in) next value; the current one stays readable for the grace period. */
export function RotateDialog({
  target,
  onClose,
  onRotated,
}: {
  target: RotateTarget | undefined;
  onClose: () => void;
  onRotated: (before: SecretEntry, after: SecretWriteResult) => void;
}) {
  return (
    <Dialog title={target ? `Rotate ${target.entry.key}` : "Rotate"} open={target !== undefined} onClose={onClose}>
      {target ? (
        <RotateForm key={`${target.entry.key}-${target.entry.version}`} target={target} onClose={onClose} onRotated={onRotated} />
      ) : null}
    </Dialog>
  );
}

function RotateForm({
  target,
  onClose,
  onRotated,
}: {
  target: RotateTarget;
  onClose: () => void;
  onRotated: (before: SecretEntry, after: SecretWriteResult) => void;
}) {
  const { entry, policy } = target;
  const canGenerate = generatedTypes.includes(entry.type);
  const [mode, setMode] = useState<"generate" | "enter">(canGenerate ? "generate" : "enter");
  const [text, setText] = useState("");
  const [grace, setGrace] = useState(policy ? String(policy.gracePeriodSeconds) : "");
  const [reason, setReason] = useState("");
  const [valueError, setValueError] = useState<string>();
  const rotate = useAction(
    useCallback(
      (client: CairnClient, options: RotateOptions) =>
        rotateSecret(client, { namespace: entry.namespace, key: entry.key, environment: entry.environment }, options),
      [entry.namespace, entry.key, entry.environment],
    ),
  );

  async function submit(event: FormEvent) {
    event.preventDefault();
    setValueError(undefined);
    const options: RotateOptions = {};
    if (mode === "enter") {
      try {
        options.value = parseValue(entry.type, text, false);
      } catch (err) {
        setValueError((err as Error).message);
        return;
      }
    }
    if (grace.trim() !== "") options.gracePeriodSeconds = Number(grace);
    if (reason.trim() !== "") options.reason = reason.trim();
    const result = await rotate.run(options);
    if (result) onRotated(entry, result);
  }

  return (
    <form onSubmit={submit}>
      <p>
        A new version of <code>{entry.key}</code> ({typeLabels[entry.type]}, environment <code>{entry.environment}</code>) replaces version{" "}
        {entry.version}. The current value stays readable as the previous version for the grace period, so clients can move over.
      </p>
      {entry.resolvedFrom !== entry.environment ? (
        <p className="secrets-warning" role="note">
          This value is inherited from <code>{entry.resolvedFrom}</code>. Rotating it here writes an override in{" "}
          <code>{entry.environment}</code>; <code>{entry.resolvedFrom}</code> keeps its value. To rotate it at its source, choose{" "}
          <code>{entry.resolvedFrom}</code> as the environment.
        </p>
      ) : null}
      {canGenerate ? (
        <fieldset className="choice">
          <legend>New value</legend>
          <label>
            <input type="radio" name="rotate-mode" checked={mode === "generate"} onChange={() => setMode("generate")} /> Generate one
          </label>
          <label>
            <input type="radio" name="rotate-mode" checked={mode === "enter"} onChange={() => setMode("enter")} /> Enter it
          </label>
        </fieldset>
      ) : (
        <p className="hint">{typeLabels[entry.type]} values come from their issuer: enter the new one.</p>
      )}
      {mode === "enter" ? (
        <Field
          label="New value"
          hint={textTypes.includes(entry.type) ? "Stored as text." : "JSON, with the fields this type needs."}
          error={valueError}
        >
          {(p) => <textarea {...p} required spellCheck={false} autoComplete="off" value={text} onChange={(e) => setText(e.target.value)} />}
        </Field>
      ) : null}
      <Field label="Grace period (seconds)" hint="How long the previous value stays readable. Empty: the server's default.">
        {(p) => <input {...p} type="number" min={0} max={31_536_000} step={1} value={grace} onChange={(e) => setGrace(e.target.value)} />}
      </Field>
      <Field label="Reason" hint="Kept in the history and the audit log.">
        {(p) => <input {...p} type="text" maxLength={1024} value={reason} onChange={(e) => setReason(e.target.value)} />}
      </Field>
      <ErrorBanner error={rotate.error} onDismiss={rotate.clearError} />
      <DialogActions onCancel={onClose} busy={rotate.busy} label="Rotate" busyLabel="Rotating…" />
    </form>
  );
}
