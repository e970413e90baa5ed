import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { ResolvedConfig } from "@cairn/sdk";
import { InvalidArgumentError } from "commander";
import { stringify as toYaml } from "yaml";
import { UsageError } from "../errors.js";
import { writeFileAtomic } from "./files.js";
import type { Logger } from "./log.js";
import { dotenvLine, environmentOf, envVarValue } from "./names.js";
import type { Snapshot } from "./snapshot.js";

/**
 * `--template in:out`. `in` is a template file, or one of the whole-namespace documents `@dotenv`, `@json`,
 * `@yaml`; `out` is the file to keep rendered. Split at the first `:`.
 */
export interface TemplateSpec {
  /** A file path, or the built-in document. */
  source: { file: string } | { document: "dotenv" | "json" | "yaml" };
  output: string;
}

const DOCUMENTS = ["dotenv", "json", "yaml"] as const;

/** commander parser for a repeatable `--template in:out`. */
export function collectTemplate(raw: string, previous: TemplateSpec[] = []): TemplateSpec[] {
  return [...previous, parseTemplateSpec(raw)];
}

export function parseTemplateSpec(raw: string): TemplateSpec {
  const colon = raw.indexOf(":");
  const input = colon < 0 ? "" : raw.slice(0, colon);
  const output = colon < 0 ? "" : raw.slice(colon + 1);
  if (!input || !output) {
    throw new InvalidArgumentError(`expected in:out, e.g. app.env.tmpl:/run/app/app.env or @dotenv:/run/app/.env (got "${raw}")`);
  }
  if (input.startsWith("@")) {
    const document = input.slice(1);
    if (!(DOCUMENTS as readonly string[]).includes(document)) {
      throw new InvalidArgumentError(`unknown document ${input}: use @dotenv, @json or @yaml, or a template file`);
    }
    return { source: { document: document as (typeof DOCUMENTS)[number] }, output: resolve(output) };
  }
  return { source: { file: resolve(input) }, output: resolve(output) };
}

// ---------------------------------------------------------------------------------------------------------
// The template language: text with `{{ key }}` and `{{ key | filter arg | … }}`.
//
//   {{ database.url }}                 the value (strings as they are, other JSON as compact JSON)
//   {{ pool.size | default "10" }}     a fallback when the key has no value (else rendering fails)
//   {{ limits | json }}                JSON (strings quoted)          {{ name | quote }}  a JSON string
//   {{ name | upper }} {{ name | lower }} {{ name | trim }} {{ cert | base64 }}
//   {{! a comment }}                   nothing                        \{{                 a literal {{
// ---------------------------------------------------------------------------------------------------------

interface Filter {
  name: string;
  args: string[];
}

type Segment = { text: string } | { key: string; filters: Filter[]; where: string };

const FILTER_ARITY: Record<string, number> = { default: 1, json: 0, quote: 0, upper: 0, lower: 0, trim: 0, base64: 0 };

export class TemplateError extends Error {
  override name = "TemplateError";
}

export interface CompiledTemplate {
  source: string;
  segments: Segment[];
  /** The keys it uses. */
  keys: string[];
}

export function compileTemplate(text: string, source: string): CompiledTemplate {
  const segments: Segment[] = [];
  let literal = "";
  let i = 0;
  const where = (at: number) => {
    const before = text.slice(0, at);
    const line = before.split("\n").length;
    return `${source}:${line}:${at - before.lastIndexOf("\n")}`;
  };
  while (i < text.length) {
    if (text.startsWith("\\{{", i)) {
      literal += "{{";
      i += 3;
      continue;
    }
    if (!text.startsWith("{{", i)) {
      literal += text[i];
      i++;
      continue;
    }
    const start = i;
    if (text.startsWith("{{!--", i)) {
      const end = text.indexOf("--}}", i + 5);
      if (end < 0) throw new TemplateError(`${where(start)}: comment {{!-- is not closed with --}}`);
      i = end + 4;
      continue;
    }
    const end = text.indexOf("}}", i + 2);
    if (end < 0) throw new TemplateError(`${where(start)}: {{ is not closed with }}`);
    const body = text.slice(i + 2, end);
    i = end + 2;
    if (body.startsWith("!")) continue;
    if (literal) segments.push({ text: literal });
    literal = "";
    segments.push({ ...parseExpression(body, where(start)), where: where(start) });
  }
  if (literal) segments.push({ text: literal });
  const keys = [...new Set(segments.flatMap((s) => ("key" in s ? [s.key] : [])))];
  return { source, segments, keys };
}

