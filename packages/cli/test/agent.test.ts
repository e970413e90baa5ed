/**
 * `cairn agent` against a real server process: it serves the read API from memory, follows changes, keeps
 * an encrypted disk cache it serves from (stale) while the server is down, renders templates atomically.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CliProcess, type RestartableServer, startCli, startRestartableServer } from "./support/agent-server.js";
import { cairn, tempDir } from "./support/cairn.js";

let server: RestartableServer;
let env: Record<string, string>;
let dir: string;
const NS = "agent/api";
const enc = encodeURIComponent(NS);
const agents: CliProcess[] = [];

const run = async (...args: string[]) => {
  const res = await cairn(args, { env });
  assert.equal(res.code, 0, `cairn ${args.join(" ")}: ${res.stderr}`);
  return res;
};

/** Start an agent on a free port; resolves once it listens, with its base URL. */
async function startAgent(args: string[], cacheDir = join(dir, "cache"), extraEnv: Record<string, string> = {}) {
  const agent = startCli(["agent", "-n", NS, "-e", "production", "--listen", "127.0.0.1:0", "--cache-dir", cacheDir, ...args], {
    ...env,
    ...extraEnv,
  });
  agents.push(agent);
  const base = (await agent.waitFor(/ on (http:\/\/\S+)/))[1] as string;
  return { agent, base };
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  const json = /json/.test(res.headers.get("content-type") ?? "") && text ? (JSON.parse(text) as any) : undefined;
  return { status: res.status, headers: res.headers, text, json };
}

/** A write straight to the server (values too large for a command line). */
async function put(key: string, value: unknown) {
  const res = await fetch(`${server.url}/api/v1/configs/${enc}/${key}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
    body: JSON.stringify({ value }),
  });
  assert.equal(res.status, 200, await res.text());
}

const serverGet = (path: string) => get(`${server.url}${path}`, { authorization: `Bearer ${server.token}` });

before(async () => {
  server = await startRestartableServer();
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
  dir = await tempDir("agent");
  await run("set", NS, "database.url", "postgres://db.internal/app");
  await run("set", NS, "database.url", "postgres://db.prod/app", "--env", "production");
  await run("set", NS, "pool", '{"size":5,"idle":"30s"}');
  await run("set", NS, "stripe.key", "sk_live_agent_secret_1", "--secret");
});

after(async () => {
  for (const agent of agents) await agent.stop();
  await server?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test(`serves the server's read API from memory (${process.env.DATABASE_URL ? "postgres" : "pglite"})`, async () => {
  const { agent, base } = await startAgent([]);
  await agent.waitFor(/in sync with/);

  // A key: exactly what the server answers (resolved in the agent's environment by default).
  const fromServer = await serverGet(`/api/v1/configs/${enc}/database.url?environment=production`);
  const local = await get(`${base}/api/v1/configs/${enc}/database.url`);
  assert.equal(local.status, 200);
  assert.deepEqual(local.json, fromServer.json);
  assert.equal(local.headers.get("etag"), fromServer.headers.get("etag"));
  assert.equal(local.headers.get("x-cairn-stale"), "false");
  assert.equal(
    (await get(`${base}/api/v1/configs/${enc}/database.url`, { "if-none-match": local.headers.get("etag") as string })).status,
    304,
  );

  // The list, secrets masked unless asked: the same document as the server's.
  const list = await get(`${base}/api/v1/configs/${enc}?environment=production`);
  assert.deepEqual(list.json, (await serverGet(`/api/v1/configs/${enc}?environment=production`)).json);
  assert.notEqual(list.json.items.find((i: any) => i.key === "stripe.key").value, "sk_live_agent_secret_1");
  const revealed = await get(`${base}/api/v1/configs/${enc}/stripe.key?reveal=true`);
  assert.equal(revealed.json.value, "sk_live_agent_secret_1", "the admin key may reveal, so the agent serves the secret when asked");
  const dotenv = await get(`${base}/api/v1/configs/${enc}?format=dotenv&prefix=database.`);
  assert.equal(dotenv.text, "DATABASE_URL=postgres://db.prod/app\n");

  // What it does not serve, it says so.
  assert.equal((await get(`${base}/api/v1/configs/other%2Fns/database.url`)).status, 404);
  assert.equal((await get(`${base}/api/v1/configs/${enc}/database.url?environment=staging`)).status, 404);
  assert.equal((await get(`${base}/api/v1/configs/${enc}/nope`)).json.code, "not_found");
  assert.equal((await get(`${base}/api/v1/configs/${enc}/database.url?version=1`)).status, 400);
  assert.equal((await fetch(`${base}/api/v1/configs/${enc}/database.url`, { method: "PUT", body: "{}" })).status, 405);
  assert.equal((await get(`${base}/ready`)).json.status, "ready");

  // A write reaches it.
  await run("set", NS, "feature.beta", "true");
  await untilAsync(
    "feature.beta at the agent",
    async () => (await get(`${base}/api/v1/configs/${enc}/feature.beta`)).json?.value === true,
    30_000,
    () => agent.stderr(),
  );
  assert.match(agent.stderr(), /following changes on the watch stream|polling every/);

  assert.equal(await agent.stop("SIGTERM"), 0, "SIGTERM: a clean exit");
  assert.match(agent.stderr(), /stopped/);
});

