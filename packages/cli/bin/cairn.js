#!/usr/bin/env node
// Committed launcher (executable in git), so `npx cairn` works without a chmod after `tsc -b`.
let cli;
try {
  cli = await import("../dist/main.js");
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND" || !String(e.message).includes("dist/main.js")) throw e;
  process.stderr.write("error: the Cairn CLI is not built yet: run `npm run build` (tsc -b) in the repository first\n");
  process.exit(1);
}
await cli.main(process.argv);
