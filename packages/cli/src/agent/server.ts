import { chmod, lstat, unlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { ConfigList, ResolvedConfig } from "@cairn/sdk";
import { InvalidArgumentError } from "commander";
import { stringify as toYaml } from "yaml";
import type { Logger } from "./log.js";
import { dotenvLine, envVarName, MASKED } from "./names.js";
import type { Snapshot } from "./snapshot.js";

/**
 * The agent's local read API: the server's `GET /api/v1/configs/{ns}/{key}` and `GET /api/v1/configs/{ns}`
 * (same JSON, ETags, `If-None-Match`, masking, `?reveal=true`, `?prefix=`, `?format=json|yaml|dotenv`),
 * answered from memory, plus `/health` and `/ready`. Every answer says `X-Cairn-Stale: true|false`.
 *
 * Differences, by design: `?environment=` defaults to the agent's environment (and another is a 404); it
 * serves current values only (`?version=`, `?at=` and history are for the server); no credential is asked
 * (bind it to loopback or a 0600 socket: whoever reaches it reads what the agent's key may read); a local
 * `?reveal=true` is not audited again (the agent's own reveal was, when it read the secret).
 */
export interface AgentState {
  snapshot: Snapshot;
  stale: boolean;
  /** It has values to serve (from the server or the disk cache). */
  ready: boolean;
  mode: string;
  lastError: string | undefined;
}

export type ListenSpec = { host: string; port: number } | { socket: string };

/** `--listen`: `host:port`, `[v6]:port`, or a bare port (on 127.0.0.1). */
export function listenAddress(raw: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(raw) ?? /^()()(\d{1,5})$/.exec(raw);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new InvalidArgumentError("expected host:port, e.g. 127.0.0.1:7070");
  return { host: m[1] || m[2] || "127.0.0.1", port };
}

export interface AgentServer {
  /** `http://host:port` or `unix:/path`. */
  address: string;
  close(): Promise<void>;
}

export async function startAgentServer(listen: ListenSpec, state: () => AgentState, log: Logger): Promise<AgentServer> {
  let counter = 0;
  const server = createServer((request, response) => {
    const requestId = `agent-${++counter}`;
    try {
      handle(request, response, state(), requestId);
    } catch (e) {
      log.error(`request ${request.method} ${request.url}: ${(e as Error).message}`);
      if (!response.headersSent) problem(response, requestId, state().stale, "internal", 500, "the agent failed to answer");
    }
  });
  server.keepAliveTimeout = 5_000;

  if ("socket" in listen) {
    await removeStaleSocket(listen.socket);
    await listenOn(server, () => server.listen(listen.socket));
    // Whoever can connect reads the values: the owner only.
    await chmod(listen.socket, 0o600);
  } else {
    await listenOn(server, () => server.listen(listen.port, listen.host));
  }
  const bound = server.address();
  const address =
    "socket" in listen
      ? `unix:${listen.socket}`
      : typeof bound === "object" && bound
        ? `http://${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`
        : String(bound);

  return {
    address,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      if ("socket" in listen) await unlink(listen.socket).catch(() => undefined);
    },
  };
}

function listenOn(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.once("listening", () => {
      server.off("error", reject);
      resolve();
    });
    start();
  });
}

/** A socket file left by an agent that did not shut down cleanly; anything else there is not ours to remove. */
async function removeStaleSocket(path: string): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (info?.isSocket()) await unlink(path);
}

const TITLES = {
  bad_request: "Bad request",
  forbidden: "Forbidden",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  unavailable: "Service unavailable",
  internal: "Internal server error",
} as const;

function problem(
  response: ServerResponse,
  requestId: string,
  stale: boolean,
  code: keyof typeof TITLES,
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): void {
  const body = { type: `urn:cairn:problem:${code}`, title: TITLES[code], status, detail, code, requestId };
  response.writeHead(status, { "content-type": "application/problem+json", "x-cairn-stale": String(stale), ...headers });
  response.end(JSON.stringify(body));
}

const etagOf = (environment: string, resolvedFrom: string, version: number) =>
  environment === resolvedFrom ? `"${version}"` : `"${resolvedFrom}.${version}"`;

function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}

const visible = (item: ResolvedConfig, reveal: boolean): ResolvedConfig => (item.secret && !reveal ? { ...item, value: MASKED } : item);

