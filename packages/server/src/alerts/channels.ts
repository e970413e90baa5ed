import { createHmac } from "node:crypto";
import { isIP } from "node:net";
import { type FetchFunction, IncomingWebhook } from "@slack/webhook";
import nodemailer from "nodemailer";
import type { FieldError } from "../errors.js";
import { guardedPost, type HttpOptions, statusError } from "./http.js";
import type { ChannelSecrets } from "./secrets.js";
import { isPrivateAddress, resolveTarget, TargetRefused } from "./ssrf.js";

export const channelTypes = ["slack", "email", "webhook"] as const;
export type ChannelType = (typeof channelTypes)[number];

/** Which settings of each channel type are secret: sealed at rest, accepted on writes, never returned. */
export const secretFieldsOf: Record<ChannelType, readonly string[]> = {
  slack: ["url"],
  webhook: ["url", "secret"],
  email: ["password"],
};

export const emailTlsModes = ["auto", "starttls", "implicit", "none"] as const;
export type EmailTls = (typeof emailTlsModes)[number];

/** A channel ready to send: its settings with the secrets opened (in memory only, for one delivery). */
export interface OpenChannel {
  id: string;
  type: ChannelType;
  config: Record<string, unknown>;
  secrets: ChannelSecrets;
}

export interface SplitConfig {
  /** Stored in clear and shown: nothing secret. */
  config: Record<string, unknown>;
  secrets: ChannelSecrets;
}

const MAX_TEXT = 500;
const EMAIL = /^[^\s@<>(),;:"[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Checks a channel's settings (the whole set: on an update, the stored one merged with the change) and
 * splits them into what may be shown and what is sealed. Unknown fields are refused, so a misspelt
 * `pasword` does not quietly land in clear.
 */
export function validateChannelConfig(type: ChannelType, input: Record<string, unknown>): { split?: SplitConfig; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const err = (field: string, message: string) => errors.push({ path: `/config/${field}`, message });
  const known: Record<ChannelType, string[]> = {
    slack: ["url", "username", "channel", "iconEmoji"],
    webhook: ["url", "secret"],
    email: ["host", "port", "tls", "username", "password", "from", "to"],
  };
  for (const field of Object.keys(input)) {
    if (!known[type].includes(field)) err(field, `unknown setting for a ${type} channel (known: ${known[type].join(", ")})`);
  }
  const text = (field: string, required: boolean, max = MAX_TEXT): string | undefined => {
    const v = input[field];
    if (v === undefined || v === null || v === "") {
      if (required) err(field, "required");
      return undefined;
    }
    if (typeof v !== "string") err(field, "must be a string");
    else if (v.length > max) err(field, `longer than ${max} characters`);
    else if (CONTROL.test(v)) err(field, "must not contain control characters");
    else return v;
    return undefined;
  };
  const url = (field: string): string | undefined => {
    const v = text(field, true, 2048);
    if (v === undefined) return undefined;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      err(field, "not a valid URL");
      return undefined;
    }
    if (u.protocol !== "https:" && u.protocol !== "http:") err(field, "must be an http or https URL");
    else if (!u.hostname) err(field, "has no host");
    else return v;
    return undefined;
  };

  const config: Record<string, unknown> = {};
  const secrets: ChannelSecrets = {};
  switch (type) {
    case "slack": {
      const u = url("url");
      if (u) {
        secrets.url = u;
        config.host = new URL(u).hostname;
      }
      for (const f of ["username", "channel", "iconEmoji"]) {
        const v = text(f, false, 80);
        if (v !== undefined) config[f] = v;
      }
      break;
    }
    case "webhook": {
      const u = url("url");
      if (u) {
        secrets.url = u;
        config.host = new URL(u).hostname;
      }
      const s = text("secret", true, 512);
      if (s !== undefined && s.length < 16) err("secret", "at least 16 characters (e.g. openssl rand -hex 32)");
      else if (s !== undefined) secrets.secret = s;
      break;
    }
    case "email": {
      const host = text("host", true, 253);
      if (host !== undefined && !HOST.test(host) && !isIP(host)) err("host", "not a host name or IP address");
      else if (host !== undefined) config.host = host;
      const tls = input.tls ?? "auto";
      if (typeof tls !== "string" || !(emailTlsModes as readonly string[]).includes(tls)) err("tls", `one of ${emailTlsModes.join(", ")}`);
      else config.tls = tls;
      const port = input.port ?? (tls === "implicit" ? 465 : 587);
      if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) err("port", "an integer from 1 to 65535");
      else config.port = port;
      const username = text("username", false, 256);
      if (username !== undefined) config.username = username;
      const password = text("password", false, 1024);
      if (password !== undefined) secrets.password = password;
      if (password !== undefined && username === undefined) err("username", "required when a password is given");
      const from = text("from", true, 320);
      if (from !== undefined && !EMAIL.test(from)) err("from", "not an email address");
      else if (from !== undefined) config.from = from;
      const to = input.to;
      if (!Array.isArray(to) || to.length === 0 || to.length > 20) err("to", "a list of 1 to 20 email addresses");
      else {
        to.forEach((a, i) => {
          if (typeof a !== "string" || !EMAIL.test(a)) errors.push({ path: `/config/to/${i}`, message: "not an email address" });
        });
        config.to = [...new Set(to as string[])];
      }
      break;
    }
  }
  return errors.length ? { errors } : { split: { config, secrets }, errors };
}

