import { type Static, Type } from "typebox";
import { actions, resources } from "../../authz/types.js";

export const RoleName = Type.String({
  minLength: 1,
  maxLength: 64,
  description: "A–Z, a–z, 0–9, '_', '-', '.', starting with a letter or digit",
});
export const GroupName = RoleName;
const Id = Type.String({ minLength: 1, maxLength: 128 });
const Timestamp = Type.String({ format: "date-time" });

export const Conditions = Type.Object(
  {
    environments: Type.Optional(
      Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100, description: "the request's environment is one of these" }),
    ),
    sourceIps: Type.Optional(
      Type.Array(Type.String({ maxLength: 64 }), {
        maxItems: 100,
        description: "the caller's IP is in one of these CIDR blocks (IPv4 or IPv6)",
      }),
    ),
    timeWindow: Type.Optional(
      Type.Object(
        {
          start: Type.String({ description: "HH:MM UTC" }),
          end: Type.String({ description: "HH:MM UTC; before start = the window wraps midnight" }),
          days: Type.Optional(
            Type.Array(Type.Integer(), { maxItems: 7, description: "ISO weekdays the window starts on: 1 Monday … 7 Sunday" }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: "all present conditions must hold" },
);

export const Rule = Type.Object(
  {
    effect: Type.Union([Type.Literal("allow"), Type.Literal("deny")]),
    permission: Type.String({
      minLength: 1,
      maxLength: 1200,
      description: "resource:namespacePattern:action, e.g. configs:payments/**:read",
    }),
    conditions: Type.Optional(Conditions),
  },
  { additionalProperties: false },
);

const Rules = Type.Array(Rule, { maxItems: 256 });
const Inherits = Type.Array(RoleName, { maxItems: 32, description: "roles whose rules this role includes" });

export const CreateRoleBody = Type.Object(
  { name: RoleName, description: Type.Optional(Type.String({ maxLength: 1024 })), rules: Rules, inherits: Type.Optional(Inherits) },
  { additionalProperties: false },
);
export type CreateRoleBody = Static<typeof CreateRoleBody>;

export const PutRoleBody = Type.Object(
  { description: Type.Optional(Type.String({ maxLength: 1024 })), rules: Rules, inherits: Type.Optional(Inherits) },
  { additionalProperties: false },
);
export type PutRoleBody = Static<typeof PutRoleBody>;

export const Role = Type.Object({
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  rules: Type.Array(Rule),
  inherits: Type.Array(Type.String()),
  builtin: Type.Boolean({ description: "built-in roles cannot be changed or deleted" }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Role = Static<typeof Role>;

export const RoleList = Type.Object({ items: Type.Array(Role) });
export const RoleParams = Type.Object({ name: RoleName });

const SubjectType = Type.Union([Type.Literal("user"), Type.Literal("key"), Type.Literal("group")]);
export const Subject = Type.Object({ type: SubjectType, id: Id }, { additionalProperties: false });
export type Subject = Static<typeof Subject>;

export const CreateBindingBody = Type.Object(
  {
    role: RoleName,
    subject: Subject,
    namespacePattern: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1200, description: "the binding's scope; default ** (everywhere)" }),
    ),
    expiresAt: Type.Optional(Type.String({ format: "date-time", description: "from then on the binding grants nothing" })),
  },
  { additionalProperties: false },
);
export type CreateBindingBody = Static<typeof CreateBindingBody>;

export const Binding = Type.Object({
  id: Type.String(),
  role: Type.String(),
  subject: Type.Object({ type: SubjectType, id: Type.String() }),
  namespacePattern: Type.String(),
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  expired: Type.Boolean(),
  createdAt: Timestamp,
  createdBy: Type.Union([Type.String(), Type.Null()]),
});
export type Binding = Static<typeof Binding>;

export const BindingList = Type.Object({ items: Type.Array(Binding) });
export const BindingQuery = Type.Object({
  role: Type.Optional(RoleName),
  subjectType: Type.Optional(SubjectType),
  subjectId: Type.Optional(Id),
});
export type BindingQuery = Static<typeof BindingQuery>;
export const IdParams = Type.Object({ id: Id });

export const CreateGroupBody = Type.Object({ name: GroupName }, { additionalProperties: false });
export const Group = Type.Object({
  id: Type.String(),
  name: Type.String(),
  members: Type.Array(Type.String(), { description: "user ids" }),
  createdAt: Timestamp,
});
export type Group = Static<typeof Group>;
export const GroupList = Type.Object({ items: Type.Array(Group) });
export const MemberParams = Type.Object({ id: Id, userId: Id });

export const CheckBody = Type.Object(
  {
    subject: Type.Optional(Subject),
    resource: Type.Enum(resources),
    namespace: Type.Optional(Type.String({ minLength: 1, maxLength: 1100, description: "for configs and secrets" })),
    action: Type.Enum(actions),
    environment: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    sourceIp: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "default: the caller's IP when checking yourself" })),
    at: Type.Optional(Type.String({ format: "date-time", description: "default: now" })),
  },
  { additionalProperties: false },
);
export type CheckBody = Static<typeof CheckBody>;

export const CheckResult = Type.Object({
  allowed: Type.Boolean(),
  reason: Type.String(),
  permission: Type.String({ description: "the permission the request needs" }),
  subject: Type.Object({ type: Type.String(), id: Type.String() }),
  decidedBy: Type.Union([
    Type.Object({
      rule: Rule,
      source: Type.Union([Type.Literal("key"), Type.Literal("role"), Type.Literal("instance_admin"), Type.Literal("system")]),
      role: Type.Optional(Type.String()),
      bindingId: Type.Optional(Type.String()),
      path: Type.Optional(Type.Array(Type.String(), { description: "assigned role → … → the role defining the rule" })),
    }),
    Type.Null(),
  ]),
});
export type CheckResult = Static<typeof CheckResult>;
