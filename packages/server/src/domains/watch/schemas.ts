import { type Static, Type } from "typebox";

/** A revision: per tenant, gapless, strictly increasing in commit order. */
const Revision = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const WatchQuery = Type.Object(
  {
    namespace: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1100,
        description: "only this namespace and the namespaces below it (`payments` matches `payments` and `payments/api`)",
      }),
    ),
    environment: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: "only changes that can alter what this environment resolves to: writes in it and in the environments it inherits from",
      }),
    ),
    since: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: "replay every change after this revision, then follow live; `Last-Event-ID` wins when both are sent",
      }),
    ),
  },
  { additionalProperties: false },
);
export type WatchQuery = Static<typeof WatchQuery>;

export const WatchHeaders = Type.Object({
  "last-event-id": Type.Optional(
    Type.String({ maxLength: 64, description: "the id of the last event received: resume after it (sent by EventSource on reconnect)" }),
  ),
});

/** `event: change`: what changed, never a value (secret or not). */
export const WatchChange = Type.Object(
  {
    revision: Revision,
    namespace: Type.String(),
    key: Type.String(),
    environment: Type.String({ description: "the environment the write was made in" }),
    version: Type.Integer(),
    changeType: Type.Union([Type.Literal("create"), Type.Literal("update"), Type.Literal("delete"), Type.Literal("restore")]),
  },
  { description: "`event: change`, `id: <revision>`" },
);
export type WatchChange = Static<typeof WatchChange>;

/** `event: ready` (caught up, live from here) and `event: progress` (filtered revisions passed): the position to resume from. */
export const WatchPosition = Type.Object(
  { revision: Revision },
  { description: "`event: ready` once replay is done and the stream is live; `event: progress` when filtered-out revisions passed" },
);
export type WatchPosition = Static<typeof WatchPosition>;

/** `event: reconnect`: the server ends the stream; resume with `Last-Event-ID` (nothing is lost). */
export const WatchReconnect = Type.Object(
  {
    reason: Type.Union([
      Type.Literal("slow_consumer"),
      Type.Literal("shutdown"),
      Type.Literal("credentials_changed"),
      Type.Literal("unavailable"),
    ]),
    revision: Revision,
    detail: Type.String(),
  },
  { description: "`event: reconnect`, the stream's last message: reconnect with Last-Event-ID: <revision>" },
);
export type WatchReconnect = Static<typeof WatchReconnect>;

/** `event: resync`: events the stream needed were compacted meanwhile; reload the state, then watch from its revision. */
export const WatchResync = Type.Object(
  {
    reason: Type.Literal("compacted"),
    compactedRevision: Revision,
    detail: Type.String(),
  },
  { description: "`event: resync`, the stream's last message: like a 410 answer, after the stream had started" },
);
export type WatchResync = Static<typeof WatchResync>;

export const WatchEvents = Type.Union([WatchChange, WatchPosition, WatchReconnect, WatchResync], {
  description:
    "text/event-stream. Messages: `change` (id = revision), `ready`, `progress`, `reconnect`, `resync`; `: heartbeat` comments keep idle streams open",
});
