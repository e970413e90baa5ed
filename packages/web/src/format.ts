/** `2026-11-25T23:00:00Z` → "3 min ago" / "in 2 h", for tables; the exact time goes in a title attribute. */
export function relativeTime(iso: string | Date | null | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const at = typeof iso === "string" ? Date.parse(iso) : iso.getTime();
  if (Number.isNaN(at)) return "—";
  const seconds = Math.round((at - now) / 1000);
  const abs = Math.abs(seconds);
  const [value, unit] =
    abs < 45
      ? [0, "now"]
      : abs < 3600
        ? [Math.round(abs / 60), "min"]
        : abs < 86_400
          ? [Math.round(abs / 3600), "h"]
          : [Math.round(abs / 86_400), "d"];
  if (unit === "now") return "just now";
  return seconds < 0 ? `${value} ${unit} ago` : `in ${value} ${unit}`;
}

export function absoluteTime(iso: string | Date | null | undefined): string {
  if (!iso) return "";
  const date = typeof iso === "string" ? new Date(iso) : iso;
  return Number.isNaN(date.getTime()) ? "" : `${date.toISOString().replace("T", " ").slice(0, 19)} UTC`;
}

/** A config value as one line for a table cell. */
export function previewValue(value: unknown, max = 80): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
