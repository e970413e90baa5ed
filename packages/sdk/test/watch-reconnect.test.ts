import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createClient, isApiError, isGone, type ReconnectInfo, type WatchEvent } from "../src/index.js";

/**
 * The watch's reconnect rules, against a scripted server (the `fetch` option): what it sends on each
 * reconnect, which answers end the watch, which are retried.
 */
type Step = { status: number; body?: string[]; hang?: boolean; headers?: Record<string, string> };

function scripted(steps: Step[]) {
  const requests: { url: string; headers: Record<string, string> }[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    requests.push({ url: String(input), headers: { ...(init?.headers as Record<string, string>) } });
    const step = steps.shift() ?? { status: 200, hang: true };
    const encoder = new TextEncoder();
    const signal = init?.signal;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of step.body ?? []) controller.enqueue(encoder.encode(chunk));
        if (!step.hang) controller.close();
        signal?.addEventListener("abort", () => {
          try {
            controller.error(new DOMException("aborted", "AbortError"));
          } catch {
            // already closed
          }
        });
      },
    });
    const type = step.status === 200 ? "text/event-stream" : "application/problem+json";
    return new Response(body, { status: step.status, headers: { "content-type": type, ...step.headers } });
  };
  return { fetch: fetch as typeof globalThis.fetch, requests };
}

const change = (revision: number) =>
  `id: ${revision}\nevent: change\ndata: ${JSON.stringify({ revision, namespace: "n", key: "k", environment: "base", version: revision, changeType: "update" })}\n\n`;
const ready = (revision: number) => `id: ${revision}\nevent: ready\ndata: {"revision":${revision}}\n\n`;
const problem = (status: number, code: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: `urn:cairn:problem:${code}`, title: code, status, detail: `${code} detail`, code, requestId: "r", ...extra });

async function collect(stream: AsyncIterable<WatchEvent>, until: (events: WatchEvent[]) => boolean) {
  const events: WatchEvent[] = [];
  for await (const e of stream) {
    events.push(e);
    if (until(events)) break;
  }
  return events;
}

describe("SDK watch reconnects", () => {
  it("resumes with Last-Event-ID after a server `reconnect`, a dropped connection, a 503 and an idle connection", async () => {
    const server = scripted([
      {
        status: 200,
        body: [ready(10), change(11), `id: 11\nevent: reconnect\ndata: {"reason":"shutdown","revision":11,"detail":"bye"}\n\n`],
      },
      { status: 200, body: [ready(11), change(12), change(13)] }, // ends without notice (connection lost)
      { status: 503, body: [problem(503, "unavailable")], headers: { "retry-after": "0" } },
      { status: 200, body: [change(14), ": heartbeat\n\n", 'id: 15\nevent: progress\ndata: {"revision":15}\n\n'], hang: true }, // then silence
      { status: 200, body: [ready(15), change(16)], hang: true },
    ]);
    const reconnects: ReconnectInfo[] = [];
    const client = createClient({ url: "http://cairn.test", token: "cairn_AAAAAAAA_x", fetch: server.fetch });
    const stream = client.watch({
      namespace: "n",
      idleTimeoutMs: 200,
      reconnect: { minDelayMs: 1, maxDelayMs: 5 },
      onReconnect: (info) => reconnects.push(info),
    });
    const events = await collect(stream, (e) => e.some((x) => x.type === "change" && x.revision === 16));
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.revision}`),
      ["ready:10", "change:11", "ready:11", "change:12", "change:13", "change:14", "ready:15", "change:16"],
    );
    assert.deepEqual(
      server.requests.map((r) => r.headers["last-event-id"]),
      [undefined, "11", "13", "13", "15"],
      "each reconnect resumes after the last id seen (progress ids included)",
    );
    assert.ok(server.requests.every((r) => r.headers.authorization === "Bearer cairn_AAAAAAAA_x"));
    assert.ok(server.requests[0]?.url.endsWith("/api/v1/watch?namespace=n"));
    assert.deepEqual(
      reconnects.map((r) => r.reason),
      ["shutdown", "ended", "error", "error"],
    );
    assert.equal(stream.revision, 16);
  });

  it("410 and `resync` are typed `gone` errors; 403 ends the watch; 429 is retried", async () => {
    const gone = scripted([{ status: 410, body: [problem(410, "gone", { compactedRevision: 40, currentRevision: 90 })] }]);
    const e1 = await collect(createClient({ url: "http://c", token: "t", fetch: gone.fetch }).watch({ since: 3 }), () => false).catch(
      (e: unknown) => e,
    );
    assert.ok(isGone(e1) && e1.compactedRevision === 40, String(e1));
    assert.equal(gone.requests[0]?.headers["last-event-id"], "3");

    const resync = scripted([
      { status: 200, body: [ready(5), `event: resync\ndata: {"reason":"compacted","compactedRevision":77,"detail":"reload"}\n\n`] },
    ]);
    const e2 = await collect(createClient({ url: "http://c", token: "t", fetch: resync.fetch }).watch(), () => false).catch(
      (e: unknown) => e,
    );
    assert.ok(isGone(e2) && e2.compactedRevision === 77 && e2.status === 410);

    const limited = scripted([
      { status: 429, body: [problem(429, "rate_limited")], headers: { "retry-after": "0" } },
      { status: 403, body: [problem(403, "forbidden")] },
    ]);
    const e3 = await collect(
      createClient({ url: "http://c", token: "t", fetch: limited.fetch }).watch({ reconnect: { minDelayMs: 1 } }),
      () => false,
    ).catch((e: unknown) => e);
    assert.ok(isApiError(e3, "forbidden"));
    assert.equal(limited.requests.length, 2, "the 429 was retried, the 403 was not");
  });

  it("an aborted signal or close() ends the iteration quietly", async () => {
    const server = scripted([{ status: 200, body: [ready(1)], hang: true }]);
    const controller = new AbortController();
    const stream = createClient({ url: "http://c", token: "t", fetch: server.fetch }).watch({ signal: controller.signal });
    const events: WatchEvent[] = [];
    const done = (async () => {
      for await (const e of stream) {
        events.push(e);
        controller.abort();
      }
    })();
    await done;
    assert.deepEqual(events, [{ type: "ready", revision: 1 }]);
  });
});
