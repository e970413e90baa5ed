import { Readable } from "node:stream";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import { Type } from "typebox";
import type { Action, Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import {
  AuditCheckpoint,
  AuditCheckpointList,
  AuditEventList,
  AuditPublicKey,
  AuditVerification,
  ConsistencyProof,
  ConsistencyQuery,
  ExportQuery,
  HashBody,
  HashResult,
  InclusionProof,
  InclusionQuery,
  ListAuditQuery,
  ListCheckpointsQuery,
} from "./schemas.js";
import type { AuditService } from "./service.js";

const tags = ["audit"];

/**
 * The tenant's audit log. Listing needs `audit:**:list`; checkpoints, keys, proofs, the export and
 * `POST /audit/verify` (which reads a whole export) need `audit:**:read`; `POST /audit/hash` needs
 * `audit:**:reveal`, since it answers "was this value written?" (built-in `operator` reads and lists;
 * `admin` does all three).
 */
export const auditRoutes =
  (service: AuditService, authz: Authorizer): FastifyPluginAsyncTypebox =>
  async (app) => {
    const guard = (action: Action) => ({
      preHandler: async (request: FastifyRequest) => authz.require(ctxOf(request), { resource: "audit", action }),
    });

    app.get(
      "/audit",
      {
        ...guard("list"),
        schema: {
          tags,
          summary: "Audit events of the tenant: filter by time, actor, event type, namespace, result; cursor pages",
          querystring: ListAuditQuery,
          response: { 200: AuditEventList, ...problemResponses },
        },
      },
      async (request) => service.list(ctxOf(request), request.query),
    );

    app.get(
      "/audit/checkpoints",
      {
        ...guard("read"),
        schema: {
          tags,
          summary: "Signed checkpoints of the tenant's log (C2SP tlog-checkpoint notes), newest first",
          querystring: ListCheckpointsQuery,
          response: { 200: AuditCheckpointList, ...problemResponses },
        },
      },
      async (request) => service.checkpoints(ctxOf(request), request.query),
    );

    app.get(
      "/audit/checkpoints/latest",
      {
        ...guard("read"),
        schema: { tags, summary: "The latest signed checkpoint", response: { 200: AuditCheckpoint, ...problemResponses } },
      },
      async (request) => service.latestCheckpoint(ctxOf(request)),
    );

    app.get(
      "/audit/public-key",
      {
        ...guard("read"),
        schema: {
          tags,
          summary: "The Ed25519 key that signs the tenant's checkpoints (give it to auditors out of band)",
          response: { 200: AuditPublicKey, ...problemResponses },
        },
      },
      async (request) => service.publicKey(ctxOf(request)),
    );

    app.get(
      "/audit/proofs/inclusion",
      {
        ...guard("read"),
        schema: {
          tags,
          summary: "RFC 6962 inclusion proof of the event at `index` in the tree of `treeSize` (default: the latest checkpoint)",
          querystring: InclusionQuery,
          response: { 200: InclusionProof, ...problemResponses },
        },
      },
      async (request) => service.inclusion(ctxOf(request), request.query),
    );

    app.get(
      "/audit/proofs/consistency",
      {
        ...guard("read"),
        schema: {
          tags,
          summary: "RFC 6962 consistency proof between tree sizes `first` and `second` (default: the latest checkpoint)",
          querystring: ConsistencyQuery,
          response: { 200: ConsistencyProof, ...problemResponses },
        },
      },
      async (request) => service.consistency(ctxOf(request), request.query),
    );

    app.get(
      "/audit/export",
      {
        ...guard("read"),
        schema: {
          tags,
          summary:
            "The log as NDJSON: a header, the events exactly as hashed (RFC 8785), their committed leaf hashes, the signed checkpoints with consistency proofs, an end line. Verify it offline with `cairn audit verify --file`.",
          querystring: ExportQuery,
          response: { 200: Type.String({ description: "application/x-ndjson" }), ...problemResponses },
        },
      },
      async (request, reply) => {
        const lines = await service.export(ctxOf(request), request.query);
        const stream = Readable.from(lines, { objectMode: false });
        stream.on("error", (e) => request.log.warn({ error: e.message }, "audit export stopped half-way"));
        return (
          reply
            .type("application/x-ndjson; charset=utf-8")
            .header("cache-control", "no-store")
            .header("content-disposition", 'attachment; filename="audit-export.ndjson"')
            // A stream is sent as it is (the 200 schema above only documents it).
            .send(stream as unknown as string)
        );
      },
    );

    app.post(
      "/audit/verify",
      {
        ...guard("read"),
        schema: {
          tags,
          summary:
            "Verify the tenant's log now: a fresh export (as GET /audit/export) through the offline verifier, against the log's published key. The independent check stays `cairn audit verify --file` with a key you pinned.",
          response: { 200: AuditVerification, ...problemResponses },
        },
      },
      async (request, reply) => reply.header("cache-control", "no-store").send(await service.verify(ctxOf(request))),
    );

    app.post(
      "/audit/hash",
      {
        ...guard("reveal"),
        schema: {
          tags,
          summary: "HMAC-SHA256 of a value under the tenant's audit key: compare with an event's valueHmac",
          body: HashBody,
          response: { 200: HashResult, ...problemResponses },
        },
      },
      async (request, reply) => reply.header("cache-control", "no-store").send(await service.hash(ctxOf(request), request.body.value)),
    );
  };
