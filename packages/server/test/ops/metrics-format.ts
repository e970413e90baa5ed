// Strict reading of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details): every line is checked
// against the grammar, families are contiguous and typed before their first sample, series are unique, and
// histograms are consistent (cumulative buckets, +Inf bucket = _count). Throws on the first violation.

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\[\\"n])*)"\s*(,|(?=\}))/y;
// Go's strconv.ParseFloat, which Prometheus uses: special values in any case (prom-client writes "Nan").
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]?(?:inf|infinity)|nan)$/i;
const TIMESTAMP = /^-?\d+$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help?: string;
  samples: Sample[];
}

const unescapeLabel = (v: string) => v.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));

function parseValue(raw: string, line: string): number {
  if (!VALUE.test(raw)) throw new Error(`not a float value "${raw}" in: ${line}`);
  if (/inf/i.test(raw)) return raw.startsWith("-") ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  return /nan/i.test(raw) ? Number.NaN : Number(raw);
}

/** The family a sample name belongs to, given the declared families (histogram/summary suffixes). */
function familyOf(name: string, types: Map<string, string>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === "histogram" || (t === "summary" && suffix !== "_bucket")) return base;
    }
  }
  return name;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the exposition must end with a line feed");
  const families = new Map<string, Family>();
  const types = new Map<string, string>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: string | undefined;

  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: types.get(name) ?? "untyped", samples: [] };
      families.set(name, f);
    }
    return f;
  };

  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest = ""] = m as unknown as [string, string, string, string | undefined];
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      if (kind === "TYPE") {
        if (!TYPES.has(rest.trim())) throw new Error(`unknown type in: ${line}`);
        if (types.has(name)) throw new Error(`a second TYPE line for ${name}`);
        if (families.get(name)?.samples.length) throw new Error(`TYPE of ${name} after its samples`);
        types.set(name, rest.trim());
        family(name).type = rest.trim();
      } else {
        const f = family(name);
        if (f.help !== undefined) throw new Error(`a second HELP line for ${name}`);
        f.help = rest;
      }
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new Error(`a sample line must start with a metric name: ${line}`);
    const name = nameMatch[0];
    let i = name.length;
    const labels: Record<string, string> = {};
    if (line[i] === "{") {
      i++;
      for (;;) {
        while (line[i] === " " || line[i] === "\t") i++;
        if (line[i] === "}") {
          i++;
          break;
        }
        LABEL.lastIndex = i;
        const lm = LABEL.exec(line);
        if (!lm) throw new Error(`bad label set at column ${i} in: ${line}`);
        const [, label, value] = lm as unknown as [string, string, string];
        if (label in labels) throw new Error(`label ${label} given twice in: ${line}`);
        labels[label] = unescapeLabel(value);
        i = LABEL.lastIndex;
      }
    }
    const rest = line.slice(i);
    const parts = rest.trim().split(/[ \t]+/);
    if (!/^[ \t]/.test(rest) || parts.length < 1 || parts.length > 2) throw new Error(`expected " value [timestamp]" in: ${line}`);
    const value = parseValue(parts[0] as string, line);
    if (parts[1] !== undefined && !TIMESTAMP.test(parts[1])) throw new Error(`bad timestamp in: ${line}`);

    const famName = familyOf(name, types);
    if (famName !== current) {
      if (closed.has(famName)) throw new Error(`samples of ${famName} are not contiguous`);
      if (current) closed.add(current);
      current = famName;
    }
    const series = `${name}{${Object.entries(labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(",")}}`;
    if (seen.has(series)) throw new Error(`duplicate series ${series}`);
    seen.add(series);
    family(famName).samples.push({ name, labels, value });
  }

  for (const f of families.values()) {
    if (f.type !== "histogram") continue;
    const groups = new Map<string, { buckets: [number, number][]; count?: number }>();
    for (const s of f.samples) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b)));
      const g = groups.get(key) ?? { buckets: [] };
      groups.set(key, g);
      if (s.name === `${f.name}_bucket`) {
        if (le === undefined) throw new Error(`${f.name}_bucket without le`);
        g.buckets.push([parseValue(le, `le="${le}"`), s.value]);
      } else if (s.name === `${f.name}_count`) g.count = s.value;
    }
    for (const [key, g] of groups) {
      const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
      for (let j = 1; j < sorted.length; j++) {
        if ((sorted[j]?.[1] as number) < (sorted[j - 1]?.[1] as number)) throw new Error(`${f.name}${key}: buckets are not cumulative`);
      }
      const inf = sorted.at(-1);
      if (!inf || inf[0] !== Number.POSITIVE_INFINITY) throw new Error(`${f.name}${key}: no le="+Inf" bucket`);
      if (g.count !== inf[1]) throw new Error(`${f.name}${key}: _count ${g.count} ≠ +Inf bucket ${inf[1]}`);
    }
  }
  return families;
}

/** The value of one series (labels matched exactly), or undefined. */
export function seriesValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(s.labels);
      if (keys.length === Object.keys(labels).length && keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}

/** The sum of every series of `name` whose labels include `labels`. */
export function sumOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
  }
  return sum;
}
