import type { ServerResponse } from "node:http";

/** Where a watcher writes its Server-Sent Events: an HTTP response, or a test double. */
export interface Sink {
  write(text: string): void;
  /** Bytes written but not yet handed to the kernel (what a slow client makes grow). */
  buffered(): number;
  /** Writes `last` (if any) and ends the stream; a client that does not take it in time is cut off. */
  end(last?: string): void;
  readonly closed: boolean;
  /** Called once when the stream ends, whoever ended it. */
  onClose(handler: () => void): void;
}

/** One SSE message. `data` is one JSON line (JSON.stringify never emits a raw newline). */
export function sseMessage(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export const HEARTBEAT = ": heartbeat\n\n";

/**
 * A sink over a Node response whose head is already written. `end()` gives the client `graceMs` to
 * take the last bytes, then destroys the socket, so a client that stopped reading cannot hold memory
 * (or a server shutdown) hostage.
 */
export function responseSink(res: ServerResponse, graceMs = 5_000): Sink {
  let closed = false;
  const handlers: (() => void)[] = [];
  const finish = () => {
    if (closed) return;
    closed = true;
    for (const h of handlers.splice(0)) h();
  };
  res.once("close", finish);
  res.once("error", finish);
  return {
    write(text) {
      if (!closed && !res.writableEnded) res.write(text);
    },
    buffered: () => res.writableLength,
    end(last) {
      if (res.writableEnded || res.destroyed) return finish();
      res.end(last ?? "");
      const cut = setTimeout(() => res.destroy(), graceMs);
      cut.unref();
      res.once("finish", () => clearTimeout(cut));
      res.once("close", () => clearTimeout(cut));
      finish();
    },
    get closed() {
      return closed;
    },
    onClose(handler) {
      if (closed) handler();
      else handlers.push(handler);
    },
  };
}
