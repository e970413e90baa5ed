import { type Static, Type } from "typebox";

const Timestamp = Type.String({ format: "date-time" });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const Severity = Type.Union(
  [Type.Literal("info"), Type.Literal("low"), Type.Literal("medium"), Type.Literal("high"), Type.Literal("critical")],
  { description: "info < low < medium < high < critical" },
);
export const GroupBy = Type.Union(
  [Type.Literal("sourceIp"), Type.Literal("actor"), Type.Literal("namespace"), Type.Literal("resource"), Type.Literal("eventType")],
  { description: "count the threshold separately per value of this event field" },
);
export const ChannelType = Type.Union([Type.Literal("slack"), Type.Literal("email"), Type.Literal("webhook")]);
export const DeliveryStatus = Type.Union([
  Type.Literal("pending"),
  Type.Literal("delivered"),
  Type.Literal("dead"),
  Type.Literal("cancelled"),
]);

export const RuleId = Type.String({ pattern: "^alr_[0-9a-z]{1,64}$", description: "alert rule id, e.g. alr_01jq…" });
export const ChannelId = Type.String({ pattern: "^alc_[0-9a-z]{1,64}$", description: "alert channel id, e.g. alc_01jq…" });
export const DeliveryId = Type.String({ pattern: "^ald_[0-9a-z]{1,64}$", description: "delivery id, e.g. ald_01jq…" });
export const AlertId = Type.String({ pattern: "^alt_[0-9a-z]{1,64}$", description: "alert id, e.g. alt_01jq…" });
export const RuleIdParams = Type.Object({ id: RuleId });
export const ChannelIdParams = Type.Object({ id: ChannelId });
export const DeliveryIdParams = Type.Object({ id: DeliveryId });

const Name = Type.String({ minLength: 1, maxLength: 128, pattern: "^[^\\u0000-\\u001f\\u007f]+$", description: "unique in the tenant" });
const EventPattern = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: "^[A-Za-z0-9_.*-]+$",
  description: "an event type (auth.failed) or a glob where * is any run of characters (auth.*)",
});
const Short = Type.String({ minLength: 1, maxLength: 256 });

export const RuleFilter = Type.Object(
  {
    namespaces: Type.Optional(
      Type.Array(Short, { minItems: 1, maxItems: 32, description: "namespace patterns as in permissions: production/**, */api" }),
    ),
    environments: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        minItems: 1,
        maxItems: 32,
        description: "the event's metadata.environment",
      }),
    ),
    results: Type.Optional(
      Type.Array(Type.Union([Type.Literal("success"), Type.Literal("failure"), Type.Literal("denied")]), { minItems: 1, maxItems: 3 }),
    ),
    metadata: Type.Optional(
      Type.Record(
        Type.String({ minLength: 1, maxLength: 64 }),
        Type.Union([Type.String({ maxLength: 256 }), Type.Number(), Type.Boolean()]),
        {
          description: 'top-level metadata fields that must equal these values, e.g. {"reason": "revoked"}',
        },
      ),
    ),
  },
  { additionalProperties: false, description: "every field given must hold; a list holds when any entry does" },
);
export type RuleFilter = Static<typeof RuleFilter>;

export const Threshold = Type.Object(
  {
    count: Type.Integer({ minimum: 1, maximum: 1000, description: "matching events that fire the alert" }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400, description: "… within this many seconds" }),
  },
  { additionalProperties: false },
);

const Events = Type.Array(EventPattern, { minItems: 1, maxItems: 32, description: "event types or globs; any of them" });
const Match = Type.Array(RuleFilter, {
  maxItems: 16,
  description: "alternatives (any of them); empty or omitted = every event of those types",
});
const Channels = Type.Array(ChannelId, {
  maxItems: 32,
  description: "channels to notify; empty or omitted = every enabled channel of the tenant",
});

export const CreateRuleBody = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    events: Events,
    match: Type.Optional(Match),
    minSeverity: Type.Optional(Severity),
    severity: Type.Optional(
      Type.Union([Severity, Type.Null()], { description: "the alert's severity; default the highest of its events" }),
    ),
    threshold: Type.Optional(Threshold),
    groupBy: Type.Optional(Type.Union([GroupBy, Type.Null()])),
    channels: Type.Optional(Channels),
  },
  { additionalProperties: false },
);
export type CreateRuleBody = Static<typeof CreateRuleBody>;

export const UpdateRuleBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Null()])),
    enabled: Type.Optional(Type.Boolean()),
    events: Type.Optional(Events),
    match: Type.Optional(Match),
    minSeverity: Type.Optional(Severity),
    severity: Type.Optional(Type.Union([Severity, Type.Null()])),
    threshold: Type.Optional(Threshold),
    groupBy: Type.Optional(Type.Union([GroupBy, Type.Null()])),
    channels: Type.Optional(Channels),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateRuleBody = Static<typeof UpdateRuleBody>;

