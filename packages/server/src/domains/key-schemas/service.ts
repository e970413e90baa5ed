import { createHash } from "node:crypto";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError, type FieldError } from "../../errors.js";
import { checkKey } from "../names.js";
import type { NamespaceService } from "../namespaces/service.js";
import type { KeySchemaRepository } from "./repository.js";
import type { KeySchema } from "./schemas.js";

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

const MAX_SCHEMA_BYTES = 64 * 1024;

/** A validator for one key, or null when the key has no schema. */
export type KeyValidator = ((value: unknown) => FieldError[]) | null;

/**
 * JSON Schema (2020-12) attached per namespace/key, checked by ajv on every write in every environment.
 * Compiled validators are cached by the schema's hash, so a changed schema is picked up on the next
 * write on every replica (the row is read in the writer's transaction).
 */
export function createKeySchemaService(deps: { db: Db; repo: KeySchemaRepository; namespaces: NamespaceService; audit: AuditLog }) {
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true });
  addFormats(ajv);
  const compiled = new Map<string, ValidateFunction>();

  function compile(schema: Record<string, unknown>): ValidateFunction {
    const text = JSON.stringify(schema);
    const hash = createHash("sha256").update(text).digest("base64");
    let fn = compiled.get(hash);
    if (!fn) {
      try {
        fn = ajv.compile(schema);
      } catch (e) {
        throw new CairnError("validation_failed", `not a valid JSON Schema: ${(e as Error).message}`, {
          errors: [{ path: "/schema", message: (e as Error).message }],
        });
      }
      if (compiled.size > 10_000) compiled.clear();
      compiled.set(hash, fn);
    }
    return fn;
  }

  const toFieldErrors = (fn: ValidateFunction): FieldError[] =>
    (fn.errors ?? []).map((e) => ({
      path: e.instancePath || "/",
      message: e.keyword === "additionalProperties" ? `${e.message}: ${String(e.params.additionalProperty)}` : (e.message ?? "invalid"),
    }));

  const view = (ns: string, row: { key: string; schema: Record<string, unknown>; updated_at: Date; updated_by: string }): KeySchema => ({
    namespace: ns,
    key: row.key,
    schema: row.schema,
    updatedAt: new Date(row.updated_at).toISOString(),
    updatedBy: row.updated_by,
  });

  return {
    /** The validator for a schema already at hand (e.g. read with the head row), or null for none. */
    validatorOf(schema: Record<string, unknown> | null | undefined): KeyValidator {
      if (!schema) return null;
      const fn = compile(schema);
      return (value) => (fn(value) ? [] : toFieldErrors(fn));
    },

    async validatorFor(conn: Conn, tenantId: string, namespaceId: string, key: string): Promise<KeyValidator> {
      const row = await deps.repo.find(tenantId, namespaceId, key, conn);
      return this.validatorOf(row?.schema);
    },

    async get(tenantId: string, ns: string, key: string): Promise<KeySchema> {
      checkKey(key);
      const nsRef = await deps.namespaces.require(tenantId, ns);
      const row = await deps.repo.find(tenantId, nsRef.id, key);
      if (!row) throw new CairnError("not_found", `no schema is attached to ${ns}/${key}`);
      return view(ns, row);
    },

    async put(ctx: CallContext, ns: string, key: string, schema: Record<string, unknown>): Promise<KeySchema> {
      checkKey(key);
      const text = JSON.stringify(schema);
      if (Buffer.byteLength(text) > MAX_SCHEMA_BYTES) {
        throw new CairnError("payload_too_large", `a schema may be at most ${MAX_SCHEMA_BYTES} bytes`);
      }
      compile(schema);
      const tenantId = ctx.actor.tenantId;
      const existing = await deps.namespaces.find(tenantId, ns);
      const row = await deps.db.transaction().execute(async (trx) => {
        const nsRef = existing ?? (await deps.namespaces.ensure(trx, tenantId, ns));
        const saved = await deps.repo.upsert(trx, { tenantId, namespaceId: nsRef.id, key, schema: text, updatedBy: ctx.actor.id });
        await deps.audit.append(trx, {
          tenantId,
          eventType: "schema.attached",
          action: "update",
          result: "success",
          ctx,
          resource: { type: "schema", id: `${ns}/${key}`, namespace: ns },
        });
        return saved;
      });
      return view(ns, row);
    },

    async remove(ctx: CallContext, ns: string, key: string): Promise<void> {
      checkKey(key);
      const tenantId = ctx.actor.tenantId;
      const nsRef = await deps.namespaces.require(tenantId, ns);
      await deps.db.transaction().execute(async (trx) => {
        if (!(await deps.repo.remove(trx, tenantId, nsRef.id, key))) {
          throw new CairnError("not_found", `no schema is attached to ${ns}/${key}`);
        }
        await deps.audit.append(trx, {
          tenantId,
          eventType: "schema.detached",
          action: "delete",
          result: "success",
          ctx,
          resource: { type: "schema", id: `${ns}/${key}`, namespace: ns },
        });
      });
    },
  };
}

export type KeySchemaService = ReturnType<typeof createKeySchemaService>;
