import type { CairnApp } from "../../src/app.js";
import { until } from "../fixtures/process.js";

/** One parsed SSE message, as a client sees it. */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
  json: any;
}

export interface Stream {
  status: number;
  headers: Headers;
  /** Everything received, byte for byte (for scans). */
  raw(): string;
  events: SseEvent[];
  changes(): any[];
  /** Resolves when the server ends the stream (or the client closed it). */
  ended: Promise<void>;
  /** Waits until `cond` holds over the events so far. */
  waitFor(what: string, cond: (events: SseEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
  /** The id of the last message that carried one (what an EventSource would send as Last-Event-ID). */
  lastEventId(): string | undefined;
}

/** Makes an in-process app listen on a free port (its tests stream over real HTTP) and returns its URL. */
export async function listen(cairn: Pick<CairnApp, "app">): Promise<string> {
  const address = cairn.app.server.address();
  if (address && typeof address === "object") return `http://127.0.0.1:${address.port}`;
  return cairn.app.listen({ host: "127.0.0.1", port: 0 });
}

/** Opens `GET /api/v1/watch` and parses the stream as it arrives; a problem answer is read whole. */
export async function openWatch(
  base: string,
  key: string,
  query: Record<string, string | number | undefined> = {},
  headers: Record<string, string> = {},
): Promise<Stream> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const controller = new AbortController();
  const res = await fetch(`${base}/api/v1/watch${params.size ? `?${params}` : ""}`, {
    headers: { authorization: `Bearer ${key}`, ...headers },
    signal: controller.signal,
  });
  let raw = "";
  const events: SseEvent[] = [];
  let lastId: string | undefined;
  let pending = "";
  const parse = (chunk: string) => {
    pending += chunk;
    for (;;) {
      const end = pending.indexOf("\n\n");
      if (end < 0) return;
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      let id: string | undefined;
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") id = value;
        else if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (id !== undefined) lastId = id;
      if (data.length === 0) continue;
      const text = data.join("\n");
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      events.push({ id, event, data: text, json });
    }
  };
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const text = decoder.decode(chunk, { stream: true });
        raw += text;
        if (res.status === 200) parse(text);
      }
    } catch {
      // aborted by close()
    }
  })();
  let done = false;
  void ended.then(() => {
    done = true;
  });
  return {
    status: res.status,
    headers: res.headers,
    raw: () => raw,
    events,
    changes: () => events.filter((e) => e.event === "change").map((e) => e.json),
    ended,
    waitFor: (what, cond, timeoutMs = 20_000) =>
      until(
        what,
        () => cond(events) || (done && cond(events)),
        timeoutMs,
        () => `${events.length} events; last: ${JSON.stringify(events.slice(-3))}; ended: ${done}`,
      ),
    close: () => controller.abort(),
    lastEventId: () => lastId,
  };
}

/** The revisions of the change events, checked to be strictly consecutive. */
export function contiguous(changes: { revision: number }[]): boolean {
  return changes.every((c, i) => i === 0 || c.revision === (changes[i - 1] as { revision: number }).revision + 1);
}
