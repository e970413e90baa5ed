import type {
  BulkOperation,
  BulkResult,
  ConfigEntry,
  ConfigList,
  Environment,
  EnvironmentList,
  KeyHistory,
  KeySchema,
  NamespaceHistory,
  ResolvedConfig,
  ValidateResult,
} from "@cairn/server/contract";
import { type ClientOptions, Transport } from "./transport.js";

/** Which environment to act in; the server defaults to `base`. */
export interface EnvironmentOption {
  environment?: string;
}

export interface GetOptions extends EnvironmentOption {
  /** Read this version of the key (in this environment) instead of the current one. */
  version?: number;
  /** Return a secret's value in clear (permission-checked and audited). */
  reveal?: boolean;
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

/** Namespaces are paths, sent as ONE path segment with `/` percent-encoded. */
const seg = (s: string) => encodeURIComponent(s);
const configPath = (ns: string, key: string) => `/api/v1/configs/${seg(ns)}/${seg(key)}`;
const atParam = (at: Date | string | undefined) => (at instanceof Date ? at.toISOString() : at);

/** Typed client for the Cairn HTTP API v1. Works in Node ≥ 20 and browsers (global `fetch` only). */
export class CairnClient {
  readonly #http: Transport;

  constructor(options: ClientOptions) {
    this.#http = new Transport(options);
  }

  /** The base URL requests go to. */
  get url(): string {
    return this.#http.baseUrl;
  }

  /** The value of a key, resolved along the environment chain (`resolvedFrom` says where it came from). */
  get(namespace: string, key: string, options: GetOptions = {}): Promise<ResolvedConfig> {
    const { environment, version, reveal } = options;
    return this.#http.request({
      method: "GET",
      path: configPath(namespace, key),
      query: { environment, version, reveal: reveal || undefined },
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
    const { environment, prefix, at, reveal } = options;
    return this.#http.request({
      method: "GET",
      path: `/api/v1/configs/${seg(namespace)}`,
      query: { environment, prefix, at: atParam(at), reveal: reveal || undefined },
    });
  }

  /** A namespace rendered as a document (`json`, `yaml` or `dotenv`), as text. */
  export(namespace: string, options: ExportOptions = {}): Promise<string> {
    const { environment, prefix, at, reveal, format = "json" } = options;
    return this.#http.request({
      method: "GET",
      path: `/api/v1/configs/${seg(namespace)}`,
      query: { environment, prefix, at: atParam(at), reveal: reveal || undefined, format },
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