test("serves its encrypted disk cache (stale) while the server is down, and catches up after", async (t) => {
  const cacheDir = join(dir, "stale-cache");
  // Whatever happens here, the next tests need the server.
  t.after(() => server.start());
  const first = await startAgent([], cacheDir);
  await first.agent.waitFor(/in sync with/);
  await first.agent.stop();

  // A change the agent has not seen, then the server goes away.
  await run("set", NS, "pool", '{"size":9,"idle":"30s"}');
  await server.stop();

  // The cache holds no value in clear, and only its owner can read it.
  const files = await readdir(cacheDir);
  assert.equal(files.length, 1);
  const bytes = await readFile(join(cacheDir, files[0] as string));
  for (const plain of ["postgres://db.prod/app", "postgres://db.internal/app", "sk_live_agent_secret_1", "30s", '"size"', "true"]) {
    assert.equal(bytes.includes(Buffer.from(plain)), false, `the disk cache contains ${plain} in clear`);
  }
  assert.equal((await stat(join(cacheDir, files[0] as string))).mode & 0o777, 0o600);
  assert.equal((await stat(cacheDir)).mode & 0o777, 0o700);

  // A new agent, server down: it serves the cached values, marked stale.
  const { agent, base } = await startAgent([], cacheDir);
  const stale = await get(`${base}/api/v1/configs/${enc}/pool`);
  assert.equal(stale.status, 200);
  assert.equal(stale.headers.get("x-cairn-stale"), "true");
  assert.deepEqual(stale.json.value, { size: 5, idle: "30s" }, "the last value it knew");
  const secret = await get(`${base}/api/v1/configs/${enc}/stripe.key?reveal=true`);
  assert.equal(secret.json.value, "sk_live_agent_secret_1");
  assert.equal((await get(`${base}/ready`)).json.stale, true);

  // The server comes back: the agent catches up by itself, and follows new writes again.
  await server.start();
  const fresh = async () => {
    const r = await get(`${base}/api/v1/configs/${enc}/pool`);
    return r.headers.get("x-cairn-stale") === "false" && r.json.value.size === 9;
  };
  await untilAsync("the agent caught up", fresh, 60_000, () => agent.stderr());
  await run("set", NS, "pool", '{"size":10,"idle":"30s"}');
  await untilAsync(
    "the agent saw the write after the restart",
    async () => (await get(`${base}/api/v1/configs/${enc}/pool`)).json.value.size === 10,
    30_000,
    () => agent.stderr(),
  );
  await agent.stop();
});

