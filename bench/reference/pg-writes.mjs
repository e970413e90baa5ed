// Reference for the write benchmark: what a versioned write costs with nothing but `pg`.
//
// PUT /api/v1/configs/:namespace/:key with {"value": ...} runs ONE transaction with three inserts
// into this script's own tables:
//   1. upsert the head row (namespace, key) → next version number (row lock serialises writers of a key),
//   2. insert the version row (namespace, key, version, value),
//   3. insert an audit row.
// No encryption, no auth, no schema checks, no cache: that is what Cairn adds and the ratio measures.
// Served by Fastify, like Cairn, so both sides pay the same HTTP and JSON-parsing costs.
//
// Env: DATABASE_URL (required; a throwaway database), POOL_SIZE (default 20), PORT (default 0).
// Prints `READY port=<n>` once it accepts connections.
import Fastify from "fastify";
import pg from "pg";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error("pg-writes: DATABASE_URL is required");
  process.exit(2);
}

const pool = new pg.Pool({ connectionString: databaseUrl, max: Number(process.env.POOL_SIZE ?? 20) });

await pool.query(`
  CREATE TABLE IF NOT EXISTS bench_ref_heads (
    namespace text NOT NULL,
    key text NOT NULL,
    version integer NOT NULL,
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, key)
  );
  CREATE TABLE IF NOT EXISTS bench_ref_versions (
    id bigserial PRIMARY KEY,
    namespace text NOT NULL,
    key text NOT NULL,
    version integer NOT NULL,
    value text NOT NULL,
    actor text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, key, version)
  );
  CREATE TABLE IF NOT EXISTS bench_ref_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    detail jsonb NOT NULL
  );
`);

const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });

app.put("/api/v1/configs/:namespace/:key", async (request, reply) => {
  const { namespace, key } = request.params;
  const body = request.body;
  if (body === null || typeof body !== "object" || !("value" in body)) {
    return reply.code(400).send({ title: "value is required" });
  }
  const value = JSON.stringify(body.value);
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const head = await client.query(
      `INSERT INTO bench_ref_heads (namespace, key, version, value) VALUES ($1, $2, 1, $3)
       ON CONFLICT (namespace, key) DO UPDATE
         SET version = bench_ref_heads.version + 1, value = EXCLUDED.value, updated_at = now()
       RETURNING version, updated_at`,
      [namespace, key, value],
    );
    const { version, updated_at: updatedAt } = head.rows[0];
    await client.query("INSERT INTO bench_ref_versions (namespace, key, version, value, actor) VALUES ($1, $2, $3, $4, $5)", [
      namespace,
      key,
      version,
      value,
      "bench",
    ]);
    await client.query("INSERT INTO bench_ref_audit (actor, action, target, detail) VALUES ($1, $2, $3, $4)", [
      "bench",
      "config.set",
      `${namespace}/${key}`,
      JSON.stringify({ version }),
    ]);
    await client.query("COMMIT");
    return { namespace, key, environment: "base", value: body.value, version, updatedAt, updatedBy: "bench" };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
});

await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT ?? 0) });
console.log(`READY port=${app.server.address().port}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    app
      .close()
      .then(() => pool.end())
      .finally(() => process.exit(0));
  });
}