/**
 * At creation and update: a webhook or Slack URL whose host is, or resolves to, a private address is
 * refused now (it would be refused at every delivery anyway). A name that does not resolve yet passes:
 * delivery checks again.
 */
export async function targetErrors(type: ChannelType, secrets: ChannelSecrets, allowPrivate: boolean): Promise<FieldError[]> {
  if (allowPrivate || (type !== "slack" && type !== "webhook") || !secrets.url) return [];
  const url = new URL(secrets.url);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host)) {
    return isPrivateAddress(host)
      ? [{ path: "/config/url", message: `${host} is a private, loopback or link-local address; alert targets must be public` }]
      : [];
  }
  try {
    await resolveTarget(url, false);
  } catch (e) {
    if (e instanceof TargetRefused) return [{ path: "/config/url", message: e.message }];
  }
  return [];
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as Stripe signs its webhooks. */
export function signatureHeader(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac("sha256", secret).update(`${timestamp}.${body}`, "utf8").digest("hex");
  return `t=${timestamp},v1=${mac}`;
}

export interface SendOptions extends HttpOptions {
  deliveryId: string;
}

/** The document an alert carries (see evaluator.ts); channels render it. */
export type AlertDocument = Record<string, unknown> & { type: string; summary: string; severity: string };

/** Replaces every secret value in a message, in case a library quoted one back. */
function redact(message: string, secrets: ChannelSecrets): string {
  let out = message;
  for (const value of Object.values(secrets)) if (value && value.length >= 4) out = out.split(value).join("[redacted]");
  return out.length > 500 ? `${out.slice(0, 500)}…` : out;
}

/** Sends one alert over one channel. Resolves when the target accepted it; throws an Error whose message is safe to store. */
export async function sendAlert(channel: OpenChannel, doc: AlertDocument, options: SendOptions): Promise<void> {
  try {
    switch (channel.type) {
      case "webhook":
        return await sendWebhook(channel, doc, options);
      case "slack":
        return await sendSlack(channel, doc, options);
      case "email":
        return await sendEmail(channel, doc, options);
    }
  } catch (e) {
    throw new Error(redact((e as Error).message || "delivery failed", channel.secrets));
  }
}

async function sendWebhook(channel: OpenChannel, doc: AlertDocument, options: SendOptions): Promise<void> {
  const url = channel.secrets.url as string;
  const body = JSON.stringify({ ...doc, deliveryId: options.deliveryId });
  const result = await guardedPost(
    url,
    body,
    {
      "content-type": "application/json",
      "user-agent": "Cairn-Alerts/1",
      "x-cairn-event": doc.type,
      "x-cairn-delivery": options.deliveryId,
      "x-cairn-signature": signatureHeader(channel.secrets.secret as string, body),
    },
    options,
  );
  if (result.status < 200 || result.status >= 300) throw new Error(statusError(result, new URL(url).hostname));
}

/** @slack/webhook with our fetch: SSRF-checked, pinned to the checked address, no redirects, bounded. */
function guardedFetch(options: HttpOptions): FetchFunction {
  return async (input, init) => {
    const body = typeof init?.body === "string" ? init.body : "";
    const result = await guardedPost(String(input), body, init?.headers ?? {}, options);
    const response: Awaited<ReturnType<FetchFunction>> = {
      ok: result.status >= 200 && result.status < 300,
      status: result.status,
      statusText: result.statusText,
      url: "",
      headers: { get: (name: string) => result.headers[name.toLowerCase()] ?? null, entries: () => Object.entries(result.headers) },
      arrayBuffer: async () => new TextEncoder().encode(result.body).buffer as ArrayBuffer,
      json: async () => JSON.parse(result.body) as unknown,
      text: async () => result.body,
    };
    return response;
  };
}

