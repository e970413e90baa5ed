import { Page } from "../ui.js";

export function RequestsPage() {
  return (
    <Page title="Access requests">
      <p className="muted">Coming up.</p>
    </Page>
  );
}
