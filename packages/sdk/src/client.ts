import type {
  Action,
  Binding,
  BindingQuery,
  BulkOperation,
  BulkResult,
  CheckBody,
  CheckResult,
  ConfigEntry,
  ConfigList,
  CreateBindingBody,
  CreatedKey,
  CreatedTenant,
  CreateKeyBody,
  CreateRoleBody,
  CreateUser,
  Environment,
  EnvironmentList,
  Group,
  KeyHistory,
  KeyList,
  KeySchema,
  KeyUsage,
  KeyView,
  ListKeysQuery,
  NamespaceHistory,
  PutRoleBody,
  ResolvedConfig,
  Resource,
  Role,
  RotatedKey,
  Tenant,
  TokenPair,
  User,
  ValidateResult,
  VerifyResult,
  WhoAmI,
} from "@cairn/server/contract";
import { AlertsApi } from "./alerts.js";
import { LiveConfig, type LiveOptions } from "./live.js";
import { type ClientOptions, type RequestSpec, Transport } from "./transport.js";
import { type WatchOptions, WatchStream } from "./watch.js";

/** Which environment to act in; the server defaults to `base`. */
export interface EnvironmentOption {
  environment?: string;
}

export interface GetOptions extends EnvironmentOption {
  /** Read this version of the key (in this environment) instead of the current one. */
  version?: number;
  /** Return a secret's value in clear (permission-checked and audited). */
  reveal?: boolean;
  /** Replace `${ref:ns/key}` / `${ref:ns/key#field}` references with the referenced values. */
  resolve?: boolean;
}

export interface WriteOptions extends EnvironmentOption {
  secret?: boolean;
  /** Why: kept in history like a commit message. */
  reason?: string;
  tags?: Record<string, string>;
}

export interface SetOptions extends WriteOptions {
  /** Only write if the key is at this version; otherwise the server answers 412 (`precondition_failed`). */
  ifMatch?: number;
}

export interface DeleteOptions extends EnvironmentOption {
  reason?: string;
  ifMatch?: number;
}

export interface ListOptions extends EnvironmentOption {
  prefix?: string;
  /** Point in time: the namespace as it was then. */
  at?: Date | string;
  reveal?: boolean;
  /** Replace `${ref:…}` references with the referenced values. */
  resolve?: boolean;
}

export interface ExportOptions extends ListOptions {
  format?: "json" | "yaml" | "dotenv";
}

export interface HistoryOptions extends EnvironmentOption {
  limit?: number;
  reveal?: boolean;
}

export interface NamespaceHistoryOptions extends EnvironmentOption {
  limit?: number;
}

export interface RollbackOptions extends EnvironmentOption {
  reason?: string;
  ifMatch?: number;
}

export interface CreateEnvironmentOptions {
  /** Environment to inherit from; the server's default when omitted. */
  parent?: string | null;
}

/** The answer of `/health` and `/ready`; the status code says more than the body. */
export type HealthStatus = Record<string, unknown>;

/** A list answer of the API: `{ items }` (keys also page with `nextCursor`). */
export interface ItemList<T> {
  items: T[];
}

/**
 * The body of `POST /authz/check`. `resource` and `action` are typed from the authorization vocabulary
 * (the schema builds them with a mapped union, which `Static` reads as `never`).
 */
export type AuthzCheckBody = Omit<CheckBody, "resource" | "action"> & { resource: Resource; action: Action };

export interface RotateKeyOptions {
  /** How long the old key keeps working (status `rotating`); default 0, i.e. it stops at once. */
  gracePeriodSeconds?: number;
}

export interface KeyUsageOptions {
  /** Buckets from this moment on; the server's default is the last 24 hours. */
  since?: Date | string;
}

