// Worker thread of the watch fan-out benchmark (bench/run.mjs): holds `count` Server-Sent Events streams on
// GET /api/v1/watch and notes when each `event: change` arrives, on the process's monotonic clock
// (process.hrtime, shared by all threads, so the main thread's write acknowledgements compare with it).
//
// workerData: {url, path, headers, count, connectBatch}
// → {type: "ready", count}                 every stream answered 200 and sent `event: ready` (live)
// → {type: "failed", error}                a stream could not be opened
// → {type: "complete", id}                 every stream of this worker has received change `id` (= "<key>@<version>")
// ← {type: "collect"}  → {type: "receipts", receipts: [[id, Float64Array of ms]], ended, errors, events}
import http from "node:http";
import { parentPort, workerData } from "node:worker_threads";

const { url, path, headers, count, connectBatch } = workerData;
const target = new URL(path, url);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** change id → receipt times (ms), one per stream that got it */
const receipts = new Map();
const streams = [];
let ended = 0;
let errors = 0;
let events = 0;
let collecting = false;

function record(id) {
  let times = receipts.get(id);
  if (!times) {
    times = [];
    receipts.set(id, times);
  }
  times.push(nowMs());
  if (times.length === count) parentPort.postMessage({ type: "complete", id });
}

/** Opens one stream; resolves once it is live (its `ready` event arrived). */
function open() {
  return new Promise((resolve, reject) => {
    const req = http.request(target, { method: "GET", headers: { ...headers, accept: "text/event-stream" }, agent: false });
    req.setTimeout(60_000, () => req.destroy(new Error("no answer within 60 s")));
    req.on("error", (err) => {
      errors++;
      reject(err);
    });
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => reject(new Error(`GET ${path}: HTTP ${res.statusCode} ${body.slice(0, 300)}`)));
        return;
      }
      req.setTimeout(0);
      res.socket.setNoDelay(true);
      streams.push(req);
      let live = false;
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        buf += chunk;
        let end = buf.indexOf("\n\n");
        while (end >= 0) {
          const message = buf.slice(0, end);
          buf = buf.slice(end + 2);
          end = buf.indexOf("\n\n");
          let event = "message";
          let data = "";
          for (const line of message.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (event === "change") {
            events++;
            const change = JSON.parse(data);
            record(`${change.key}@${change.version}`);
          } else if (event === "ready" && !live) {
            live = true;
            resolve();
          }
        }
      });
      res.on("close", () => {
        if (!collecting) ended++;
        if (!live) reject(new Error(`GET ${path}: the stream ended before its ready event`));
      });
    });
    req.end();
  });
}

try {
  for (let opened = 0; opened < count; opened += connectBatch) {
    const batch = [];
    for (let i = opened; i < Math.min(count, opened + connectBatch); i++) batch.push(open());
    await Promise.all(batch);
  }
  parentPort.postMessage({ type: "ready", count: streams.length });
} catch (err) {
  parentPort.postMessage({ type: "failed", error: err instanceof Error ? err.message : String(err) });
}

parentPort.on("message", (msg) => {
  if (msg.type !== "collect") return;
  collecting = true;
  for (const req of streams) req.destroy();
  const out = [...receipts].map(([id, times]) => [id, Float64Array.from(times)]);
  parentPort.postMessage({ type: "receipts", receipts: out, ended, errors, events });
  parentPort.close();
});
