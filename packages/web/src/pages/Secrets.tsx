import { Page } from "../ui.js";

export function SecretsPage() {
  return (
    <Page title="Secrets">
      <p className="muted">Coming up.</p>
    </Page>
  );
}
