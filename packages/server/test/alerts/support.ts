import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import type { TestApp } from "../helper.js";

/** Anything that calls the API as the admin (a test app, or a hand-built one). */
export type Caller = Pick<TestApp, "call">;

/** Settings for alert tests: local receivers allowed, fast polls and retries. */
export const alertEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  CAIRN_ALERTS_ALLOW_PRIVATE_TARGETS: "true",
  CAIRN_ALERTS_POLL_MS: "50",
  CAIRN_ALERTS_RETRY_BASE_MS: "100",
  CAIRN_ALERTS_RETRY_MAX_MS: "400",
  CAIRN_ALERTS_TIMEOUT_MS: "3000",
  ...extra,
});

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond` holds (a guard against hanging, not a timing assertion). */
export async function until(
  what: string,
  cond: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
  detail?: () => unknown,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}${detail ? `: ${JSON.stringify(await detail())}` : ""}`);
    await sleep(20);
  }
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A local HTTP receiver for webhook and Slack deliveries (node:http). `status` is what it answers;
 * `down()` closes its socket (connections are refused) and `up()` listens again on the same port.
 */
export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  status: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(options: { port?: number; listening?: boolean } = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const receiver = { status: 200 } as Receiver;
  let server: http.Server | undefined;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          requests.push({
            method: req.method ?? "",
            path: req.url ?? "",
            headers: req.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          });
          res.writeHead(receiver.status, { "content-type": "text/plain" }).end(receiver.status < 300 ? "ok" : "unavailable");
        });
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        server = s;
        resolve((s.address() as AddressInfo).port);
      });
    });
  const stop = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  };
  let port = await listen(options.port ?? 0);
  if (options.listening === false) await stop();
  Object.assign(receiver, {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    down: stop,
    up: async () => {
      if (!server) port = await listen(port);
    },
    close: stop,
  });
  return receiver;
}

/** Checks `X-Cairn-Signature: t=<ts>,v1=<hex>` the way a receiver would (HMAC-SHA256 of "<t>.<body>"). */
export function verifySignature(secret: string, header: string | string[] | undefined, body: string, toleranceSeconds = 300): boolean {
  if (typeof header !== "string") return false;
  const parts = Object.fromEntries(header.split(",").map((kv) => kv.split("=") as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1 || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(parts.v1, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The text of a quoted-printable body (how nodemailer sends long lines). */
export const decodeQuotedPrintable = (raw: string) =>
  Buffer.from(
    raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    "latin1",
  ).toString("utf8");

export interface SmtpMessage {
  from: string;
  to: string[];
  user?: string;
  raw: string;
}

/** A real SMTP server (the `smtp-server` package) that requires AUTH and keeps what it receives. */
export async function startSmtp(credentials: { username: string; password: string }) {
  const messages: SmtpMessage[] = [];
  const failedLogins: string[] = [];
  const server = new SMTPServer({
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    authMethods: ["PLAIN", "LOGIN"],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === credentials.username && auth.password === credentials.password) return callback(null, { user: auth.username });
      failedLogins.push(auth.username ?? "");
      return callback(new Error("Invalid username or password"));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === "string" ? session.user : undefined,
          raw: Buffer.concat(chunks).toString("utf8"),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    messages,
    failedLogins,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A config write in a namespace: a `config.create`/`config.update` audit event to fire rules with. */
export async function writeConfig(cairn: Caller, namespace: string, key = "k", value: unknown = 1) {
  const res = await cairn.call("PUT", `/api/v1/configs/${encodeURIComponent(namespace)}/${key}`, { value });
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT config → ${res.status}: ${res.text}`);
  return res;
}

export async function createChannel(cairn: Caller, body: Record<string, unknown>) {
  const res = await cairn.call("POST", "/api/v1/alerts/channels", body);
  if (res.status !== 201) throw new Error(`POST /alerts/channels → ${res.status}: ${res.text}`);
  return res.json as { id: string; [k: string]: unknown };
}

export async function createRule(cairn: Caller, body: Record<string, unknown>) {
  const res = await cairn.call("POST", "/api/v1/alerts/rules", body);
  if (res.status !== 201) throw new Error(`POST /alerts/rules → ${res.status}: ${res.text}`);
  return res.json as { id: string; [k: string]: unknown };
}

/** A rule that fires on every config write under `prefix/**`, sent to these channels only. */
export const configRule = (name: string, prefix: string, channels: string[], extra: Record<string, unknown> = {}) => ({
  name,
  events: ["config.*"],
  match: [{ namespaces: [`${prefix}/**`] }],
  channels,
  ...extra,
});

export async function deliveries(cairn: Caller, query = ""): Promise<any[]> {
  const res = await cairn.call("GET", `/api/v1/alerts/deliveries${query}`);
  if (res.status !== 200) throw new Error(`GET /alerts/deliveries → ${res.status}: ${res.text}`);
  return res.json.items;
}
