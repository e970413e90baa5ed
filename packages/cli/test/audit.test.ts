/** `cairn audit ls|tail|export|verify|public-key|hash` against a real server, through the built binary. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CLI, cairn, type RunningServer, startServer, tempDir } from "./support/cairn.js";

let server: RunningServer;
let env: Record<string, string>;
let dir: string;
const run = (...args: string[]) => cairn(args, { env });

before(async () => {
  [server, dir] = await Promise.all([startServer(), tempDir("audit")]);
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
  for (let i = 0; i < 6; i++) {
    const r = await run("set", "audit/cli", `k${i % 2}`, String(i));
    assert.equal(r.code, 0, r.stderr);
  }
});
after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Event {
  index: number;
  eventType: string;
  metadata: Record<string, unknown>;
  resource: { id: string | null };
}

/** Events are sequenced just after their write commits: wait until the log has at least `n`. */
async function events(n: number, ...filters: string[]): Promise<Event[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await run("audit", "ls", "--json", ...filters);
    assert.equal(r.code, 0, r.stderr);
    const items = (JSON.parse(r.stdout) as { items: Event[] }).items;
    if (items.length >= n || Date.now() > deadline) return items;
    await new Promise((res) => setTimeout(res, 100));
  }
}

test("every audit command has --help with examples", async () => {
  for (const sub of ["ls", "tail", "export", "verify", "public-key", "hash"]) {
    const r = await run("audit", sub, "--help");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Examples:\n {2}\$ cairn audit/, sub);
  }
  const top = await run("audit", "--help");
  assert.match(top.stdout, /verify/);
});

test("audit ls lists newest first, filters, prints a table or JSON", async () => {
  const all = await events(6, "--type", "config.*");
  assert.equal(all.length, 6);
  assert.deepEqual(
    all.map((e) => e.index),
    [...all.map((e) => e.index)].sort((a, b) => b - a),
  );
  const creates = await events(2, "--type", "config.create");
  assert.equal(creates.length, 2);
  const table = await run("audit", "ls", "--type", "config.update", "--namespace", "audit/**");
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split("\n");
  assert.match(lines[0] as string, /^INDEX\s+TIME\s+EVENT\s+RESULT\s+ACTOR\s+RESOURCE$/);
  assert.equal(lines.length, 1 + 4);
  assert.ok(
    lines.slice(1).every((l) => /config\.update\s+success\s+key_\w+\s+audit\/cli\/k[01]$/.test(l)),
    table.stdout,
  );
  const limited = await run("audit", "ls", "--limit", "2", "--json");
  assert.equal(JSON.parse(limited.stdout).items.length, 2);
  const none = await run("audit", "ls", "--result", "denied");
  assert.equal(none.code, 0);
  assert.equal(none.stdout, "");
  assert.match(none.stderr, /no audit events match/);
  const bad = await run("audit", "ls", "--result", "maybe");
  assert.equal(bad.code, 2);
  const badServer = await run("audit", "ls", "--type", "bad type");
  assert.equal(badServer.code, 1);
  assert.match(badServer.stderr, /^error: the request is malformed/);
});

test("audit hash prints the HMAC a write's event carries", async () => {
  const r = await run("set", "audit/cli", "hashed", '{"b": 2, "a": 1}');
  assert.equal(r.code, 0, r.stderr);
  const [event] = await events(1, "--namespace", "audit/cli", "--type", "config.create", "--limit", "1");
  assert.equal(event?.resource.id, "audit/cli/hashed");
  const hash = await run("audit", "hash", '{"a":1,"b":2}');
  assert.equal(hash.code, 0, hash.stderr);
  assert.equal(hash.stdout.trim(), event?.metadata.valueHmac);
  const other = await cairn(["audit", "hash", "--string"], { env, input: '{"a":1,"b":2}' });
  assert.notEqual(other.stdout.trim(), event?.metadata.valueHmac, "as a string it is another value");
});

