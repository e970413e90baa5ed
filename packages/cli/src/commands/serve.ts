import { type Command, Option } from "commander";
import { reportError } from "../errors.js";
import { port } from "../input.js";
import { examples } from "../options.js";

interface ServeFlags {
  port?: number;
  host?: string;
  dataDir?: string;
  role?: "api" | "worker" | "all";
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run the Cairn server (embedded PostgreSQL in --data-dir unless DATABASE_URL is set)")
    .option("-p, --port <port>", "port to listen on (default: $CAIRN_PORT, $PORT or 8080)", port)
    .option("--host <host>", "address to bind (default: $CAIRN_HOST or 127.0.0.1)")
    .option("--data-dir <dir>", "where the embedded database lives (default: $CAIRN_DATA_DIR or ./.cairn/data)")
    .addOption(
      new Option(
        "--role <role>",
        "api: HTTP only; worker: also grant and revoke access requests; all (default: $CAIRN_ROLE or all)",
      ).choices(["api", "worker", "all"]),
    )
    .addHelpText("after", examples("cairn serve", "cairn serve --port 9000 --data-dir /var/lib/cairn", "cairn serve --role worker"))
    .action(async (flags: ServeFlags) => {
      // Imported lazily: the server's dependencies (Fastify, PGlite) would slow every other command.
      const { runServer } = await import("@cairn/server");
      try {
        await runServer({ port: flags.port, host: flags.host, dataDir: flags.dataDir, role: flags.role });
      } catch (e) {
        // A half-started server may hold handles open: exit rather than hang.
        process.exit(reportError(e));
      }
    });
}