function handle(request: IncomingMessage, response: ServerResponse, s: AgentState, requestId: string) {
  const fail = (code: keyof typeof TITLES, status: number, detail: string, headers?: Record<string, string>) =>
    problem(response, requestId, s.stale, code, status, detail, headers);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return fail("method_not_allowed", 405, "the agent serves reads only (GET); write through the server", { allow: "GET, HEAD" });
  }
  const url = new URL(request.url ?? "/", "http://agent");
  const send = (status: number, body: string, type: string, headers: Record<string, string> = {}) => {
    response.writeHead(status, {
      "content-type": type,
      "cache-control": "private, no-cache",
      "x-cairn-stale": String(s.stale),
      ...(s.snapshot.revision !== undefined ? { "x-cairn-revision": String(s.snapshot.revision) } : {}),
      ...headers,
    });
    response.end(body);
  };
  const json = "application/json; charset=utf-8";

  if (url.pathname === "/health") return send(200, JSON.stringify({ status: "ok" }), json);
  if (url.pathname === "/ready") {
    if (!s.ready)
      return fail("unavailable", 503, `no values yet: the server has not answered (${s.lastError ?? "connecting"}) and there is no cache`);
    const { namespace, environment, revision, syncedAt, items } = s.snapshot;
    return send(
      200,
      JSON.stringify({ status: "ready", stale: s.stale, mode: s.mode, namespace, environment, revision, syncedAt, keys: items.length }),
      json,
    );
  }

  const m = /^\/api\/v1\/configs\/([^/]+)(?:\/([^/]+))?(\/.*)?$/.exec(url.pathname);
  if (!m) return fail("not_found", 404, `no route ${request.method} ${url.pathname}`);
  let namespace: string;
  let key: string | undefined;
  try {
    namespace = decodeURIComponent(m[1] as string);
    key = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  } catch {
    return fail("bad_request", 400, "the path is not valid percent-encoding");
  }
  if (m[3] !== undefined || key === "history" || key === "validate") {
    return fail("not_found", 404, `the agent serves current values only: ask the server for ${url.pathname}`);
  }
  const { snapshot } = s;
  if (namespace !== snapshot.namespace) {
    return fail("not_found", 404, `this agent serves namespace "${snapshot.namespace}" only (asked for "${namespace}")`);
  }
  const q = url.searchParams;
  const environment = q.get("environment") ?? snapshot.environment;
  if (environment !== snapshot.environment) {
    return fail("not_found", 404, `this agent serves environment "${snapshot.environment}" only (asked for "${environment}")`);
  }
  for (const unsupported of ["version", "at"]) {
    if (q.has(unsupported)) return fail("bad_request", 400, `the agent serves current values only (no ?${unsupported}=): ask the server`);
  }
  const revealParam = q.get("reveal");
  if (revealParam !== null && revealParam !== "true" && revealParam !== "false") {
    return fail("bad_request", 400, "reveal must be true or false");
  }
  const reveal = revealParam === "true";
  if (!s.ready)
    return fail("unavailable", 503, `no values yet: the server has not answered (${s.lastError ?? "connecting"}) and there is no cache`);
  const refuseReveal = () =>
    fail("forbidden", 403, `the agent's credential may not reveal secrets in ${snapshot.namespace}: it holds them masked`);

  if (key !== undefined) {
    const item = snapshot.items.find((i) => i.key === key);
    if (!item) return fail("not_found", 404, `${namespace}/${key} has no value in ${environment}`);
    if (reveal && item.secret && !snapshot.revealed) return refuseReveal();
    const etag = etagOf(item.environment, item.resolvedFrom, item.version);
    if (matchesIfNoneMatch(request.headers["if-none-match"], etag)) return send(304, "", json, { etag });
    return send(200, JSON.stringify(visible(item, reveal)), json, { etag });
  }

  const format = q.get("format") ?? "json";
  if (format !== "json" && format !== "yaml" && format !== "dotenv") return fail("bad_request", 400, "format must be json, yaml or dotenv");
  const prefix = q.get("prefix") ?? "";
  const items = snapshot.items.filter((i) => i.key.startsWith(prefix));
  if (reveal && !snapshot.revealed && items.some((i) => i.secret)) return refuseReveal();
  const shown = items.map((i) => visible(i, reveal));
  if (format === "json") {
    const list: ConfigList = { namespace: snapshot.namespace, environment: snapshot.environment, items: shown };
    return send(200, JSON.stringify(list), json);
  }
  if (format === "yaml") {
    const text = shown.length ? toYaml(Object.fromEntries(shown.map((i) => [i.key, i.value]))) : "{}\n";
    return send(200, text, "application/yaml; charset=utf-8");
  }
  return send(200, shown.map((i) => `${dotenvLine(envVarName(i.key), i.value)}\n`).join(""), "text/plain; charset=utf-8");
}
