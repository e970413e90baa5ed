import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import { stringify as toYaml } from "yaml";
import type { Action, Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { etagOf, matchesIfNoneMatch, parseIfMatch } from "../../http/preconditions.js";
import { problemResponses } from "../../http/problem.js";
import type { ProtectedEnvironmentGate } from "../change-requests/gate.js";
import {
  BulkBody,
  BulkResult,
  ConfigEntry,
  ConfigList,
  DeleteQuery,
  GetConfigQuery,
  HistoryQuery,
  KeyHistory,
  ListQuery,
  NamespaceHistory,
  NamespaceHistoryQuery,
  NsKeyParams,
  NsParams,
  PutConfigBody,
  ResolvedConfig,
  RollbackBody,
  ValidateBody,
  ValidateResult,
  WriteQuery,
} from "./schemas.js";
import type { ConfigService } from "./service.js";
import { dotenvLine } from "./values.js";

const tags = ["configs"];
const ifMatchHeader = { type: "object", properties: { "if-match": { type: "string" } } } as const;

/** Routes parse and hand over to the service; the service decides. */
export const configRoutes =
  (service: ConfigService, authz: Authorizer, gate?: ProtectedEnvironmentGate): FastifyPluginAsyncTypebox =>
  async (app) => {
    // Protected environments (requireApproval): a write there becomes a change request (202) before its handler runs.
    gate?.install(app);
    /** The caller, once allowed to do `action` on configs in `namespace` (and `environment`, for conditions). */
    const allowed = async (request: FastifyRequest, action: Action, namespace: string, environment?: string) => {
      const ctx = ctxOf(request);
      await authz.require(ctx, { resource: "configs", namespace, action, environment: environment ?? "base" });
      return ctx;
    };

    const setEtag = (reply: { header(k: string, v: string): unknown }, entry: ConfigEntry) => reply.header("etag", `"${entry.version}"`);

    for (const createOnly of [false, true]) {
      app.route({
        method: createOnly ? "POST" : "PUT",
        url: "/configs/:ns/:key",
        schema: {
          tags,
          summary: createOnly ? "Create a key (409 if it exists)" : "Set a value (create or update); If-Match for optimistic locking",
          params: NsKeyParams,
          querystring: WriteQuery,
          headers: ifMatchHeader,
          body: PutConfigBody,
          response: { 200: ConfigEntry, 201: ConfigEntry, ...problemResponses },
        },
        handler: async (request, reply) => {
          const { ns, key } = request.params;
          const ctx = await allowed(request, "write", ns, request.query.environment);
          const entry = await service.put(ctx, { namespace: ns, key, environment: request.query.environment }, request.body, {
            ifMatch: parseIfMatch(request.headers["if-match"]),
            createOnly,
          });
          setEtag(reply, entry);
          return reply.code(createOnly ? 201 : 200).send(entry);
        },
      });
    }

    app.get(
      "/configs/:ns/:key",
      {
        schema: {
          tags,
          summary: "Read a value, resolved along the environment chain",
          params: NsKeyParams,
          querystring: GetConfigQuery,
          response: { 200: ResolvedConfig, ...problemResponses },
        },
      },
      async (request, reply) => {
        const { ns, key } = request.params;
        const { environment, version, reveal, resolve } = request.query;
        const ctx = await allowed(request, "read", ns, environment);
        const serialize = (e: ResolvedConfig) => String(reply.serialize(e));
        const read = await service.read(ctx, { namespace: ns, key, environment }, { version, reveal }, serialize);
        const { entry, json } = resolve ? await service.resolved(ctx, read, Boolean(reveal), serialize) : read;
        reply.header("cache-control", "private, no-cache");
        // A resolved value also depends on the keys it refers to, which this version number doesn't name.
        if (resolve) return reply.type("application/json; charset=utf-8").send(json as never);
        const etag = etagOf(entry.environment, entry.resolvedFrom, entry.version);
        reply.header("etag", etag);
        if (matchesIfNoneMatch(request.headers["if-none-match"], etag)) return reply.code(304).send(null as never);
        // Already serialised by this route's schema (and cached that way): sent as is.
        return reply.type("application/json; charset=utf-8").send(json as never);
      },
    );

    app.delete(
      "/configs/:ns/:key",
      {
        schema: {
          tags,
          summary: "Delete: writes a tombstone version (history is kept; rollback restores)",
          params: NsKeyParams,
          querystring: DeleteQuery,
          headers: ifMatchHeader,
          response: { 200: ConfigEntry, ...problemResponses },
        },
      },
      async (request, reply) => {
        const { ns, key } = request.params;
        const entry = await service.remove(
          await allowed(request, "delete", ns, request.query.environment),
          { namespace: ns, key, environment: request.query.environment },
          { ifMatch: parseIfMatch(request.headers["if-match"]), reason: request.query.reason },
        );
        setEtag(reply, entry);
        return entry;
      },
    );

    app.get(
      "/configs/:ns",
      {
        schema: {
          tags,
          summary: "List a namespace (resolved), optionally as it was at a point in time, as JSON, YAML or dotenv",
          params: NsParams,
          querystring: ListQuery,
          response: { 200: ConfigList, ...problemResponses },
        },
      },
      async (request, reply) => {
        const { format = "json", ...options } = request.query;
        const ctx = await allowed(request, "list", request.params.ns, options.environment);
        const list = await service.list(ctx, request.params.ns, options);
        if (format === "json") return list;
        const entries = list.items.map((i) => [i.key, i.value] as const);
        const text =
          format === "yaml"
            ? entries.length
              ? toYaml(Object.fromEntries(entries))
              : "{}\n"
            : entries.map(([k, v]) => `${dotenvLine(k, v)}\n`).join("");
        return reply.type(format === "yaml" ? "application/yaml; charset=utf-8" : "text/plain; charset=utf-8").send(text as never);
      },
    );

    app.get(
      "/configs/:ns/:key/history",
      {
        schema: {
          tags,
          summary: "Versions of a key, newest first, each with its RFC 6902 diff to the previous one",
          params: NsKeyParams,
          querystring: HistoryQuery,
          response: { 200: KeyHistory, ...problemResponses },
        },
      },
      async (request) => {
        const { ns, key } = request.params;
        const { environment, limit, reveal } = request.query;
        const ctx = await allowed(request, "read", ns, environment);
        return service.history(ctx, { namespace: ns, key, environment }, { limit, reveal });
      },
    );

    app.get(
      "/configs/:ns/history",
      {
        schema: {
          tags,
          summary: "Recent changes across a namespace",
          params: NsParams,
          querystring: NamespaceHistoryQuery,
          response: { 200: NamespaceHistory, ...problemResponses },
        },
      },
      async (request) =>
        service.namespaceHistory(
          await allowed(request, "list", request.params.ns, request.query.environment),
          request.params.ns,
          request.query,
        ),
    );

    app.post(
      "/configs/:ns/:key/rollback",
      {
        schema: {
          tags,
          summary: "Restore an earlier version as a new version (changeType restore)",
          params: NsKeyParams,
          querystring: WriteQuery,
          headers: ifMatchHeader,
          body: RollbackBody,
          response: { 200: ConfigEntry, ...problemResponses },
        },
      },
      async (request, reply) => {
        const { ns, key } = request.params;
        const entry = await service.rollback(
          await allowed(request, "write", ns, request.query.environment),
          { namespace: ns, key, environment: request.query.environment },
          request.body.version,
          { ifMatch: parseIfMatch(request.headers["if-match"]), reason: request.body.reason },
        );
        setEtag(reply, entry);
        return entry;
      },
    );

    app.post(
      "/configs/:ns/validate",
      {
        schema: {
          tags,
          summary: "Check values against their keys' schemas; writes nothing",
          params: NsParams,
          body: ValidateBody,
          response: { 200: ValidateResult, ...problemResponses },
        },
      },
      async (request) =>
        service.validate(
          await allowed(request, "read", request.params.ns, request.body.environment),
          request.params.ns,
          request.body.values,
          request.body.environment,
        ),
    );

    app.post(
      "/configs/bulk",
      {
        schema: {
          tags,
          summary: "Apply many sets and deletes atomically: all or none",
          body: BulkBody,
          response: { 200: BulkResult, ...problemResponses },
        },
      },
      async (request) => {
        const ctx = ctxOf(request);
        // Every operation is checked before any is applied.
        for (const op of request.body.operations) {
          await authz.require(ctx, {
            resource: "configs",
            namespace: op.namespace,
            action: op.op === "set" ? "write" : "delete",
            environment: op.environment ?? "base",
          });
        }
        return service.bulk(ctx, request.body);
      },
    );
  };
