import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { pinnedLookup, resolveTarget } from "./ssrf.js";

export interface HttpOptions {
  allowPrivate: boolean;
  timeoutMs: number;
}

export interface HttpResult {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: string;
}

const MAX_RESPONSE_BYTES = 64 * 1024;

/** Why a request failed, naming the host only: a webhook URL's path or query is often its secret. */
function describe(e: NodeJS.ErrnoException, host: string): string {
  switch (e.code) {
    case "ECONNREFUSED":
      return `connection refused by ${host}`;
    case "ECONNRESET":
      return `connection reset by ${host}`;
    case "ETIMEDOUT":
      return `connection to ${host} timed out`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `${host} is unreachable`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot resolve ${host}`;
  }
  if (e.code?.startsWith("ERR_TLS") || e.code?.includes("CERT") || e.code?.startsWith("ERR_SSL"))
    return `TLS error with ${host} (${e.code})`;
  return e.code ? `request to ${host} failed (${e.code})` : `request to ${host} failed`;
}

/**
 * POSTs to an alert target over node:http(s): the host's addresses are checked against the SSRF guard
 * first and the connection goes to exactly those addresses; redirects are not followed; the whole
 * exchange is bounded by `timeoutMs`. Errors name the host, never the URL.
 */
export async function guardedPost(
  rawUrl: string,
  body: string,
  headers: Record<string, string>,
  options: HttpOptions,
): Promise<HttpResult> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new Error("the target URL is not valid");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`the target URL must be http or https, not ${url.protocol}`);
  const target = await resolveTarget(url, options.allowPrivate);
  const host = target.host;
  const transport = url.protocol === "https:" ? https : http;
  return new Promise<HttpResult>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      fn();
    };
    const req = transport.request(
      {
        protocol: url.protocol,
        hostname: host,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: "POST",
        headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
        lookup: pinnedLookup(target) as never,
        ...(url.protocol === "https:" && !isIP(host) ? { servername: host } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          if (size < MAX_RESPONSE_BYTES) chunks.push(chunk);
          size += chunk.length;
        });
        res.on("end", () =>
          finish(() =>
            resolve({
              status: res.statusCode ?? 0,
              statusText: res.statusMessage ?? "",
              headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")])),
              body: Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString("utf8"),
            }),
          ),
        );
        res.on("error", (e) => finish(() => reject(new Error(describe(e, host)))));
      },
    );
    const deadline = setTimeout(() => {
      finish(() => reject(new Error(`no answer from ${host} within ${options.timeoutMs} ms`)));
      req.destroy();
    }, options.timeoutMs);
    req.on("error", (e: NodeJS.ErrnoException) => finish(() => reject(new Error(describe(e, host)))));
    req.end(body);
  });
}

/** The one-line reason a non-2xx answer failed a delivery. */
export function statusError(result: HttpResult, host: string): string {
  const hint = result.status >= 300 && result.status < 400 ? " (redirects are not followed)" : "";
  return `${host} answered HTTP ${result.status}${result.statusText ? ` ${result.statusText}` : ""}${hint}`;
}