export const AlertRule = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  builtin: Type.Union([Type.String(), Type.Null()], { description: "which built-in rule this is; null for rules people made" }),
  enabled: Type.Boolean(),
  events: Type.Array(Type.String()),
  match: Type.Array(RuleFilter),
  minSeverity: Severity,
  severity: Type.Union([Severity, Type.Null()]),
  threshold: Threshold,
  groupBy: Type.Union([GroupBy, Type.Null()]),
  channels: Type.Array(Type.String()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type AlertRule = Static<typeof AlertRule>;
export const AlertRuleList = Type.Object({ items: Type.Array(AlertRule) });
export type AlertRuleList = Static<typeof AlertRuleList>;

const ChannelConfigInput = Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), {
  description:
    "slack: {url, username?, channel?, iconEmoji?}; webhook: {url, secret} (secret: the HMAC-SHA256 key, ≥ 16 characters); " +
    "email: {host, port?, tls?: auto|starttls|implicit|none, username?, password?, from, to: [addresses]}. " +
    "url, secret and password are write-only: stored encrypted, never returned.",
});

export const CreateChannelBody = Type.Object(
  { name: Name, type: ChannelType, enabled: Type.Optional(Type.Boolean({ default: true })), config: ChannelConfigInput },
  { additionalProperties: false },
);
export type CreateChannelBody = Static<typeof CreateChannelBody>;

export const UpdateChannelBody = Type.Object(
  {
    name: Type.Optional(Name),
    enabled: Type.Optional(Type.Boolean()),
    config: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { description: "settings to change; others are kept" }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateChannelBody = Static<typeof UpdateChannelBody>;

export const AlertChannel = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: ChannelType,
  enabled: Type.Boolean(),
  config: Type.Object(
    {
      host: Type.Optional(Type.String({ description: "the target's host (webhook, Slack) or the SMTP server" })),
      port: Type.Optional(Type.Integer()),
      tls: Type.Optional(Type.String()),
      username: Type.Optional(Type.String()),
      from: Type.Optional(Type.String()),
      to: Type.Optional(Type.Array(Type.String())),
      channel: Type.Optional(Type.String()),
      iconEmoji: Type.Optional(Type.String()),
    },
    { description: "the settings that are not secret" },
  ),
  secretsSet: Type.Array(Type.String(), { description: "names of the secret settings that are set (never their values)" }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type AlertChannel = Static<typeof AlertChannel>;
export const AlertChannelList = Type.Object({ items: Type.Array(AlertChannel) });
export type AlertChannelList = Static<typeof AlertChannelList>;

export const ChannelTestResult = Type.Object({
  delivered: Type.Boolean(),
  error: Type.Optional(Type.String({ description: "why the test message was not accepted" })),
  durationMs: Type.Integer(),
});
export type ChannelTestResult = Static<typeof ChannelTestResult>;

const AlertSummary = Type.Object({
  id: Type.String(),
  ruleId: Type.String(),
  ruleName: Type.String(),
  severity: Severity,
  summary: Type.String(),
  eventCount: Type.Integer(),
  firedAt: Timestamp,
});

export const Delivery = Type.Object({
  id: Type.String(),
  alertId: Type.String(),
  channelId: Type.String(),
  channelType: ChannelType,
  status: DeliveryStatus,
  attempts: Type.Integer(),
  maxAttempts: Type.Integer(),
  nextAttemptAt: NullableTimestamp,
  lastAttemptAt: NullableTimestamp,
  lastError: Type.Union([Type.String(), Type.Null()]),
  deliveredAt: NullableTimestamp,
  createdAt: Timestamp,
  alert: AlertSummary,
});
export type Delivery = Static<typeof Delivery>;

export const DeliveryQuery = Type.Object(
  {
    status: Type.Optional(DeliveryStatus),
    channelId: Type.Optional(ChannelId),
    ruleId: Type.Optional(RuleId),
    alertId: Type.Optional(AlertId),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    after: Type.Optional(DeliveryId),
  },
  { additionalProperties: false },
);
export type DeliveryQuery = Static<typeof DeliveryQuery>;

export const DeliveryList = Type.Object({
  items: Type.Array(Delivery),
  nextCursor: Type.Optional(Type.String({ description: "pass as ?after= for the next (older) page" })),
});
export type DeliveryList = Static<typeof DeliveryList>;

export const FiredAlert = Type.Object({
  id: Type.String(),
  ruleId: Type.String(),
  ruleName: Type.String(),
  severity: Severity,
  summary: Type.String(),
  groupKey: Type.Union([Type.String(), Type.Null()]),
  eventCount: Type.Integer(),
  firstEventAt: Timestamp,
  lastEventAt: Timestamp,
  firedAt: Timestamp,
  deliveries: Type.Object({ pending: Type.Integer(), delivered: Type.Integer(), dead: Type.Integer(), cancelled: Type.Integer() }),
  document: Type.Record(Type.String(), Type.Unknown(), { description: "the alert exactly as channels receive it" }),
});
export type FiredAlert = Static<typeof FiredAlert>;

export const AlertQuery = Type.Object(
  {
    ruleId: Type.Optional(RuleId),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    after: Type.Optional(AlertId),
  },
  { additionalProperties: false },
);
export type AlertQuery = Static<typeof AlertQuery>;

export const FiredAlertList = Type.Object({
  items: Type.Array(FiredAlert),
  nextCursor: Type.Optional(Type.String({ description: "pass as ?after= for the next (older) page" })),
});
export type FiredAlertList = Static<typeof FiredAlertList>;

export const SeverityTable = Type.Object({
  levels: Type.Array(Severity),
  eventTypes: Type.Array(Type.Object({ pattern: Type.String(), severity: Severity })),
  default: Severity,
});
export type SeverityTable = Static<typeof SeverityTable>;
