import type { Settings } from "../../../settings.js";
import { awsOptionsFromSettings, createAwsProvider } from "./aws.js";
import { azureOptionsFromSettings, createAzureProvider } from "./azure.js";
import { createGcpProvider, gcpOptionsFromSettings } from "./gcp.js";
import { createPostgresProvider } from "./postgres.js";
import type { AccessProvider, ProviderName } from "./types.js";

export const providerNames: readonly ProviderName[] = ["aws", "azure", "gcp", "postgres"];

export type ProviderRegistry = Partial<Record<ProviderName, AccessProvider>>;

/**
 * The providers this server can grant with, from its settings. A provider left out is "not configured":
 * requests for it are refused at intake (400) rather than queued for a worker that cannot serve them.
 * Cloud adapters (H6) add one line each below.
 */
export function providersFromSettings(settings: Settings): ProviderRegistry {
  const registry: ProviderRegistry = {};
  if (settings.accessPostgresUrl) registry.postgres = createPostgresProvider({ url: settings.accessPostgresUrl });
  if (settings.awsEnabled) registry.aws = createAwsProvider(awsOptionsFromSettings(settings));
  if (settings.azureTenantId && settings.azureClientId && settings.azureClientSecret) {
    registry.azure = createAzureProvider(azureOptionsFromSettings(settings));
  }
  if (settings.gcpCredentialsFile || settings.gcpAccessToken) registry.gcp = createGcpProvider(gcpOptionsFromSettings(settings));
  return registry;
}