function parseExpression(body: string, where: string): { key: string; filters: Filter[] } {
  const tokens = tokenize(body, where);
  const key = tokens.shift();
  if (key?.kind !== "word") throw new TemplateError(`${where}: expected a key name in {{ }}, e.g. {{ database.url }}`);
  if (!/^[A-Za-z0-9_.-]{1,256}$/.test(key.text)) throw new TemplateError(`${where}: "${key.text}" is not a key name`);
  const filters: Filter[] = [];
  while (tokens.length > 0) {
    const bar = tokens.shift();
    if (bar?.kind !== "pipe") throw new TemplateError(`${where}: expected | before "${bar?.text}"`);
    const name = tokens.shift();
    if (name?.kind !== "word") throw new TemplateError(`${where}: expected a filter name after |`);
    const arity = FILTER_ARITY[name.text];
    if (arity === undefined) {
      throw new TemplateError(`${where}: unknown filter "${name.text}" (filters: ${Object.keys(FILTER_ARITY).join(", ")})`);
    }
    const args: string[] = [];
    while (tokens.length > 0 && tokens[0]?.kind !== "pipe") args.push((tokens.shift() as Token).text);
    if (args.length !== arity) throw new TemplateError(`${where}: filter ${name.text} takes ${arity} argument${arity === 1 ? "" : "s"}`);
    filters.push({ name: name.text, args });
  }
  return { key: key.text, filters };
}

interface Token {
  kind: "word" | "string" | "pipe";
  text: string;
}

function tokenize(body: string, where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < body.length) {
    const c = body[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "|") {
      tokens.push({ kind: "pipe", text: "|" });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < body.length && body[j] !== '"') j += body[j] === "\\" ? 2 : 1;
      if (j >= body.length) throw new TemplateError(`${where}: string not closed`);
      try {
        tokens.push({ kind: "string", text: JSON.parse(body.slice(i, j + 1)) as string });
      } catch {
        throw new TemplateError(`${where}: bad escape in ${body.slice(i, j + 1)}`);
      }
      i = j + 1;
    } else {
      const m = /^[^\s|"]+/.exec(body.slice(i));
      const word = m?.[0] ?? c;
      tokens.push({ kind: "word", text: word });
      i += word.length;
    }
  }
  return tokens;
}

/** Renders with the snapshot's items; fails on a key with no value (and no default), or a masked secret. */
export function renderTemplate(template: CompiledTemplate, items: ReadonlyMap<string, ResolvedConfig>, revealed: boolean): string {
  let out = "";
  for (const segment of template.segments) {
    if ("text" in segment) {
      out += segment.text;
      continue;
    }
    const item = items.get(segment.key);
    if (item?.secret && !revealed) {
      throw new TemplateError(`${segment.where}: ${segment.key} is a secret the agent's credential may not reveal`);
    }
    let value: unknown = item?.value;
    for (const filter of segment.filters) value = applyFilter(filter, value);
    if (value === undefined) {
      throw new TemplateError(`${segment.where}: ${segment.key} has no value (add a fallback: {{ ${segment.key} | default "…" }})`);
    }
    out += envVarValue(value);
  }
  return out;
}

