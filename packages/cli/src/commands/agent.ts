import { CairnApiError } from "@cairn/sdk";
import { type Command, Option } from "commander";
import { CacheUnreadableError, createDiskCache, type DiskCache, defaultCacheDir } from "../agent/cache.js";
import { Follower } from "../agent/follower.js";
import { createLogger, type Logger } from "../agent/log.js";
import { Notifier, type PidSource, pidSource, signalName } from "../agent/notify.js";
import { type ListenSpec, listenAddress, startAgentServer } from "../agent/server.js";
import { emptySnapshot, type Snapshot } from "../agent/snapshot.js";
import { collectTemplate, TemplateRenderer, type TemplateSpec } from "../agent/templates.js";
import { connect, resolveConnection, withConnectionOptions } from "../connection.js";
import { CliError, UsageError } from "../errors.js";
import { positiveInt } from "../input.js";
import { examples } from "../options.js";

interface AgentFlags {
  namespace: string;
  environment: string;
  listen?: { host: string; port: number };
  socket?: string;
  cache: boolean;
  cacheDir?: string;
  cacheKey?: string;
  template?: TemplateSpec[];
  onChange?: string;
  signal?: NodeJS.Signals;
  pid?: PidSource;
  pollInterval: number;
  watch: boolean;
  quiet?: boolean;
}

export function registerAgent(program: Command): void {
  withConnectionOptions(
    program
      .command("agent")
      .description("run a local sidecar: serve a namespace's values from memory, keep them current, render templates")
      .requiredOption("-n, --namespace <ns>", "namespace to serve, e.g. production/api")
      .option("-e, --environment <name>", "environment to resolve in", "base")
      .option("--listen <host:port>", "address of the local read API (default 127.0.0.1:7070)", listenAddress)
      .option("--socket <path>", "serve on a unix socket (mode 0600) instead of TCP")
      .option("--cache-dir <dir>", "where the encrypted disk cache lives (default: $XDG_CACHE_HOME/cairn/agent)")
      .option("--cache-key <secret>", "derive the cache key from this, not the API key (better: $CAIRN_AGENT_CACHE_KEY, unseen by ps)")
      .option("--no-cache", "keep values in memory only (nothing served while the server is down at start)")
      .option("--template <in:out>", "render a template file, or @dotenv / @json / @yaml, to a file (repeatable)", collectTemplate)
      .option("--on-change <command>", "shell command to run after a rendered file changed (or a value, without templates)")
      .option("--signal <signal>", "signal to send after a change (with --pid), e.g. SIGHUP", signalName)
      .option("--pid <pid|pidfile>", "process to signal: a process id, or a pid file read each time", pidSource)
      .addOption(
        new Option("--poll-interval <seconds>", "poll period when the server has no watch stream (± 20 % jitter)")
          .argParser(positiveInt)
          .default(30),
      )
      .option("--no-watch", "poll only, never use the watch stream")
      .option("-q, --quiet", "log only warnings and errors"),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn agent -n production/api -e production",
        "curl -s http://127.0.0.1:7070/api/v1/configs/production%2Fapi/db.url",
        "cairn agent -n production/api -e production --socket /run/cairn/agent.sock",
        "cairn agent -n production/api -e production --template @dotenv:/run/app/.env --on-change 'systemctl reload app'",
        "cairn agent -n web/nginx -e production --template upstream.conf.tmpl:/etc/nginx/conf.d/upstream.conf --signal HUP --pid /run/nginx.pid",
      )}
