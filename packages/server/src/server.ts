import { existsSync } from "node:fs";
import path from "node:path";
import { buildApp } from "./app.js";
import { loadSettings, SettingsError, type SettingsOverrides } from "./settings.js";

/**
 * `cairn serve`: build, listen, print the admin key on the very first start, and drain on SIGTERM/SIGINT
 * (in-flight requests finish, new ones get 503, the pool closes).
 */
export async function runServer(overrides: SettingsOverrides = {}, out: NodeJS.WritableStream = process.stdout) {
  const settings = loadSettings(process.env, overrides);
  // Only when asked for: the OpenTelemetry SDK is loaded (and costs anything) only then.
  const tracing = settings.otlpEndpoint ? (await import("./tracing.js")).startTracing() : undefined;
  const cairn = await buildApp(settings);
  const { app } = cairn;
  const address = await app.listen({ host: settings.host, port: settings.port });

  const lines = [
    `Cairn is listening on ${address} (${cairn.store.kind === "pglite" ? `embedded store in ${settings.dataDir}` : "PostgreSQL"})`,
  ];
  if (settings.consoleDir && existsSync(path.join(settings.consoleDir, "index.html"))) {
    lines.push(`Web console: ${address}/ (sign in with an API key or a user's email and password)`);
  }
  if (cairn.generatedMasterKeyFile) {
    lines.push(`Generated a master key at ${cairn.generatedMasterKeyFile} (mode 0600). Back it up: without it nothing stored can be read.`);
  }
  if (cairn.bootstrap.generatedAdminKey) {
    lines.push(
      "",
      "Admin API key (shown once, stored only as a hash; save it now):",
      "",
      `    ${cairn.bootstrap.generatedAdminKey}`,
      "",
      `Try: export CAIRN_TOKEN=<the key above>; curl -H "Authorization: Bearer $CAIRN_TOKEN" ${address}/api/v1/environments`,
    );
  }
  out.write(`${lines.join("\n")}\n`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, "draining");
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    // Node closes idle keep-alive sockets once, when close() starts; one whose last request finishes
    // later would hold close() open until its keep-alive timeout. Close each as soon as it goes idle.
    const reaper = setInterval(() => app.server.closeIdleConnections(), 25);
    try {
      await app.close();
      await tracing?.shutdown().catch(() => {});
      clearInterval(reaper);
      clearTimeout(force);
      process.exit(0);
    } catch {
      process.exit(1);
    }
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  return { app, address, settings };
}

export { SettingsError };
