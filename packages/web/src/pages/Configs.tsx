import { Page } from "../ui.js";

export function ConfigsPage() {
  return (
    <Page title="Configs">
      <p className="muted">Coming up.</p>
    </Page>
  );
}
