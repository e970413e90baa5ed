import type { BulkResult } from "@cairn/sdk";
import { type ChangeEvent, type FormEvent, useState } from "react";
import { useAction } from "../../api.js";
import { useClient } from "../../session.js";
import { ErrorBanner, Field, Notice, SelectField } from "../../ui.js";
import { isHeld } from "./EditDialog.js";
import { type ImportPlan, namespaceProblem, planImport } from "./model.js";

const formats = {
  json: { ext: "json", type: "application/json" },
  yaml: { ext: "yaml", type: "application/yaml" },
  dotenv: { ext: "env", type: "text/plain" },
} as const;
type Format = keyof typeof formats;

/** Download the namespace (as resolved in one environment) as JSON, YAML or dotenv. */
export function ExportForm({ namespace, environments, at }: { namespace: string; environments: string[]; at: string | undefined }) {
  const [environment, setEnvironment] = useState(environments[0] ?? "base");
  const [format, setFormat] = useState<Format>("json");
  const download = useAction(async (c, environment: string, format: Format) => {
    const text = await c.export(namespace, { environment, format, at });
    const url = URL.createObjectURL(new Blob([text], { type: formats[format].type }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `${namespace.replaceAll("/", "_")}.${environment}.${formats[format].ext}`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void download.run(environment, format);
  };
  return (
    <form className="card cfg-io" onSubmit={submit} aria-labelledby="cfg-export-title">
      <h2 id="cfg-export-title">Export</h2>
      <ErrorBanner error={download.error} onDismiss={download.clearError} />
      <div className="row">
        <SelectField label="Environment" value={environment} options={environments} onChange={setEnvironment} />
        <Field label="Format">
          {(props) => (
            <select {...props} value={format} onChange={(e) => setFormat(e.target.value as Format)}>
              <option value="json">JSON</option>
              <option value="yaml">YAML</option>
              <option value="dotenv">dotenv</option>
            </select>
          )}
        </Field>
        <div className="field">
          <button type="submit" disabled={download.busy}>
            {download.busy ? "Exporting…" : "Download export"}
          </button>
        </div>
      </div>
      <p className="hint">Resolved values, inherited ones included{at ? ", as of the chosen time" : ""}; secrets stay masked.</p>
    </form>
  );
}

/** Import a JSON file (an export, or `{"key": value}`) into a namespace and environment, all or nothing. */
export function ImportForm({
  namespace,
  environments,
  onImported,
}: {
  namespace: string;
  environments: string[];
  onImported: (namespace: string) => void;
}) {
  const client = useClient();
  const [target, setTarget] = useState(namespace);
  const [environment, setEnvironment] = useState(environments[0] ?? "base");
  const [text, setText] = useState<string>();
  const [fileName, setFileName] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [result, setResult] = useState<string>();
  const [busy, setBusy] = useState(false);

  let plan: ImportPlan | undefined;
  let planError: string | undefined;
  if (text !== undefined) {
    try {
      plan = planImport(text, target, environment);
    } catch (err) {
      planError = err instanceof Error ? err.message : String(err);
    }
  }
  const targetError = namespaceProblem(target);

  const choose = async (event: ChangeEvent<HTMLInputElement>) => {
    setResult(undefined);
    setError(undefined);
    const file = event.target.files?.[0];
    setFileName(file?.name);
    setText(file ? await file.text() : undefined);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!plan || plan.operations.length === 0 || targetError) return;
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      const answer: BulkResult | unknown = await client.bulk(plan.operations);
      if (isHeld(answer)) {
        setResult(`${environment} is protected: change request ${answer.changeRequest.id} waits for approval.`);
      } else {
        const { applied, results } = answer as BulkResult;
        const count = (type: string) => results.filter((r) => r.changeType === type).length;
        setResult(
          `Imported ${applied} key${applied === 1 ? "" : "s"} into ${target} (${environment}): ${count("create")} created, ${count("update")} updated` +
            (plan.skipped.length ? `, ${plan.skipped.length} skipped.` : "."),
        );
      }
      setText(undefined);
      setFileName(undefined);
      onImported(target);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card cfg-io" onSubmit={submit} aria-labelledby="cfg-import-title">
      <h2 id="cfg-import-title">Import</h2>
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
      <Notice>{result}</Notice>
      <Field label="JSON file" hint="A JSON export of a namespace, or an object of key: value." error={planError}>
        {(props) => <input {...props} type="file" accept=".json,application/json" onChange={choose} />}
      </Field>
      <div className="row">
        <Field label="Into namespace" error={targetError}>
          {(props) => <input {...props} value={target} onChange={(e) => setTarget(e.target.value.trim())} />}
        </Field>
        <SelectField label="Environment" value={environment} options={environments} onChange={setEnvironment} />
      </div>
      {plan ? (
        <div className="cfg-plan" aria-live="polite">
          <p>
            {fileName}: {plan.operations.length} key{plan.operations.length === 1 ? "" : "s"} to set
            {plan.operations.length ? ` (${plan.operations.map((o) => o.key).join(", ")})` : ""}.
          </p>
          {plan.skipped.length ? (
            <ul className="muted">
              {plan.skipped.map((s) => (
                <li key={s}>Skipped {s}</li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
      <button type="submit" className="primary" disabled={busy || !plan || plan.operations.length === 0 || Boolean(targetError)}>
        {busy ? "Importing…" : plan ? `Import ${plan.operations.length} key${plan.operations.length === 1 ? "" : "s"}` : "Import"}
      </button>
    </form>
  );
}
