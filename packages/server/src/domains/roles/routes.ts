import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import type { CairnAuthorizer } from "../../authz/authorizer.js";
import type { Action } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import type { GroupService } from "./groups.js";
import {
  Binding,
  BindingList,
  BindingQuery,
  CheckBody,
  CheckResult,
  CreateBindingBody,
  CreateGroupBody,
  CreateRoleBody,
  Group,
  GroupList,
  IdParams,
  MemberParams,
  PutRoleBody,
  Role,
  RoleList,
  RoleParams,
} from "./schemas.js";
import type { RoleService } from "./service.js";

const noContent = { 204: { type: "null" }, ...problemResponses } as const;

/**
 * Roles, role bindings, groups and the explain endpoint. Reading needs `roles:**:read`, changing
 * `roles:**:admin` — checked before the body is validated, so a caller without them learns nothing more.
 */
export const roleRoutes =
  (deps: { roles: RoleService; groups: GroupService; authorizer: CairnAuthorizer }): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { roles, groups, authorizer } = deps;
    const needs = (action: Action) => ({
      preValidation: async (request: FastifyRequest) => authorizer.require(ctxOf(request), { resource: "roles", action }),
    });
    const read = needs("read");
    const admin = needs("admin");

    app.get(
      "/roles",
      {
        ...read,
        schema: { tags: ["roles"], summary: "Roles of the tenant, built-in ones first", response: { 200: RoleList, ...problemResponses } },
      },
      async (request) => ({
        items: await roles.listRoles(ctxOf(request)),
      }),
    );
    app.post(
      "/roles",
      {
        ...admin,
        schema: { tags: ["roles"], summary: "Create a role", body: CreateRoleBody, response: { 201: Role, ...problemResponses } },
      },
      async (request, reply) => reply.code(201).send(await roles.createRole(ctxOf(request), request.body)),
    );
    app.get(
      "/roles/:name",
      { ...read, schema: { tags: ["roles"], summary: "A role", params: RoleParams, response: { 200: Role, ...problemResponses } } },
      async (request) => roles.getRole(ctxOf(request), request.params.name),
    );
    app.put(
      "/roles/:name",
      {
        ...admin,
        schema: {
          tags: ["roles"],
          summary: "Create or replace a role (built-in roles cannot be changed: 409)",
          params: RoleParams,
          body: PutRoleBody,
          response: { 200: Role, 201: Role, ...problemResponses },
        },
      },
      async (request, reply) => {
        const { role, created } = await roles.putRole(ctxOf(request), request.params.name, request.body);
        return reply.code(created ? 201 : 200).send(role);
      },
    );
    app.delete(
      "/roles/:name",
      {
        ...admin,
        schema: { tags: ["roles"], summary: "Delete a role no binding, role or key uses", params: RoleParams, response: noContent },
      },
      async (request, reply) => {
        await roles.deleteRole(ctxOf(request), request.params.name);
        return reply.code(204).send(null);
      },
    );

    app.get(
      "/role-bindings",
      {
        ...read,
        schema: {
          tags: ["roles"],
          summary: "Role bindings, optionally filtered",
          querystring: BindingQuery,
          response: { 200: BindingList, ...problemResponses },
        },
      },
      async (request) => ({ items: await roles.listBindings(ctxOf(request), request.query) }),
    );
    app.post(
      "/role-bindings",
      {
        ...admin,
        schema: {
          tags: ["roles"],
          summary: "Bind a role to a user, key or group, within a namespace scope",
          body: CreateBindingBody,
          response: { 201: Binding, ...problemResponses },
        },
      },
      async (request, reply) => reply.code(201).send(await roles.createBinding(ctxOf(request), request.body)),
    );
    app.get(
      "/role-bindings/:id",
      {
        ...read,
        schema: { tags: ["roles"], summary: "A role binding", params: IdParams, response: { 200: Binding, ...problemResponses } },
      },
      async (request) => roles.getBinding(ctxOf(request), request.params.id),
    );
    app.delete(
      "/role-bindings/:id",
      {
        ...admin,
        schema: {
          tags: ["roles"],
          summary: "Delete a role binding (takes effect on every replica at once)",
          params: IdParams,
          response: noContent,
        },
      },
      async (request, reply) => {
        await roles.deleteBinding(ctxOf(request), request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      "/groups",
      { ...read, schema: { tags: ["groups"], summary: "Groups of users", response: { 200: GroupList, ...problemResponses } } },
      async (request) => ({
        items: await groups.list(ctxOf(request)),
      }),
    );
    app.post(
      "/groups",
      {
        ...admin,
        schema: { tags: ["groups"], summary: "Create a group", body: CreateGroupBody, response: { 201: Group, ...problemResponses } },
      },
      async (request, reply) => reply.code(201).send(await groups.create(ctxOf(request), request.body.name)),
    );
    app.get(
      "/groups/:id",
      {
        ...read,
        schema: { tags: ["groups"], summary: "A group and its members", params: IdParams, response: { 200: Group, ...problemResponses } },
      },
      async (request) => groups.get(ctxOf(request), request.params.id),
    );
    app.delete(
      "/groups/:id",
      { ...admin, schema: { tags: ["groups"], summary: "Delete a group no binding names", params: IdParams, response: noContent } },
      async (request, reply) => {
        await groups.delete(ctxOf(request), request.params.id);
        return reply.code(204).send(null);
      },
    );
    app.post(
      "/groups/:id/members/:userId",
      {
        ...admin,
        schema: {
          tags: ["groups"],
          summary: "Add a user to a group (idempotent)",
          params: MemberParams,
          response: { 200: Group, ...problemResponses },
        },
      },
      async (request) => groups.addMember(ctxOf(request), request.params.id, request.params.userId),
    );
    app.delete(
      "/groups/:id/members/:userId",
      { ...admin, schema: { tags: ["groups"], summary: "Remove a user from a group", params: MemberParams, response: noContent } },
      async (request, reply) => {
        await groups.removeMember(ctxOf(request), request.params.id, request.params.userId);
        return reply.code(204).send(null);
      },
    );

    app.post(
      "/authz/check",
      {
        preValidation: async (request: FastifyRequest) => {
          // Asking about yourself needs nothing more; asking about someone else is reading the tenant's policy.
          const subject = (request.body as { subject?: { id?: unknown } } | undefined)?.subject;
          const ctx = ctxOf(request);
          if (subject && subject.id !== ctx.actor.id) await authorizer.require(ctx, { resource: "roles", action: "read" });
        },
        schema: {
          tags: ["roles"],
          summary: "Would this be allowed? The decision and the rule that made it (explain)",
          body: CheckBody,
          response: { 200: CheckResult, ...problemResponses },
        },
      },
      async (request) => roles.check(ctxOf(request), request.body),
    );
  };