describe("templates", () => {
  test("render atomically (no reader ever sees a part), rewrite only on change, then run --on-change", async () => {
    const template = join(dir, "app.tmpl");
    const output = join(dir, "app.conf");
    const marker = join(dir, "changes.log");
    await writeFile(template, 'BEGIN\nurl={{ database.url }}\nblob={{ blob | default "none" }}\nsize={{ pool | json }}\nEND\n');
    const { agent } = await startAgent([
      "--template",
      `${template}:${output}`,
      "--template",
      `@dotenv:${join(dir, "all.env")}`,
      "--on-change",
      `echo "$CAIRN_CHANGED" >> '${marker}'`,
    ]);
    await untilAsync(
      "the first render",
      async () => (await readFile(marker, "utf8").catch(() => "")).includes(output),
      30_000,
      () => agent.stderr(),
    );
    assert.match(
      await readFile(output, "utf8"),
      /^BEGIN\nurl=postgres:\/\/db\.prod\/app\nblob=none\nsize=\{"size":\d+,"idle":"30s"\}\nEND\n$/,
    );
    assert.match(await readFile(join(dir, "all.env"), "utf8"), /^DATABASE_URL=postgres:\/\/db\.prod\/app$/m);
    assert.equal((await stat(output)).mode & 0o777, 0o600, "a new rendered file is private");

    // A reader in another process reads the file in a tight loop while large values change.
    const stopFile = join(dir, "stop-reader");
    const reader = spawn(
      process.execPath,
      [
        "-e",
        `const fs = require("node:fs");
         let reads = 0, partial = 0; const seen = new Set();
         while (!fs.existsSync(${JSON.stringify(stopFile)})) {
           let text; try { text = fs.readFileSync(${JSON.stringify(output)}, "utf8"); } catch { partial++; continue; }
           reads++;
           if (!text.startsWith("BEGIN\\n") || !text.endsWith("END\\n")) partial++;
           seen.add(text.length);
         }
         console.log(JSON.stringify({ reads, partial, distinct: seen.size }));`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let readerOut = "";
    reader.stdout.on("data", (d: Buffer) => {
      readerOut += d.toString();
    });
    const readerDone = new Promise<void>((resolve) => reader.once("exit", () => resolve()));
    for (let i = 1; i <= 8; i++) {
      await put("blob", String(i).repeat(200_000 + i * 1000));
      const want = 200_000 + i * 1000;
      await untilAsync(
        `render ${i}`,
        async () => (await readFile(output, "utf8")).includes(`blob=${String(i).repeat(want)}\n`),
        30_000,
        () => agent.stderr(),
      );
    }
    await writeFile(stopFile, "");
    await readerDone;
    const stats = JSON.parse(readerOut) as { reads: number; partial: number; distinct: number };
    assert.equal(stats.partial, 0, `a reader saw a partial file (${readerOut})`);
    assert.ok(stats.reads > 0 && stats.distinct >= 2, `the reader saw the file change (${readerOut})`);
    assert.equal((await readdir(dir)).filter((f) => f.endsWith(".tmp")).length, 0, "no temporary file is left behind");

    // A key the template does not use changes nothing in its output (and the file is not rewritten).
    await settled(marker);
    const before = await stat(output);
    const linesBefore = (await readFile(marker, "utf8")).split("\n").filter(Boolean);
    await run("set", NS, "unrelated", "x");
    await untilAsync(
      "the dotenv document changed",
      async () => (await readFile(join(dir, "all.env"), "utf8")).includes("UNRELATED=x"),
      30_000,
    );
    await untilAsync(
      "--on-change ran for it",
      async () => (await readFile(marker, "utf8")).split("\n").filter(Boolean).length > linesBefore.length,
      30_000,
    );
    await settled(marker);
    const afterStat = await stat(output);
    assert.equal(afterStat.ino, before.ino, "the unchanged output was not replaced");
    assert.equal(afterStat.mtimeMs, before.mtimeMs);
    const newLines = (await readFile(marker, "utf8")).split("\n").filter(Boolean).slice(linesBefore.length);
    assert.deepEqual(newLines, [join(dir, "all.env")], "--on-change was told of the changed file only");
    await agent.stop();
  });

  test("a unix socket (0600), removed on shutdown", async () => {
    const socket = join(dir, "agent.sock");
    const agent = startCli(["agent", "-n", NS, "-e", "production", "--socket", socket, "--no-cache"], env);
    agents.push(agent);
    await agent.waitFor(/in sync with/);
    assert.equal((await stat(socket)).mode & 0o777, 0o600);
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ socketPath: socket, path: `/api/v1/configs/${enc}/database.url` }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => {
          text += d.toString();
        });
        res.on("end", () => resolve(text));
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(JSON.parse(body).value, "postgres://db.prod/app");
    assert.equal(await agent.stop("SIGINT"), 0);
    await assert.rejects(stat(socket), "the socket file is gone");
  });
});

