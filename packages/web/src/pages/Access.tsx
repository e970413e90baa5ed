import { Page } from "../ui.js";

export function AccessPage() {
  return (
    <Page title="Roles and bindings">
      <p className="muted">Coming up.</p>
    </Page>
  );
}
