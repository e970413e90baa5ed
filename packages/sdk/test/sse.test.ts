import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SseParser } from "../src/index.js";

describe("SSE parser", () => {
  it("parses events, ids, comments and multi-line data, whatever the chunking and line ends", () => {
    const stream =
      '\ufeff: heartbeat\r\n\r\nid: 7\nevent: change\ndata: {"revision":7}\n\n' +
      "event: ready\rdata: a\rdata: b\r\r" +
      "id: 9\r\n\r\n" +
      "data:no-space\n\n" +
      "retry: 1500\nevent: x\ndata\n\n";
    const expected = [
      { event: "change", data: '{"revision":7}', id: "7" },
      { event: "ready", data: "a\nb" },
      { event: "message", data: "", id: "9" },
      { event: "message", data: "no-space" },
      { event: "x", data: "", retry: 1500 },
    ];
    for (const size of [1, 2, 3, 7, stream.length]) {
      const parser = new SseParser();
      const out = [];
      for (let i = 0; i < stream.length; i += size) out.push(...parser.push(stream.slice(i, i + size)));
      assert.deepEqual(out, expected, `chunks of ${size}`);
    }
  });

  it("a message without its blank line is not dispatched", () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push("event: change\ndata: 1\n"), []);
    assert.deepEqual(parser.push("\n"), [{ event: "change", data: "1" }]);
  });
});
