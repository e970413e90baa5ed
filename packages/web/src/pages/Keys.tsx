import { Page } from "../ui.js";

export function KeysPage() {
  return (
    <Page title="API keys">
      <p className="muted">Coming up.</p>
    </Page>
  );
}