/** Namespaces are paths, sent as ONE path segment with `/` percent-encoded. */
const seg = (s: string) => encodeURIComponent(s);
const configPath = (ns: string, key: string) => `/api/v1/configs/${seg(ns)}/${seg(key)}`;
const atParam = (at: Date | string | undefined) => (at instanceof Date ? at.toISOString() : at);
const keyPath = (id: string) => `/api/v1/keys/${seg(id)}`;
const groupPath = (id: string) => `/api/v1/groups/${seg(id)}`;

/** Typed client for the Cairn HTTP API v1. Works in Node ≥ 20 and browsers (global `fetch` only). */
export class CairnClient {
  readonly #http: Transport;

  constructor(options: ClientOptions) {
    this.#http = new Transport(options);
  }

  /**
   * Any API call by method and path (segments already encoded), for routes without a typed method here:
   * same credentials, session renewal and typed errors as the rest of the client.
   */
  call<T>(
    method: RequestSpec["method"],
    path: string,
    options: Pick<RequestSpec, "query" | "body" | "headers" | "ifMatch" | "text"> = {},
  ): Promise<T> {
    return this.#http.request<T>({ method, path, ...options });
  }

  /** The base URL requests go to. */
  get url(): string {
    return this.#http.baseUrl;
  }

  /** The bearer token in use now: the API key, or the current session's access token (it changes on refresh). */
  get token(): string | undefined {
    return this.#http.credentials.token;
  }

  /** The current session's refresh token, if this client has a session. */
  get refreshToken(): string | undefined {
    return this.#http.credentials.refreshToken;
  }