test("audit tail shows the latest events oldest first; -f follows new ones", async () => {
  const tail = await run("audit", "tail", "-n", "3", "--type", "config.*");
  assert.equal(tail.code, 0, tail.stderr);
  const indexes = tail.stdout
    .trimEnd()
    .split("\n")
    .map((l) => Number(l.trim().split(/\s+/)[0]));
  assert.equal(indexes.length, 3);
  assert.deepEqual(
    indexes,
    [...indexes].sort((a, b) => a - b),
  );

  const child = spawn(process.execPath, [CLI, "audit", "tail", "-f", "-n", "0", "--interval", "1", "--json", "--type", "config.*"], {
    env: { ...process.env, ...env, NO_COLOR: "1", XDG_CONFIG_HOME: dir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  try {
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(out, "", "-n 0: nothing old");
    assert.equal((await run("set", "audit/cli", "followed", "1")).code, 0);
    const deadline = Date.now() + 20_000;
    while (!out.includes("audit/cli/followed") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const line = JSON.parse(out.trim().split("\n")[0] as string) as Event;
    assert.equal(line.resource.id, "audit/cli/followed");
    assert.equal(line.eventType, "config.create");
  } finally {
    child.kill("SIGTERM");
  }
});

test("audit export + verify --file with the pinned public key; and verify against the server", async () => {
  const keyFile = join(dir, "audit.pub");
  const pk = await run("audit", "public-key");
  assert.equal(pk.code, 0, pk.stderr);
  assert.match(pk.stdout, /^cairn\.local\/cairn\/audit\/ten_\w+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*\n$/);
  await writeFile(keyFile, pk.stdout);

  const file = join(dir, "audit.ndjson");
  const exported = await run("audit", "export", "-o", file);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(exported.stderr, /wrote the audit export/);
  const offline = await cairn(["audit", "verify", "--file", file, "--public-key", keyFile], {});
  assert.equal(offline.code, 0, offline.stdout + offline.stderr);
  const verified = /^verified (\d+) events, root ([A-Za-z0-9+/]{43}=)\n$/.exec(offline.stdout);
  assert.ok(verified, offline.stdout);
  // The root printed is the one the last checkpoint in the file signed.
  const lines = (await readFile(file, "utf8")).trimEnd().split("\n");
  const lastCheckpoint = lines.filter((l) => l.startsWith('{"checkpoint"')).at(-1) as string;
  assert.ok(lastCheckpoint.includes(verified[2] as string));

  // From stdin, with the key given inline, and as JSON.
  const piped = await cairn(["audit", "verify", "--file", "-", "--public-key", pk.stdout.trim(), "--json"], { input: lines.join("\n") });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(JSON.parse(piped.stdout).ok, true);

  const online = await run("audit", "verify");
  assert.equal(online.code, 0, online.stdout + online.stderr);
  assert.match(online.stdout, /^verified \d+ events, root /);
  const range = await run("audit", "verify", "--from-index", "2", "--to-index", "5", "--public-key", keyFile);
  assert.equal(range.code, 0, range.stdout + range.stderr);

  // A changed line fails, naming its index.
  const eventLine = lines.findIndex((l) => l.includes('"eventType":"config.update"'));
  const index = JSON.parse(lines[eventLine] as string).index as number;
  const tampered = [...lines];
  tampered[eventLine] = (tampered[eventLine] as string).replace('"action":"update"', '"action":"upgrade"');
  await writeFile(join(dir, "tampered.ndjson"), `${tampered.join("\n")}\n`);
  const bad = await cairn(["audit", "verify", "--file", join(dir, "tampered.ndjson"), "--public-key", keyFile], {});
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, new RegExp(`^FAILED at index ${index}: `));
});

test("audit verify refuses bad invocations (exit 2)", async () => {
  const noKey = await cairn(["audit", "verify", "--file", "x.ndjson"], {});
  assert.equal(noKey.code, 2);
  assert.match(noKey.stderr, /--file needs --public-key/);
  const badKey = await cairn(["audit", "verify", "--file", "x.ndjson", "--public-key", "not-a-key"], {});
  assert.equal(badKey.code, 2);
  assert.match(badKey.stderr, /--public-key: /);
  const missing = await cairn(
    ["audit", "verify", "--file", join(dir, "nope.ndjson"), "--public-key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
    {},
  );
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read/);
});
