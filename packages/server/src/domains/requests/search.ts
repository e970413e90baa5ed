import * as chrono from "chrono-node";

/**
 * Plain-words search over access requests (issue 8 point 6): "failed requests for AWS yesterday" becomes
 * a structured filter. Deterministic — chrono-node for times, a small fixed vocabulary for the rest, no
 * model. Words it does not understand are returned in `ignored`, never guessed at.
 *
 * Times are UTC. A day-sized expression ("yesterday", "monday", "nov 20") covers that whole day; a
 * relative one ("last week", "past 3 hours", "2 days ago") runs from that instant until now; "since X" /
 * "from X" / "after X" only bound the start, "before X" / "until X" only the end, "between X and Y" both.
 * A weekday names the latest such day that is not in the future. `from` is inclusive, `to` exclusive.
 */
export interface SearchFilter {
  status?: string[];
  provider?: string[];
  principal?: string;
  role?: string;
  from?: string;
  to?: string;
}

export interface InterpretedQuery {
  filter: SearchFilter;
  interpretedAs: string;
  ignored: string[];
}

const STATUS_WORDS: Record<string, string> = {
  failed: "FAILED",
  failing: "FAILED",
  fail: "FAILED",
  failure: "FAILED",
  failures: "FAILED",
  errored: "FAILED",
  error: "FAILED",
  errors: "FAILED",
  broken: "FAILED",
  granted: "SUCCESS",
  successful: "SUCCESS",
  succeeded: "SUCCESS",
  success: "SUCCESS",
  active: "SUCCESS",
  pending: "PENDING",
  queued: "PENDING",
  waiting: "PENDING",
  unapproved: "AWAITING_APPROVAL",
  approved: "APPROVED",
  denied: "DENIED",
  rejected: "DENIED",
  refused: "DENIED",
  revoked: "REVOKED",
  expired: "EXPIRED",
  processing: "PROCESSING",
  running: "PROCESSING",
};

/** Phrases first (longest match), as word sequences. */
const STATUS_PHRASES: [string[], string][] = [
  [["awaiting", "approval"], "AWAITING_APPROVAL"],
  [["waiting", "for", "approval"], "AWAITING_APPROVAL"],
  [["needs", "approval"], "AWAITING_APPROVAL"],
  [["needing", "approval"], "AWAITING_APPROVAL"],
  [["pending", "approval"], "AWAITING_APPROVAL"],
  [["in", "progress"], "PROCESSING"],
];

const PROVIDER_WORDS: Record<string, string> = {
  aws: "aws",
  amazon: "aws",
  iam: "aws",
  azure: "azure",
  microsoft: "azure",
  entra: "azure",
  gcp: "gcp",
  google: "gcp",
  gcloud: "gcp",
  postgres: "postgres",
  postgresql: "postgres",
  database: "postgres",
  databases: "postgres",
  db: "postgres",
  pg: "postgres",
};

/** Words that carry no filter: dropped silently. */
const FILLER = new Set(
  (
    "show me all any the a an of in on at to with that which who were was are is be been and or please give get list find " +
    "what requests request access accesses grants grant cloud my our every each there here just only ones one from for by " +
    "within over during since after before until till between ago last past this"
  ).split(" "),
);

/** Words before a time expression that say how it bounds the range. */
const TIME_PREFIX = new Set([
  "in",
  "the",
  "within",
  "over",
  "during",
  "since",
  "from",
  "after",
  "before",
  "until",
  "till",
  "between",
  "and",
  "on",
  "at",
]);

const DAY = 86_400_000;
const startOfDay = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
const RELATIVE = /^(last|past|previous)\b|\bago$/;

interface Token {
  word: string;
  start: number;
  end: number;
  used: boolean;
}

