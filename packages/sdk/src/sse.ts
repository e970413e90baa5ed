/**
 * A Server-Sent Events parser (WHATWG HTML, "event stream interpretation") over a fetch body, for Node ≥ 20
 * and browsers alike. Small on purpose: the SDK has no runtime dependencies.
 */

/** One dispatched message. `id` is set when the message carried an `id:` field (an id-only message has data ""). */
export interface SseMessage {
  event: string;
  data: string;
  id?: string;
  retry?: number;
}

/** Feed text in as it arrives; complete messages come out. Handles CRLF, LF and CR line ends split across chunks. */
export class SseParser {
  #buffer = "";
  #started = false;
  #data: string[] = [];
  #event = "";
  #id: string | undefined;
  #retry: number | undefined;

  push(text: string): SseMessage[] {
    if (!this.#started) {
      if (text.length === 0) return [];
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.#buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (;;) {
      let end = -1;
      let next = -1;
      for (let i = start; i < this.#buffer.length; i++) {
        const ch = this.#buffer.charCodeAt(i);
        if (ch === 10) {
          end = i;
          next = i + 1;
          break;
        }
        if (ch === 13) {
          // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
          if (i + 1 >= this.#buffer.length) break;
          end = i;
          next = this.#buffer.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
          break;
        }
      }
      if (end < 0) break;
      const message = this.#line(this.#buffer.slice(start, end));
      if (message) out.push(message);
      start = next;
    }
    this.#buffer = this.#buffer.slice(start);
    return out;
  }

  #line(line: string): SseMessage | undefined {
    if (line === "") return this.#dispatch();
    if (line.charCodeAt(0) === 58 /* : */) return undefined; // a comment (heartbeat)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "data":
        this.#data.push(value);
        break;
      case "event":
        this.#event = value;
        break;
      case "id":
        if (!value.includes("\u0000")) this.#id = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.#retry = Number(value);
        break;
    }
    return undefined;
  }

  #dispatch(): SseMessage | undefined {
    const hasData = this.#data.length > 0;
    const id = this.#id;
    const retry = this.#retry;
    const message: SseMessage | undefined =
      hasData || id !== undefined || retry !== undefined ? { event: this.#event || "message", data: this.#data.join("\n") } : undefined;
    if (message && id !== undefined) message.id = id;
    if (message && retry !== undefined) message.retry = retry;
    this.#data = [];
    this.#event = "";
    this.#id = undefined;
    this.#retry = undefined;
    return message;
  }
}

/** No byte arrived for longer than the idle timeout: the connection is presumed dead. */
export class SseIdleError extends Error {
  constructor(ms: number) {
    super(`no data (not even a heartbeat) for ${ms} ms`);
    this.name = "SseIdleError";
  }
}

/**
 * The messages of a response body, as they arrive. Ends when the server ends the stream; throws
 * `SseIdleError` when nothing arrives for `idleTimeoutMs` (0: never), and whatever the body throws
 * (network loss, abort).
 */
export async function* readSse(body: ReadableStream<Uint8Array>, idleTimeoutMs = 0): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  let idle = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    if (idleTimeoutMs <= 0) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      reader.cancel().catch(() => {});
    }, idleTimeoutMs);
  };
  try {
    arm();
    for (;;) {
      const { value, done } = await reader.read();
      if (idle) throw new SseIdleError(idleTimeoutMs);
      if (done) break;
      arm();
      for (const message of parser.push(decoder.decode(value, { stream: true }))) yield message;
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    reader.cancel().catch(() => {});
    try {
      reader.releaseLock();
    } catch {
      // already released
    }
  }
}