Templates: {{ key }}, {{ key | default "x" }}, filters json, quote, upper, lower, trim, base64;
{{! comment }}; \\{{ for a literal {{. A missing key without default, or a masked secret, fails the
render (the old file stays). Files are replaced atomically, and only when their text changed.

Secrets are served in clear (with ?reveal=true, as the server does) when the agent's credential may
reveal them (secrets:<ns>:reveal); otherwise they stay masked and templates cannot use them.
While the server cannot be reached, the agent serves what it last knew with X-Cairn-Stale: true.
`,
    )
    .action(async (flags: AgentFlags, cmd: Command) => {
      await runAgent(flags, cmd);
    });
}

async function runAgent(flags: AgentFlags, cmd: Command): Promise<void> {
  // Every usage problem before anything starts.
  if (flags.listen && flags.socket) throw new UsageError("--listen and --socket are alternatives: give one");
  if (Boolean(flags.signal) !== Boolean(flags.pid)) throw new UsageError("--signal and --pid go together: which signal, to which process");
  const cacheKey = flags.cacheKey ?? process.env.CAIRN_AGENT_CACHE_KEY;
  if (cacheKey !== undefined && cacheKey.length < 16) {
    throw new UsageError("--cache-key must be at least 16 characters (a random string, e.g. openssl rand -base64 32)");
  }
  const log = createLogger("cairn agent", { quiet: flags.quiet });
  const renderer = await TemplateRenderer.load(flags.template ?? [], log);
  const { namespace, environment } = flags;

  const connection = await resolveConnection(cmd.optsWithGlobals());
  const client = await connect(cmd);
  const cache = flags.cache ? openCache(flags.cacheDir, cacheKey, connection, { namespace, environment }, log) : undefined;
  let cached: Snapshot | undefined;
  try {
    cached = await cache?.load();
    if (cached) log.info(`loaded ${cached.items.length} keys from the disk cache (synced ${cached.syncedAt})`);
  } catch (e) {
    if (!(e instanceof CacheUnreadableError)) throw e;
    log.warn(e.message);
  }

  let ready = Boolean(cached);
  const notifier = new Notifier({
    command: flags.onChange,
    signal: flags.signal && flags.pid ? { name: flags.signal, target: flags.pid } : undefined,
    log,
  });
  // Saving, rendering and notifying happen one update at a time, in order.
  let chain: Promise<void> = Promise.resolve();
  const update = (snapshot: Snapshot, changed: string[]) => {
    chain = chain.then(async () => {
      ready = true;
      await cache?.save(snapshot).catch((e: Error) => log.error(`cannot write the disk cache: ${e.message}`));
      if (renderer.size === 0) {
        if (changed.length > 0) notifier.trigger(changed);
        return;
      }
      const written = await renderer.render(snapshot);
      if (written.length > 0) notifier.trigger(written);
    });
    return chain;
  };

  const follower = new Follower({
    client,
    namespace,
    environment,
    pollIntervalMs: flags.pollInterval * 1000,
    watch: flags.watch,
    initial: cached ?? emptySnapshot(namespace, environment),
    log,
    onUpdate: update,
  });

  const listen: ListenSpec = flags.socket ? { socket: flags.socket } : (flags.listen ?? { host: "127.0.0.1", port: 7070 });
  const server = await startAgentServer(
    listen,
    () => ({
      snapshot: follower.snapshot,
      stale: follower.stale,
      // Values from the cache, or confirmed by the server (an empty namespace is an answer too).
      ready: ready || !follower.stale,
      mode: follower.mode,
      lastError: follower.lastError,
    }),
    log,
  ).catch((e: NodeJS.ErrnoException) => {
    throw new CliError(`cannot listen on ${"socket" in listen ? listen.socket : `${listen.host}:${listen.port}`}: ${e.code ?? e.message}`);
  });
  log.info(`serving ${namespace} (${environment}) on ${server.address}`);

  let stopping: Promise<void> | undefined;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(130);
    }
    log.info(`${signal}: shutting down`);
    stopping = (async () => {
      await follower.stop();
      await server.close();
      await chain.catch(() => undefined);
      await notifier.close();
    })();
  };
  const done = new Promise<void>((resolve) => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.on(signal, () => {
        shutdown(signal);
        stopping?.then(resolve, resolve);
      });
    }
  });

  try {
    await follower.sync({ log: true });
    ready = true;
  } catch (e) {
    // Refused for good (bad input, a credential the server refuses) with nothing cached: waiting will not
    // help, so say so and stop. A server that cannot be reached is retried.
    if (!cached && e instanceof CairnApiError && [400, 401, 403, 422].includes(e.status)) {
      await server.close();
      throw e;
    }
  }
  // First render (and save) from whatever there is; later ones follow changes.
  if (ready || !follower.stale) await update(follower.snapshot, []);
  if (!stopping) follower.start();
  await done;
  log.info("stopped");
  // Anything still holding the event loop (a keep-alive socket) must not keep a stopped agent alive.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
}

/** The disk cache, keyed by --cache-key, else the API key; none for a login session without --cache-key. */
function openCache(
  dir: string | undefined,
  cacheKey: string | undefined,
  connection: Awaited<ReturnType<typeof resolveConnection>>,
  scope: { namespace: string; environment: string },
  log: Logger,
): DiskCache | undefined {
  const secret = cacheKey ?? (connection.session ? undefined : connection.token);
  if (!secret) {
    log.warn("no disk cache: with a login session (its token changes every 15 minutes) the cache needs --cache-key");
    return undefined;
  }
  return createDiskCache(dir ?? defaultCacheDir(), secret, { url: connection.url, ...scope });
}
