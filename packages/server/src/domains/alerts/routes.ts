import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import type { Action, Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import {
  AlertChannel,
  AlertChannelList,
  AlertQuery,
  AlertRule,
  AlertRuleList,
  ChannelIdParams,
  ChannelTestResult,
  CreateChannelBody,
  CreateRuleBody,
  Delivery,
  DeliveryIdParams,
  DeliveryList,
  DeliveryQuery,
  FiredAlertList,
  RuleIdParams,
  SeverityTable,
  UpdateChannelBody,
  UpdateRuleBody,
} from "./schemas.js";
import type { AlertService } from "./service.js";

const tags = ["alerts"];
const noContent = { 204: { type: "null" }, ...problemResponses } as const;

/**
 * Alert rules, channels and what they produced. Reading needs `alerts:**:read` (`list` for lists);
 * changing rules and channels, testing a channel and re-queuing a delivery need `write`, deleting `delete`.
 */
export const alertRoutes =
  (service: AlertService, authz: Authorizer): FastifyPluginAsyncTypebox =>
  async (app) => {
    const guard = (action: Action) => ({
      preHandler: async (request: FastifyRequest) => authz.require(ctxOf(request), { resource: "alerts", action }),
    });

    app.get(
      "/alerts",
      {
        ...guard("list"),
        schema: {
          tags,
          summary: "Alerts that fired, newest first, with how their deliveries stand",
          querystring: AlertQuery,
          response: { 200: FiredAlertList, ...problemResponses },
        },
      },
      async (request) => service.listAlerts(ctxOf(request), request.query),
    );

    app.get(
      "/alerts/severities",
      {
        ...guard("read"),
        schema: { tags, summary: "The severity of each audit event type", response: { 200: SeverityTable, ...problemResponses } },
      },
      async () => service.severities(),
    );

    // --- rules ---
    app.get(
      "/alerts/rules",
      {
        ...guard("list"),
        schema: { tags, summary: "List alert rules (built-in ones included)", response: { 200: AlertRuleList, ...problemResponses } },
      },
      async (request) => service.listRules(ctxOf(request)),
    );
    app.post(
      "/alerts/rules",
      {
        ...guard("write"),
        schema: { tags, summary: "Create an alert rule", body: CreateRuleBody, response: { 201: AlertRule, ...problemResponses } },
      },
      async (request, reply) => reply.code(201).send(await service.createRule(ctxOf(request), request.body)),
    );
    app.get(
      "/alerts/rules/:id",
      {
        ...guard("read"),
        schema: { tags, summary: "Show an alert rule", params: RuleIdParams, response: { 200: AlertRule, ...problemResponses } },
      },
      async (request) => service.getRule(ctxOf(request), request.params.id),
    );
    app.patch(
      "/alerts/rules/:id",
      {
        ...guard("write"),
        schema: {
          tags,
          summary: "Change an alert rule (the fields given); built-in rules too, e.g. {enabled: false}",
          params: RuleIdParams,
          body: UpdateRuleBody,
          response: { 200: AlertRule, ...problemResponses },
        },
      },
      async (request) => service.updateRule(ctxOf(request), request.params.id, request.body),
    );
    app.delete(
      "/alerts/rules/:id",
      {
        ...guard("delete"),
        schema: { tags, summary: "Delete an alert rule (built-in rules are disabled instead)", params: RuleIdParams, response: noContent },
      },
      async (request, reply) => {
        await service.deleteRule(ctxOf(request), request.params.id);
        return reply.code(204).send(null);
      },
    );

    // --- channels ---
    app.get(
      "/alerts/channels",
      {
        ...guard("list"),
        schema: { tags, summary: "List alert channels (never their secrets)", response: { 200: AlertChannelList, ...problemResponses } },
      },
      async (request) => service.listChannels(ctxOf(request)),
    );
    app.post(
      "/alerts/channels",
      {
        ...guard("write"),
        schema: {
          tags,
          summary: "Create a Slack, email or webhook channel; its secrets are stored encrypted and never returned",
          body: CreateChannelBody,
          response: { 201: AlertChannel, ...problemResponses },
        },
      },
      async (request, reply) => reply.code(201).send(await service.createChannel(ctxOf(request), request.body)),
    );
    app.get(
      "/alerts/channels/:id",
      {
        ...guard("read"),
        schema: {
          tags,
          summary: "Show an alert channel (never its secrets)",
          params: ChannelIdParams,
          response: { 200: AlertChannel, ...problemResponses },
        },
      },
      async (request) => service.getChannel(ctxOf(request), request.params.id),
    );
    app.patch(
      "/alerts/channels/:id",
      {
        ...guard("write"),
        schema: {
          tags,
          summary: "Change a channel: name, enabled, or settings (those given; null removes an optional one)",
          params: ChannelIdParams,
          body: UpdateChannelBody,
          response: { 200: AlertChannel, ...problemResponses },
        },
      },
      async (request) => service.updateChannel(ctxOf(request), request.params.id, request.body),
    );
    app.delete(
      "/alerts/channels/:id",
      {
        ...guard("delete"),
        schema: {
          tags,
          summary: "Delete a channel no rule uses; its pending deliveries are cancelled",
          params: ChannelIdParams,
          response: noContent,
        },
      },
      async (request, reply) => {
        await service.deleteChannel(ctxOf(request), request.params.id);
        return reply.code(204).send(null);
      },
    );
    app.post(
      "/alerts/channels/:id/test",
      {
        ...guard("write"),
        schema: {
          tags,
          summary: "Send a test message now; says whether the target accepted it",
          params: ChannelIdParams,
          response: { 200: ChannelTestResult, ...problemResponses },
        },
      },
      async (request) => service.testChannel(ctxOf(request), request.params.id),
    );

    // --- deliveries ---
    app.get(
      "/alerts/deliveries",
      {
        ...guard("list"),
        schema: {
          tags,
          summary: "Deliveries of alerts to channels, newest first: pending (with attempts and the last error), delivered, dead, cancelled",
          querystring: DeliveryQuery,
          response: { 200: DeliveryList, ...problemResponses },
        },
      },
      async (request) => service.listDeliveries(ctxOf(request), request.query),
    );
    app.post(
      "/alerts/deliveries/:id/retry",
      {
        ...guard("write"),
        schema: {
          tags,
          summary: "Queue a dead or cancelled delivery again, with a fresh count of attempts",
          params: DeliveryIdParams,
          response: { 200: Delivery, ...problemResponses },
        },
      },
      async (request) => service.retryDelivery(ctxOf(request), request.params.id),
    );
  };