function tokenize(q: string): Token[] {
  const out: Token[] = [];
  for (const m of q.matchAll(/[^\s,;]+/g)) {
    const raw = m[0];
    // Trailing sentence punctuation is not part of a word (an e-mail address keeps its inner dots).
    const word = raw.replace(/[?!.:]+$/, "").replace(/^["'(]+|["')]+$/g, "");
    if (word) out.push({ word, start: m.index, end: m.index + raw.length, used: false });
  }
  return out;
}

/** Marks the time expressions as used and returns the range they say. */
function parseTimes(q: string, tokens: Token[], now: Date): { from?: Date; to?: Date } {
  const results = chrono.parse(q, { instant: now, timezone: "UTC" }, { forwardDate: false });
  let from: Date | undefined;
  let to: Date | undefined;
  const lower = q.toLowerCase();
  for (const r of results) {
    const text = r.text.toLowerCase();
    const inside = tokens.filter((t) => t.start >= r.index && t.end <= r.index + r.text.length + 1);
    const first = inside[0] ? tokens.indexOf(inside[0]) : tokens.findIndex((t) => t.start >= r.index);
    const prefixes: string[] = [];
    for (let i = first - 1; i >= 0 && i >= first - 2; i--) {
      const t = tokens[i] as Token;
      if (!TIME_PREFIX.has(t.word.toLowerCase())) break;
      prefixes.push(t.word.toLowerCase());
      t.used = true;
    }
    for (const t of inside) t.used = true;
    const has = (w: string) => prefixes.includes(w);
    const between = has("between") || (has("and") && /\bbetween\b/.test(lower.slice(0, r.index)));

    // The range this expression names: an instant until now (relative), or a whole day (casual or calendar).
    let lo: Date;
    let hi: Date | undefined;
    const start = r.start.date();
    if (RELATIVE.test(text)) {
      lo = start;
      hi = undefined;
    } else if (text === "this week" || text === "this month") {
      const today = startOfDay(now);
      lo =
        text === "this week"
          ? new Date(today.getTime() - ((today.getUTCDay() + 6) % 7) * DAY)
          : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
      hi = undefined;
    } else if (r.start.isCertain("hour")) {
      lo = start;
      hi = r.end?.date();
    } else {
      let day = startOfDay(start);
      // A weekday on its own means the last one, not the coming one.
      if (!r.start.isCertain("day") && r.start.isCertain("weekday") && day.getTime() > startOfDay(now).getTime()) {
        day = new Date(day.getTime() - 7 * DAY);
      }
      lo = day;
      hi = r.end ? new Date(startOfDay(r.end.date()).getTime() + DAY) : new Date(day.getTime() + DAY);
    }

    if (has("since") || has("from") || (has("after") && !hi)) from = lo;
    else if (has("after")) from = hi;
    else if (has("before")) to = lo;
    else if (has("until") || has("till")) to = hi ?? lo;
    else if (between && from !== undefined && has("and")) to = hi ?? lo;
    else if (between) from = lo;
    else {
      from = lo;
      to = hi;
    }
  }
  return { from, to };
}

const quote = (v: string) => (/^[A-Za-z0-9_.@:/-]+$/.test(v) ? v : JSON.stringify(v));

/** Turns a plain-words query into a filter; `now` anchors every relative time (UTC). */
export function interpretQuery(q: string, now: Date): InterpretedQuery {
  const text = q.slice(0, 500);
  const tokens = tokenize(text);
  const { from, to } = parseTimes(text, tokens, now);
  const status: string[] = [];
  const provider: string[] = [];
  let principal: string | undefined;
  let role: string | undefined;
  const add = (list: string[], v: string) => {
    if (!list.includes(v)) list.push(v);
  };
  const known = (w: string) => w in STATUS_WORDS || w in PROVIDER_WORDS || FILLER.has(w);

  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (t.used) continue;
    const w = t.word.toLowerCase();
    const next = tokens[i + 1];
    const phrase = STATUS_PHRASES.find(([words]) =>
      words.every((pw, k) => tokens[i + k] !== undefined && !tokens[i + k]?.used && tokens[i + k]?.word.toLowerCase() === pw),
    );
    if (phrase) {
      add(status, phrase[1]);
      for (let k = 0; k < phrase[0].length; k++) (tokens[i + k] as Token).used = true;
      i += phrase[0].length - 1;
      continue;
    }
    // role admin · role=admin · role:admin · with role admin
    const inlineRole = /^role[=:](.+)$/.exec(w);
    if (inlineRole?.[1]) {
      role = t.word.slice(5);
      t.used = true;
      continue;
    }
    if ((w === "role" || w === "roles") && next && !next.used) {
      role = next.word;
      t.used = next.used = true;
      i++;
      continue;
    }
    // for alice · by bob@example.com · from ana · user alice · principal alice · requested by bob
    // ("from monday" never gets here: the time parser took "from" as its prefix)
    if (["for", "by", "from", "user", "principal", "requester"].includes(w) && next && !next.used) {
      const nw = next.word.toLowerCase();
      if (!known(nw)) {
        principal = next.word;
        t.used = next.used = true;
        i++;
        continue;
      }
    }
    if (w in STATUS_WORDS) {
      add(status, STATUS_WORDS[w] as string);
      t.used = true;
    } else if (w in PROVIDER_WORDS) {
      add(provider, PROVIDER_WORDS[w] as string);
      t.used = true;
    } else if (FILLER.has(w) || w === "requested" || w === "role") {
      t.used = true;
    }
  }

  const filter: SearchFilter = {
    ...(status.length ? { status } : {}),
    ...(provider.length ? { provider } : {}),
    ...(principal ? { principal } : {}),
    ...(role ? { role } : {}),
    ...(from ? { from: from.toISOString() } : {}),
    ...(to ? { to: to.toISOString() } : {}),
  };
  const ignored = tokens.filter((t) => !t.used).map((t) => t.word);
  return { filter, interpretedAs: describe(filter), ignored };
}

/** The filter in words, e.g. `FAILED requests on aws for alice received 2026-11-24T00:00:00.000Z – 2026-11-25T00:00:00.000Z`. */
export function describe(f: SearchFilter): string {
  const parts = [`${f.status ? `${f.status.join(" or ")} ` : ""}requests`];
  if (f.provider) parts.push(`on ${f.provider.join(" or ")}`);
  if (f.principal) parts.push(`for ${quote(f.principal)}`);
  if (f.role) parts.push(`with role ${quote(f.role)}`);
  if (f.from && f.to) parts.push(`received ${f.from} – ${f.to}`);
  else if (f.from) parts.push(`received since ${f.from}`);
  else if (f.to) parts.push(`received before ${f.to}`);
  return parts.join(" ");
}
