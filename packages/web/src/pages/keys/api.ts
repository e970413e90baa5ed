import type { CairnClient, KeyStatus, KeyUsage, KeyView } from "@cairn/sdk";
import type { Tone } from "../../ui.js";

export const HOUR = 3_600_000;
/** The sparkline covers the last day, hour by hour. */
export const USAGE_HOURS = 24;

export const statusTone: Record<KeyStatus, Tone> = { active: "ok", rotating: "warn", revoked: "danger", expired: "neutral" };

/** Every key of the tenant (the API pages by 1000, oldest first), newest first for the table. */
export async function listAllKeys(client: CairnClient): Promise<KeyView[]> {
  const all: KeyView[] = [];
  let after: string | undefined;
  for (let page = 0; page < 20; page++) {
    const list = await client.keys.list({ limit: 1000, after });
    all.push(...list.items);
    if (!list.nextCursor) break;
    after = list.nextCursor;
  }
  return all.reverse();
}

/** The hourly buckets the API returns (only hours with uses), as one count per hour of the last day. */
export function hourlyCounts(usage: KeyUsage, now = Date.now()): number[] {
  const end = Math.floor(now / HOUR) * HOUR;
  const start = end - (USAGE_HOURS - 1) * HOUR;
  const counts = new Array<number>(USAGE_HOURS).fill(0);
  for (const bucket of usage.items) {
    const i = Math.round((Date.parse(bucket.hour) - start) / HOUR);
    if (i >= 0 && i < USAGE_HOURS) counts[i] = (counts[i] ?? 0) + bucket.count;
  }
  return counts;
}

export const usageSince = (now = Date.now()) => new Date(Math.floor(now / HOUR) * HOUR - (USAGE_HOURS - 1) * HOUR).toISOString();

/** Expiry choices of the create form, in days (0: never). */
export const expiryChoices = [
  { days: 0, label: "Never" },
  { days: 1, label: "In 1 day" },
  { days: 7, label: "In 7 days" },
  { days: 30, label: "In 30 days" },
  { days: 90, label: "In 90 days" },
  { days: 365, label: "In 1 year" },
] as const;

/** Grace period choices of the rotate dialog, in seconds (the field takes any number too). */
export const graceHints = "0 stops the old key at once; 3600 = 1 hour; 86400 = 1 day (at most 30 days).";