  /** The value of a key, resolved along the environment chain (`resolvedFrom` says where it came from). */
  get(namespace: string, key: string, options: GetOptions = {}): Promise<ResolvedConfig> {
    const { environment, version, reveal, resolve } = options;
    return this.#http.request({
      method: "GET",
      path: configPath(namespace, key),
      query: { environment, version, reveal: reveal || undefined, resolve: resolve || undefined },
    });
  }

  /** Create or update a key. */
  set(namespace: string, key: string, value: unknown, options: SetOptions = {}): Promise<ConfigEntry> {
    const { environment, ifMatch, secret, reason, tags } = options;
    return this.#http.request({
      method: "PUT",
      path: configPath(namespace, key),
      query: { environment },
      body: { value, secret, reason, tags },
      ifMatch,
    });
  }

  /** Create a key that must not exist yet (409 `conflict` if it does). */
  create(namespace: string, key: string, value: unknown, options: WriteOptions = {}): Promise<ConfigEntry> {
    const { environment, secret, reason, tags } = options;
    return this.#http.request({
      method: "POST",
      path: configPath(namespace, key),
      query: { environment },
      body: { value, secret, reason, tags },
    });
  }

  /** Delete a key: writes a tombstone version (value `null`); history is kept. */
  delete(namespace: string, key: string, options: DeleteOptions = {}): Promise<ConfigEntry> {
    const { environment, reason, ifMatch } = options;
    return this.#http.request({ method: "DELETE", path: configPath(namespace, key), query: { environment, reason }, ifMatch });
  }

  /** Every key of a namespace, resolved for one environment. */
  list(namespace: string, options: ListOptions = {}): Promise<ConfigList> {
    const { environment, prefix, at, reveal, resolve } = options;
    return this.#http.request({
      method: "GET",
      path: `/api/v1/configs/${seg(namespace)}`,
      query: { environment, prefix, at: atParam(at), reveal: reveal || undefined, resolve: resolve || undefined },
    });
  }

  /** A namespace rendered as a document (`json`, `yaml` or `dotenv`), as text. */
  export(namespace: string, options: ExportOptions = {}): Promise<string> {
    const { environment, prefix, at, reveal, resolve, format = "json" } = options;
    return this.#http.request({
      method: "GET",
      path: `/api/v1/configs/${seg(namespace)}`,
      query: { environment, prefix, at: atParam(at), reveal: reveal || undefined, resolve: resolve || undefined, format },
      text: true,
    });
  }

  /** Versions of one key in one environment, newest first. */
  history(namespace: string, key: string, options: HistoryOptions = {}): Promise<KeyHistory> {
    const { environment, limit, reveal } = options;
    return this.#http.request({
      method: "GET",
      path: `${configPath(namespace, key)}/history`,
      query: { environment, limit, reveal: reveal || undefined },
    });
  }

  /** Recent changes across a namespace, newest first. */
  namespaceHistory(namespace: string, options: NamespaceHistoryOptions = {}): Promise<NamespaceHistory> {
    const { environment, limit } = options;
    return this.#http.request({ method: "GET", path: `/api/v1/configs/${seg(namespace)}/history`, query: { environment, limit } });
  }

  /** Restore an earlier version's value as a new version (changeType `restore`). */
  rollback(namespace: string, key: string, version: number, options: RollbackOptions = {}): Promise<ConfigEntry> {
    const { environment, reason, ifMatch } = options;
    return this.#http.request({
      method: "POST",
      path: `${configPath(namespace, key)}/rollback`,
      query: { environment },
      body: { version, reason },
      ifMatch,
    });
  }

  /**
   * Follow changes (Server-Sent Events): an async iterable of `change` events (names and versions, never
   * values) and `ready` markers, which reconnects by itself and resumes after the last revision seen.
   *
   * ```ts
   * for await (const e of client.watch({ namespace: "payments", environment: "production" })) {
   *   if (e.type === "change") console.log(e.revision, e.namespace, e.key, e.changeType);
   * }
   * ```
   * Throws `CairnApiError` when reconnecting cannot help; `isGone(e)` (410) means the resume point was
   * compacted: reload, then watch again without `since`.
   */
  watch(options: WatchOptions = {}): WatchStream {
    return new WatchStream(this.#http, options);
  }

  /**
   * A namespace's resolved values in one environment, kept current by a watch: `get(key)`, `values()`,
   * `revision`, and `change` events. `await live.ready` for the first load; `close()` to stop.
   */
  live(namespace: string, environment = "base", options: LiveOptions = {}): LiveConfig {
    return new LiveConfig(this, namespace, environment, options);
  }

  /** Check values against the keys' schemas; writes nothing. */
  validate(namespace: string, values: Record<string, unknown>, options: EnvironmentOption = {}): Promise<ValidateResult> {
    return this.#http.request({
      method: "POST",
      path: `/api/v1/configs/${seg(namespace)}/validate`,
      body: { values, environment: options.environment },
    });
  }

  /** Apply several sets and deletes atomically: all or none. */
  bulk(operations: BulkOperation[]): Promise<BulkResult> {
    return this.#http.request({ method: "POST", path: "/api/v1/configs/bulk", body: { operations } });
  }

  /** Attach a JSON Schema (2020-12) to a key; later writes that violate it fail with 422. */
  putSchema(namespace: string, key: string, schema: Record<string, unknown>): Promise<KeySchema> {
    return this.#http.request({ method: "PUT", path: schemaPath(namespace, key), body: { schema } });
  }

  getSchema(namespace: string, key: string): Promise<KeySchema> {
    return this.#http.request({ method: "GET", path: schemaPath(namespace, key) });
  }

  deleteSchema(namespace: string, key: string): Promise<unknown> {
    return this.#http.request({ method: "DELETE", path: schemaPath(namespace, key) });
  }

  readonly environments = {
    list: (): Promise<EnvironmentList> => this.#http.request({ method: "GET", path: "/api/v1/environments" }),
    create: (name: string, options: CreateEnvironmentOptions = {}): Promise<Environment> =>
      this.#http.request({ method: "POST", path: "/api/v1/environments", body: { name, parent: options.parent } }),
  };

  /** API keys (service accounts). The key itself is only in the answers of `create` and `rotate`. */
  readonly keys = {
    /** Create a key with roles and/or its own rules; `key` in the answer is shown this once. */
    create: (body: CreateKeyBody): Promise<CreatedKey> => this.#http.request({ method: "POST", path: "/api/v1/keys", body }),
    /** One page of the tenant's keys, oldest first; pass `nextCursor` as `after` for the next. */
    list: (query: ListKeysQuery = {}): Promise<KeyList> =>
      this.#http.request({ method: "GET", path: "/api/v1/keys", query: { limit: query.limit, after: query.after } }),
    get: (id: string): Promise<KeyView> => this.#http.request({ method: "GET", path: keyPath(id) }),
    /** A new key with the same settings; the old one keeps working for the grace period, then fails with 401. */
    rotate: (id: string, options: RotateKeyOptions = {}): Promise<RotatedKey> =>
      this.#http.request({ method: "POST", path: `${keyPath(id)}/rotate`, body: { gracePeriodSeconds: options.gracePeriodSeconds } }),
    /** Refused everywhere (every replica) within a second. */
    revoke: (id: string): Promise<KeyView> => this.#http.request({ method: "POST", path: `${keyPath(id)}/revoke` }),
    /**
     * Check a key of your tenant (as Unkey's verify): `valid`, `code`, roles, rules, quota and rate limit.
     * An invalid key is an answer (`valid: false`), not an error. A valid check counts as one use of the key.
     */
    verify: (key: string): Promise<VerifyResult> => this.#http.request({ method: "POST", path: "/api/v1/keys/verify", body: { key } }),
    /** Uses per hour. */
    usage: (id: string, options: KeyUsageOptions = {}): Promise<KeyUsage> =>
      this.#http.request({ method: "GET", path: `${keyPath(id)}/usage`, query: { since: atParam(options.since) } }),
  };

  /** Roles: named sets of allow/deny rules, which may inherit other roles. Built-in roles cannot change. */
  readonly roles = {
    list: (): Promise<ItemList<Role>> => this.#http.request({ method: "GET", path: "/api/v1/roles" }),
    get: (name: string): Promise<Role> => this.#http.request({ method: "GET", path: `/api/v1/roles/${seg(name)}` }),
    /** 409 `conflict` if the name is taken. */
    create: (body: CreateRoleBody): Promise<Role> => this.#http.request({ method: "POST", path: "/api/v1/roles", body }),
    /** Create or replace a role (every field: rules left out are gone). */
    put: (name: string, body: PutRoleBody): Promise<Role> =>
      this.#http.request({ method: "PUT", path: `/api/v1/roles/${seg(name)}`, body }),
    /** Refused (409) while a binding, a role or a key uses it. */
    delete: (name: string): Promise<void> => this.#http.request({ method: "DELETE", path: `/api/v1/roles/${seg(name)}` }),
  };

  /** Role bindings: a role for a user, key or group, within a namespace pattern, until an optional expiry. */
  readonly bindings = {
    list: (query: BindingQuery = {}): Promise<ItemList<Binding>> =>
      this.#http.request({
        method: "GET",
        path: "/api/v1/role-bindings",
        query: { role: query.role, subjectType: query.subjectType, subjectId: query.subjectId },
      }),
    get: (id: string): Promise<Binding> => this.#http.request({ method: "GET", path: `/api/v1/role-bindings/${seg(id)}` }),
    create: (body: CreateBindingBody): Promise<Binding> => this.#http.request({ method: "POST", path: "/api/v1/role-bindings", body }),
    delete: (id: string): Promise<void> => this.#http.request({ method: "DELETE", path: `/api/v1/role-bindings/${seg(id)}` }),
  };

  /** Groups of users; bind roles to a group to grant them to every member. */
  readonly groups = {
    list: (): Promise<ItemList<Group>> => this.#http.request({ method: "GET", path: "/api/v1/groups" }),
    get: (id: string): Promise<Group> => this.#http.request({ method: "GET", path: groupPath(id) }),
    create: (name: string): Promise<Group> => this.#http.request({ method: "POST", path: "/api/v1/groups", body: { name } }),
    delete: (id: string): Promise<void> => this.#http.request({ method: "DELETE", path: groupPath(id) }),
    /** Idempotent; answers the group with its members. */
    addMember: (id: string, userId: string): Promise<Group> =>
      this.#http.request({ method: "POST", path: `${groupPath(id)}/members/${seg(userId)}` }),
    removeMember: (id: string, userId: string): Promise<void> =>
      this.#http.request({ method: "DELETE", path: `${groupPath(id)}/members/${seg(userId)}` }),
  };

  /** People who log in with email + password; they get access through role bindings. */
  readonly users = {
    list: (): Promise<ItemList<User>> => this.#http.request({ method: "GET", path: "/api/v1/users" }),
    get: (id: string): Promise<User> => this.#http.request({ method: "GET", path: `/api/v1/users/${seg(id)}` }),
    /** The password must have at least 12 characters and not be a common one (422 otherwise). */
    create: (body: CreateUser): Promise<User> => this.#http.request({ method: "POST", path: "/api/v1/users", body }),
    /** Disable the account and end its sessions (`DELETE /users/{id}`); its history stays. */
    disable: (id: string): Promise<void> => this.#http.request({ method: "DELETE", path: `/api/v1/users/${seg(id)}` }),
  };

  /** Tenants (organisations): the instance admin's business only. */
  readonly tenants = {
    list: (): Promise<ItemList<Tenant>> => this.#http.request({ method: "GET", path: "/api/v1/tenants" }),
    /** The answer carries the new tenant's admin API key, shown this once. */
    create: (name: string): Promise<CreatedTenant> => this.#http.request({ method: "POST", path: "/api/v1/tenants", body: { name } }),
  };

  /**
   * Sessions. `login` signs this client in: from then on it sends the access token (15 min) and, when a
   * request gets a 401, renews it once with the refresh token and retries. `onTokens` hears of each new pair.
   */
  readonly auth = {
    login: async (email: string, password: string): Promise<TokenPair> => {
      const pair = await this.#http.request<TokenPair>({
        method: "POST",
        path: "/api/v1/auth/login",
        body: { email, password },
        auth: false,
      });
      await this.#http.adopt(pair);
      return pair;
    },
    /** Exchange a refresh token (default: this client's) for a new pair, and use it; the old refresh token is spent. */
    refresh: (refreshToken?: string): Promise<TokenPair> => this.#http.refresh(refreshToken),
    /** Revoke a refresh token (default: this client's) on the server; this client then forgets its session. */
    logout: async (refreshToken?: string): Promise<void> => {
      const own = this.#http.credentials.refreshToken;
      const token = refreshToken ?? own;
      if (!token) throw new TypeError("Cairn client: no refresh token to revoke: this client has no session");
      await this.#http.request<void>({ method: "POST", path: "/api/v1/auth/logout", body: { refreshToken: token }, auth: false });
      if (token === own) this.#http.forget();
    },
    /** Who the credential in use belongs to: user or API key, tenant, roles. */
    whoami: (): Promise<WhoAmI> => this.#http.request({ method: "GET", path: "/api/v1/auth/whoami" }),
  };

  /** Alert rules, channels, what fired and how deliveries stand (see alerts.ts). */
  readonly alerts = new AlertsApi(() => this.#http);

  readonly authz = {
    /** Would this be allowed (for you, or for `subject`)? The decision and the rule that made it. */
    check: (body: AuthzCheckBody): Promise<CheckResult> => this.#http.request({ method: "POST", path: "/api/v1/authz/check", body }),
  };

  /** Liveness: resolves when the process answers; needs no token. */
  health(): Promise<HealthStatus> {
    return this.#http.request({ method: "GET", path: "/health" });
  }

  /** Readiness: rejects with a 503 `CairnApiError` while a dependency is down; needs no token. */
  ready(): Promise<HealthStatus> {
    return this.#http.request({ method: "GET", path: "/ready" });
  }
}

const schemaPath = (ns: string, key: string) => `/api/v1/schemas/${seg(ns)}/${seg(key)}`;

export function createClient(options: ClientOptions): CairnClient {
  return new CairnClient(options);
}
