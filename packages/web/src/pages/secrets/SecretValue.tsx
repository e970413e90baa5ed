import type { CairnClient } from "@cairn/sdk";
import { useCallback, useState } from "react";
import { useAction } from "../../api.js";
import { CopyButton, ErrorBanner } from "../../ui.js";
import { revealSecret, type SecretEntry, showValue } from "./api.js";

/**
 * A secret's value: masked until the user asks. "Reveal" fetches the value in clear (the server records a
 * `secret.reveal` audit event first); "Hide" forgets it again. The value lives only in this component's state.
 */
export function SecretValue({ entry, version = "current" }: { entry: SecretEntry; version?: "current" | "previous" }) {
  const [shown, setShown] = useState<{ value: unknown } | undefined>();
  const reveal = useAction(useCallback((client: CairnClient, e: SecretEntry) => revealSecret(client, e, version), [version]));
  const what = version === "previous" ? `the previous version of ${entry.key}` : entry.key;

  async function onReveal() {
    const result = await reveal.run(entry);
    if (result) setShown({ value: result.value });
  }

  if (shown) {
    const text = showValue(shown.value);
    return (
      <div className="secret-value">
        <pre>{text}</pre>
        <div className="secret-actions">
          <button type="button" onClick={() => setShown(undefined)} aria-label={`Hide ${what}`}>
            Hide
          </button>
          <CopyButton text={text} />
        </div>
      </div>
    );
  }
  return (
    <div className="secret-value">
      <span className="masked" title="masked">
        <span aria-hidden="true">••••••••</span>
        <span className="visually-hidden">masked</span>
      </span>
      <div className="secret-actions">
        <button type="button" onClick={() => void onReveal()} disabled={reveal.busy} aria-label={`Reveal ${what}`}>
          {reveal.busy ? "Revealing…" : "Reveal"}
        </button>
      </div>
      <ErrorBanner error={reveal.error} onDismiss={reveal.clearError} />
    </div>
  );
}
