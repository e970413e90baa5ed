#!/usr/bin/env node
// Runs every packages/*/test/**/*.test.ts with node's own test runner (TypeScript through tsx).
//
//   npm test                  all test files
//   npm test -- configs keys  only files whose path contains "configs" or "keys"
//
// Prints node's spec report (with its own ℹ tests / ℹ pass / ℹ fail summary), then, as the very
// last line, `N passed, N failed`, counted from a TAP report written to a temporary file in the
// same run. Exits with the test runner's exit code.
//
// CAIRN_TEST_ROOT=<dir> searches <dir>/packages/*/test instead of this repository (for testing
// this script itself).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const root = path.resolve(process.env.CAIRN_TEST_ROOT ?? repoRoot);
const filters = process.argv.slice(2).filter((a) => a !== "--");

/** Every *.test.ts below dir, skipping node_modules and dot-directories. */
function findTests(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
      out.push(...findTests(full));
    } else if (entry.isFile() && entry.name.endsWith(".test.ts")) {
      out.push(full);
    }
  }
  return out;
}

function allTestFiles() {
  const packagesDir = path.join(root, "packages");
  if (!existsSync(packagesDir)) return [];
  const files = [];
  for (const pkg of readdirSync(packagesDir, { withFileTypes: true })) {
    if (!pkg.isDirectory() || pkg.name === "node_modules") continue;
    const testDir = path.join(packagesDir, pkg.name, "test");
    if (existsSync(testDir)) files.push(...findTests(testDir));
  }
  return files.sort();
}

const found = allTestFiles();
const files = filters.length === 0 ? found : found.filter((f) => filters.some((needle) => path.relative(root, f).includes(needle)));

if (files.length === 0) {
  if (filters.length > 0) {
    console.error(`no test file under ${path.join(root, "packages/*/test")} matches ${filters.map((f) => JSON.stringify(f)).join(" or ")}`);
    console.log("0 passed, 0 failed");
    process.exit(1);
  }
  console.error(`no test files under ${path.join(root, "packages/*/test")}`);
  console.log("0 passed, 0 failed");
  process.exit(0);
}

const tmp = mkdtempSync(path.join(tmpdir(), "cairn-test-"));
const tapFile = path.join(tmp, "report.tap");

const args = ["--import", "tsx", "--test"];
if (process.allowedNodeEnvironmentFlags.has("--test-concurrency")) args.push("--test-concurrency=2");
args.push(
  "--test-reporter=spec",
  "--test-reporter-destination=stdout",
  "--test-reporter=tap",
  `--test-reporter-destination=${tapFile}`,
  ...files.map((f) => (path.relative(repoRoot, f).startsWith("..") ? f : path.relative(repoRoot, f))),
);

const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: "inherit", env: process.env });

// Ctrl-C reaches the child through the terminal's process group; a SIGTERM sent only to us is passed on.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (child.exitCode === null) child.kill(signal);
  });
}

child.on("error", (err) => {
  console.error(`could not start the test runner: ${err.message}`);
  rmSync(tmp, { recursive: true, force: true });
  console.log("0 passed, 0 failed");
  process.exit(1);
});

child.on("exit", (code, signal) => {
  const exitCode = code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1);
  let passed = 0;
  let failed = 0;
  let cancelled = 0;
  let counted = false;
  try {
    // The top-level summary is the last `# pass` / `# fail` pair in the file (lines are not indented).
    for (const line of readFileSync(tapFile, "utf8").split("\n")) {
      const m = /^# (pass|fail|cancelled) (\d+)\s*$/.exec(line);
      if (!m) continue;
      counted = true;
      const n = Number(m[2]);
      if (m[1] === "pass") passed = n;
      else if (m[1] === "fail") failed = n;
      else cancelled = n;
    }
  } catch {
    // no report: the runner died before writing one
  }
  rmSync(tmp, { recursive: true, force: true });
  if (!counted) console.error(`the test runner wrote no summary (exit ${signal ?? code})`);
  // A cancelled test (timeout, or its file ended early) did not pass: count it as failed.
  if (cancelled > 0) console.error(`${cancelled} test(s) cancelled, counted as failed`);
  if (exitCode !== 0 && failed + cancelled === 0) {
    console.error(`the test runner exited with ${signal ?? code} without reporting a failing test`);
  }
  console.log(`${passed} passed, ${failed + cancelled} failed`);
  process.exit(exitCode);
});

function signalNumber(signal) {
  return { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 }[signal];
}
