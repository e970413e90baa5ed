import { Page } from "../ui.js";

export function AuditPage() {
  return (
    <Page title="Audit">
      <p className="muted">Coming up.</p>
    </Page>
  );
}