function applyFilter(filter: Filter, value: unknown): unknown {
  if (filter.name === "default") return value === undefined || value === null ? filter.args[0] : value;
  if (value === undefined) return undefined;
  const text = envVarValue(value);
  switch (filter.name) {
    case "json":
      return JSON.stringify(value);
    case "quote":
      return JSON.stringify(text);
    case "upper":
      return text.toUpperCase();
    case "lower":
      return text.toLowerCase();
    case "trim":
      return text.trim();
    case "base64":
      return Buffer.from(text, "utf8").toString("base64");
    default:
      return value;
  }
}

// ---------------------------------------------------------------------------------------------------------

interface Loaded {
  spec: TemplateSpec;
  template?: CompiledTemplate;
  /** What was last reported as left out (masked secrets), to warn once per change. */
  skippedNote?: string;
}

/** The agent's templates: rendered after every change, each written only when its text changed. */
export class TemplateRenderer {
  readonly #loaded: Loaded[];
  readonly #log: Logger;

  private constructor(loaded: Loaded[], log: Logger) {
    this.#loaded = loaded;
    this.#log = log;
  }

  /** Reads and compiles the template files; an unreadable or malformed one is a usage error. */
  static async load(specs: TemplateSpec[], log: Logger): Promise<TemplateRenderer> {
    const loaded: Loaded[] = [];
    const outputs = new Set<string>();
    for (const spec of specs) {
      if (outputs.has(spec.output)) throw new UsageError(`two --template options write ${spec.output}`);
      outputs.add(spec.output);
      if (!("file" in spec.source)) {
        loaded.push({ spec });
        continue;
      }
      let text: string;
      try {
        text = await readFile(spec.source.file, "utf8");
      } catch (e) {
        throw new UsageError(`cannot read template ${spec.source.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      try {
        loaded.push({ spec, template: compileTemplate(text, spec.source.file) });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    return new TemplateRenderer(loaded, log);
  }

  get size(): number {
    return this.#loaded.length;
  }

  /** Renders every template; returns the outputs whose content changed (and were rewritten). */
  async render(snapshot: Snapshot): Promise<string[]> {
    const written: string[] = [];
    for (const t of this.#loaded) {
      let text: string;
      try {
        text = this.#text(t, snapshot);
      } catch (e) {
        this.#log.error(`not rendering ${t.spec.output}: ${(e as Error).message}`);
        continue;
      }
      const current = await readFile(t.spec.output, "utf8").catch(() => undefined);
      if (current === text) continue;
      try {
        await writeFileAtomic(t.spec.output, text);
        written.push(t.spec.output);
        this.#log.info(`rendered ${t.spec.output}`);
      } catch (e) {
        this.#log.error(`cannot write ${t.spec.output}: ${(e as Error).message}`);
      }
    }
    return written;
  }

  #text(t: Loaded, snapshot: Snapshot): string {
    if (t.template) return renderTemplate(t.template, new Map(snapshot.items.map((i) => [i.key, i])), snapshot.revealed);
    const document = "document" in t.spec.source ? t.spec.source.document : "json";
    const visible = snapshot.items.filter((i) => snapshot.revealed || !i.secret);
    const skipped = snapshot.items.filter((i) => !snapshot.revealed && i.secret).map((i) => i.key);
    const note = skipped.join(", ");
    if (note && note !== t.skippedNote) this.#log.warn(`${t.spec.output}: left out secrets the credential may not reveal: ${note}`);
    t.skippedNote = note;
    if (document === "dotenv") {
      const { vars } = environmentOf(visible, true);
      return Object.entries(vars)
        .map(([name, value]) => `${dotenvLine(name, value)}\n`)
        .join("");
    }
    const object = Object.fromEntries(visible.map((i) => [i.key, i.value]));
    if (document === "yaml") return visible.length ? toYaml(object) : "{}\n";
    return `${JSON.stringify(object, null, 2)}\n`;
  }
}
