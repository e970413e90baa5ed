// Reference for the read benchmark: a bare Fastify hello-world, no logger, no plugins.
// Listens on 127.0.0.1:<PORT or 0> and prints `READY port=<n>` once it accepts connections.
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.get("/", async () => ({ hello: "world" }));

await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT ?? 0) });
console.log(`READY port=${app.server.address().port}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    app.close().finally(() => process.exit(0));
  });
}
