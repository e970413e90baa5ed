import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";

/**
 * The console is a single-page app that holds a bearer credential, so it gets the strictest policy that still
 * runs it: its own scripts and styles only (no inline script, no eval), API calls to this origin only, never
 * framed. React sets styles through the DOM, which style-src does not restrict.
 */
const CONSOLE_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
};

/** Paths the console never answers with its page: the API, the docs, and the ops endpoints keep their own 404s. */
const NOT_CONSOLE = /^\/(api|docs|metrics|health|ready)(\/|$)/;

/**
 * Serves the built web console (packages/web/dist) at `/`: its hashed assets with a year-long cache, and
 * index.html — never cached, so a new build is picked up — for every other GET of a page that asks for HTML,
 * so deep links (`/configs?ns=…`) and reloads work. Without a build, `/` says how to make one.
 */
export async function registerConsole(app: FastifyInstance, dir: string | undefined): Promise<void> {
  const indexFile = dir ? path.join(dir, "index.html") : undefined;
  if (!dir || !indexFile || !existsSync(indexFile)) {
    app.get("/", { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type("text/plain; charset=utf-8")
        .send(
          dir
            ? `Cairn is running. The web console is not built: run \`npm run build\` (it is looked for in ${dir}).\nAPI: /api/v1 · docs: /docs\n`
            : "Cairn is running; the web console is turned off (CAIRN_CONSOLE_DIR=off).\nAPI: /api/v1 · docs: /docs\n",
        ),
    );
    return;
  }
  const index = await readFile(indexFile);
  await app.register(async (scope) => {
    scope.addHook("onSend", async (_request, reply) => {
      reply.headers(CONSOLE_HEADERS);
    });
    await scope.register(fastifyStatic, {
      root: dir,
      prefix: "/",
      // One route per file found at start (the build is immutable); unknown paths fall through to the page below.
      wildcard: false,
      index: false,
      cacheControl: false,
      setHeaders: (res, filePath) => {
        const hashed = filePath.includes(`${path.sep}assets${path.sep}`);
        res.setHeader("cache-control", hashed ? "public, max-age=31536000, immutable" : "no-cache");
      },
    });
    const sendIndex = (reply: FastifyReply) => reply.type("text/html; charset=utf-8").header("cache-control", "no-cache").send(index);
    scope.get("/", { schema: { hide: true } }, async (_request, reply) => sendIndex(reply));
    scope.get("/*", { schema: { hide: true } }, async (request, reply) => {
      const pathname = request.url.split("?")[0] ?? "/";
      const wantsPage = (request.headers.accept ?? "").includes("text/html");
      if (NOT_CONSOLE.test(pathname) || !wantsPage || path.extname(pathname) !== "") return reply.callNotFound();
      return sendIndex(reply);
    });
  });
}