async function sendSlack(channel: OpenChannel, doc: AlertDocument, options: SendOptions): Promise<void> {
  const url = channel.secrets.url as string;
  const host = new URL(url).hostname;
  const c = channel.config as { username?: string; channel?: string; iconEmoji?: string };
  const webhook = new IncomingWebhook(url, {
    fetch: guardedFetch(options),
    timeout: 0,
    ...(c.username ? { username: c.username } : {}),
    ...(c.channel ? { channel: c.channel } : {}),
    ...(c.iconEmoji ? { icon_emoji: c.iconEmoji } : {}),
  });
  try {
    await webhook.send({
      text: `${severityMark(doc.severity)} ${doc.summary}`,
      blocks: [
        { type: "section", text: { type: "mrkdwn", text: `${severityMark(doc.severity)} *${escapeSlack(doc.summary)}*` } },
        { type: "context", elements: [{ type: "mrkdwn", text: escapeSlack(detailLine(doc)) }] },
      ],
    });
  } catch (e) {
    const err = e as { statusCode?: number; statusMessage?: string; body?: string; original?: Error; message?: string };
    if (typeof err.statusCode === "number") {
      const detail = typeof err.body === "string" && err.body.length <= 100 ? `: ${err.body}` : "";
      throw new Error(`${host} answered HTTP ${err.statusCode}${detail}`);
    }
    throw new Error(err.original?.message ?? err.message ?? `request to ${host} failed`);
  }
}

async function sendEmail(channel: OpenChannel, doc: AlertDocument, options: SendOptions): Promise<void> {
  const c = channel.config as { host: string; port: number; tls: EmailTls; username?: string; from: string; to: string[] };
  const transport = nodemailer.createTransport({
    host: c.host,
    port: c.port,
    secure: c.tls === "implicit",
    requireTLS: c.tls === "starttls",
    ignoreTLS: c.tls === "none",
    ...(c.username ? { auth: { user: c.username, pass: channel.secrets.password ?? "" } } : {}),
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  try {
    await transport.sendMail({
      from: c.from,
      to: c.to,
      subject: `[Cairn ${doc.severity.toUpperCase()}] ${doc.summary}`.slice(0, 200),
      text: emailText(doc),
      headers: { "X-Cairn-Delivery": options.deliveryId, "X-Cairn-Event": doc.type },
    });
  } catch (e) {
    const err = e as { code?: string; responseCode?: number; message?: string };
    const what = err.responseCode ? `SMTP ${err.responseCode}` : (err.code ?? "error");
    throw new Error(`email via ${c.host}:${c.port} failed (${what}): ${err.message ?? ""}`.trim());
  } finally {
    transport.close();
  }
}

const severityMark = (severity: string) =>
  ({ critical: ":rotating_light:", high: ":red_circle:", medium: ":large_orange_circle:", low: ":large_yellow_circle:" })[severity] ??
  ":information_source:";

const escapeSlack = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function detailLine(doc: AlertDocument): string {
  const parts = [`severity ${doc.severity}`];
  if (typeof doc.tenantName === "string") parts.push(`tenant ${doc.tenantName}`);
  if (typeof doc.count === "number") parts.push(`${doc.count} event(s)`);
  if (typeof doc.firedAt === "string") parts.push(doc.firedAt);
  if (typeof doc.id === "string") parts.push(doc.id);
  return parts.join(" · ");
}

function emailText(doc: AlertDocument): string {
  const lines = [doc.summary, "", detailLine(doc), ""];
  const rule = doc.rule as { id?: string; name?: string } | undefined;
  if (rule?.name) lines.push(`Rule: ${rule.name} (${rule.id ?? ""})`);
  const trigger = doc.trigger as Record<string, unknown> | undefined;
  if (trigger) {
    lines.push("", "Triggering event:");
    for (const [k, v] of Object.entries(trigger))
      if (v !== null && v !== undefined) lines.push(`  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  }
  lines.push("", "The full alert as JSON:", JSON.stringify(doc, null, 2));
  return lines.join("\n");
}