test("a credential that may not reveal: secrets stay masked, ?reveal=true is refused, templates cannot use them", async () => {
  const key = await cairn(["keys", "create", "agent-developer", "--role", "developer"], { env });
  assert.equal(key.code, 0, key.stderr);
  const template = join(dir, "secret.tmpl");
  await writeFile(template, "key={{ stripe.key }}\n");
  const { agent, base } = await startAgent(
    ["--no-cache", "--template", `${template}:${join(dir, "secret.out")}`, "--template", `@dotenv:${join(dir, "developer.env")}`],
    undefined,
    { CAIRN_TOKEN: key.stdout.trim() },
  );
  await agent.waitFor(/in sync with/);
  const masked = await get(`${base}/api/v1/configs/${enc}/stripe.key`);
  assert.equal(masked.status, 200);
  assert.notEqual(masked.json.value, "sk_live_agent_secret_1");
  const refused = await get(`${base}/api/v1/configs/${enc}/stripe.key?reveal=true`);
  assert.equal(refused.status, 403);
  assert.equal(refused.json.code, "forbidden");
  await agent.waitFor(/not rendering .*secret\.out: .*stripe\.key is a secret the agent's credential may not reveal/);
  await agent.waitFor(/developer\.env: left out secrets the credential may not reveal: stripe\.key/);
  await agent.waitFor(/rendered .*developer\.env/);
  await assert.rejects(stat(join(dir, "secret.out")), "nothing written");
  const dotenv = await readFile(join(dir, "developer.env"), "utf8");
  assert.match(dotenv, /^DATABASE_URL=/m);
  assert.doesNotMatch(dotenv, /STRIPE_KEY/);
  await agent.stop();
});

test("polls when told to (--no-watch), or when the server has no watch stream", async () => {
  const { agent, base } = await startAgent(["--no-cache", "--no-watch", "--poll-interval", "1"]);
  await agent.waitFor(/polling every 1s/);
  await run("set", NS, "polled", "yes");
  await untilAsync(
    "the polled value",
    async () => (await get(`${base}/api/v1/configs/${enc}/polled`)).json?.value === "yes",
    30_000,
    () => agent.stderr(),
  );
  await agent.stop();
});

test("bad input exits 2 with a message, before anything starts", async () => {
  const cases: [string[], RegExp][] = [
    [["agent", "-e", "production"], /--namespace/],
    [["agent", "-n", NS, "--template", "no-colon"], /expected in:out/],
    [["agent", "-n", NS, "--template", "@xml:/tmp/out"], /unknown document @xml/],
    [["agent", "-n", NS, "--listen", "nope"], /host:port/],
    [["agent", "-n", NS, "--listen", "127.0.0.1:0", "--socket", "/tmp/x.sock"], /--listen and --socket/],
    [["agent", "-n", NS, "--signal", "HUP"], /--signal and --pid go together/],
    [["agent", "-n", NS, "--signal", "NOPE", "--pid", "1"], /unknown signal/],
    [["agent", "-n", NS, "--cache-key", "short"], /--cache-key must be at least 16 characters/],
    [["agent", "-n", NS, "--template", `${join(dir, "missing.tmpl")}:/tmp/out`], /cannot read template/],
  ];
  await writeFile(join(dir, "broken.tmpl"), "x={{ database.url | nosuchfilter }}\n");
  cases.push([
    ["agent", "-n", NS, "--template", `${join(dir, "broken.tmpl")}:/tmp/out`],
    /broken\.tmpl:1:3: unknown filter "nosuchfilter"/,
  ]);
  for (const [args, message] of cases) {
    const res = await cairn(args, { env });
    assert.equal(res.code, 2, `${args.join(" ")} → ${res.code}: ${res.stderr}`);
    assert.match(res.stderr, message, args.join(" "));
  }
  const help = await cairn(["agent", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:/);
});

test("a credential the server refuses, with nothing cached: exit 1 with the reason", async () => {
  const res = await cairn(["agent", "-n", NS, "--listen", "127.0.0.1:0", "--no-cache"], {
    env: { ...env, CAIRN_TOKEN: "cairn_AAAAAAAA_000000000000000000000000000000" },
  });
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /error: /);
});

/** Waits until a file has not changed for a second (the commands it records have all run). */
async function settled(file: string): Promise<void> {
  let last = await readFile(file, "utf8").catch(() => "");
  for (let quiet = 0; quiet < 10; ) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await readFile(file, "utf8").catch(() => "");
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
}

async function untilAsync(what: string, cond: () => Promise<boolean>, timeoutMs: number, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}${detail ? `:\n${detail()}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
