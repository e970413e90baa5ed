import type {
  AlertChannel,
  AlertChannelList,
  AlertQuery,
  AlertRule,
  AlertRuleList,
  ChannelTestResult,
  CreateChannelBody,
  CreateRuleBody,
  Delivery,
  DeliveryList,
  DeliveryQuery,
  FiredAlertList,
  SeverityTable,
  UpdateChannelBody,
  UpdateRuleBody,
} from "@cairn/server/contract";
import type { Transport } from "./transport.js";

const seg = (s: string) => encodeURIComponent(s);

/**
 * `client.alerts`: alert rules, channels (Slack, email, webhook), the alerts that fired and how their
 * deliveries stand. Channel secrets (URLs, HMAC secrets, SMTP passwords) go in on create and are never
 * returned: a channel shows only the names of its secret settings (`secretsSet`).
 */
export class AlertsApi {
  readonly #http: () => Transport;

  constructor(http: () => Transport) {
    this.#http = http;
  }

  /** Alerts that fired, newest first, with their delivery counts. */
  list(query: AlertQuery = {}): Promise<FiredAlertList> {
    return this.#http().request({ method: "GET", path: "/api/v1/alerts", query: { ...query } });
  }

  /** The severity of each audit event type. */
  severities(): Promise<SeverityTable> {
    return this.#http().request({ method: "GET", path: "/api/v1/alerts/severities" });
  }

  readonly rules = {
    list: (): Promise<AlertRuleList> => this.#http().request({ method: "GET", path: "/api/v1/alerts/rules" }),
    get: (id: string): Promise<AlertRule> => this.#http().request({ method: "GET", path: `/api/v1/alerts/rules/${seg(id)}` }),
    create: (body: CreateRuleBody): Promise<AlertRule> => this.#http().request({ method: "POST", path: "/api/v1/alerts/rules", body }),
    /** Change the fields given (built-in rules too, e.g. `{ enabled: false }`). */
    update: (id: string, body: UpdateRuleBody): Promise<AlertRule> =>
      this.#http().request({ method: "PATCH", path: `/api/v1/alerts/rules/${seg(id)}`, body }),
    /** Built-in rules cannot be deleted (409): disable them instead. */
    delete: (id: string): Promise<void> => this.#http().request({ method: "DELETE", path: `/api/v1/alerts/rules/${seg(id)}` }),
  };

  readonly channels = {
    list: (): Promise<AlertChannelList> => this.#http().request({ method: "GET", path: "/api/v1/alerts/channels" }),
    get: (id: string): Promise<AlertChannel> => this.#http().request({ method: "GET", path: `/api/v1/alerts/channels/${seg(id)}` }),
    create: (body: CreateChannelBody): Promise<AlertChannel> =>
      this.#http().request({ method: "POST", path: "/api/v1/alerts/channels", body }),
    update: (id: string, body: UpdateChannelBody): Promise<AlertChannel> =>
      this.#http().request({ method: "PATCH", path: `/api/v1/alerts/channels/${seg(id)}`, body }),
    /** A channel some rule uses cannot be deleted (409 with `rules`). */
    delete: (id: string): Promise<void> => this.#http().request({ method: "DELETE", path: `/api/v1/alerts/channels/${seg(id)}` }),
    /** Sends a test message now: `{ delivered, error? }`. */
    test: (id: string): Promise<ChannelTestResult> =>
      this.#http().request({ method: "POST", path: `/api/v1/alerts/channels/${seg(id)}/test` }),
  };

  readonly deliveries = {
    list: (query: DeliveryQuery = {}): Promise<DeliveryList> =>
      this.#http().request({ method: "GET", path: "/api/v1/alerts/deliveries", query: { ...query } }),
    /** Queue a dead or cancelled delivery again. */
    retry: (id: string): Promise<Delivery> => this.#http().request({ method: "POST", path: `/api/v1/alerts/deliveries/${seg(id)}/retry` }),
  };
}
