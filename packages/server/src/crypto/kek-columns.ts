/**
 * Every column holding a blob wrapped by the KEK, with how its wrapping context is rebuilt from its row:
 * a master-key rotation rewraps exactly these. A domain that stores a KEK-wrapped key adds its line here
 * (one primary-key column; the context must be the one its code passes to `kek.wrap`/`unwrap`).
 */
export interface KekWrappedColumn {
  table: string;
  /** The single-column primary key, for stable batch order and the compare-and-set update. */
  key: string;
  column: string;
  /** A `kek_provider`-style column naming the provider, kept up to date by the rewrap. */
  providerColumn?: string;
  context(row: Record<string, unknown>): string;
}

export const kekWrappedColumns: KekWrappedColumn[] = [
  {
    table: "data_keys",
    key: "id",
    column: "wrapped_key",
    providerColumn: "kek_provider",
    context: (r) => `${r.tenant_id}/${r.namespace_id}/${r.id}`,
  },
  {
    table: "audit_hmac_keys",
    key: "tenant_id",
    column: "key_sealed",
    providerColumn: "kek_provider",
    context: (r) => `audit-hmac-key/${r.tenant_id}`,
  },
  {
    table: "audit_signing_keys",
    key: "log_id",
    column: "private_sealed",
    providerColumn: "kek_provider",
    context: (r) => `audit-signing-key/${r.log_id}`,
  },
  { table: "signing_keys", key: "id", column: "private_sealed", context: (r) => `signing-key/${r.id}` },
  {
    table: "alert_channels",
    key: "id",
    column: "wrapped_key",
    providerColumn: "kek_provider",
    context: (r) => `alert-channel/${r.tenant_id}/${r.id}`,
  },
  // Access requests' issued credentials until revealed (src/domains/requests/credentials.ts); null after.
  {
    table: "requests",
    key: "correlation_id",
    column: "credentials_wrapped",
    providerColumn: "credentials_kek",
    context: (r) => `access-request/${r.tenant_id}/${r.correlation_id}`,
  },
  // Change requests' sealed proposals (src/domains/change-requests/service.ts).
  {
    table: "change_requests",
    key: "id",
    column: "wrapped_key",
    providerColumn: "kek_provider",
    context: (r) => `change-request/${r.tenant_id}/${r.id}`,
  },
];
