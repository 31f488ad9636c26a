import Type, { type Static } from "typebox";

const Int = (minimum: number, maximum: number) => Type.Optional(Type.Integer({ minimum, maximum }));
const OnOff = Type.Optional(Type.Enum(["on", "off"] as const));

/** The webhooks' environment variables (merged into the one env schema in config.ts). */
export const webhooksEnv = {
  ENGRAM_WEBHOOKS_ALLOW_PRIVATE: OnOff,
  ENGRAM_WEBHOOKS_ALLOW_HTTP: OnOff,
  ENGRAM_WEBHOOKS_TIMEOUT_MS: Int(100, 60_000),
  ENGRAM_WEBHOOKS_MAX_RESPONSE_BYTES: Int(0, 1024 * 1024),
  ENGRAM_WEBHOOKS_MAX_ATTEMPTS: Int(1, 30),
  ENGRAM_WEBHOOKS_RETRY_DELAY_S: Int(1, 3600),
  ENGRAM_WEBHOOKS_CONCURRENCY: Int(0, 256),
  ENGRAM_WEBHOOKS_TENANT_CONCURRENCY: Int(1, 256),
};
type WebhooksEnv = Static<ReturnType<typeof Type.Object<typeof webhooksEnv>>>;

/** How webhooks are delivered (docs/webhooks.md#configuration). */
export interface WebhooksConfig {
  /** Deliveries to private, loopback and link-local addresses (off: refused, checked per delivery). */
  allowPrivate: boolean;
  /** http:// URLs (off: https:// only). */
  allowHttp: boolean;
  /** One attempt's limit, from connecting to the end of the response. */
  timeoutMs: number;
  /** Most bytes of a receiver's response read (and kept as the error's excerpt). */
  maxResponseBytes: number;
  /** Attempts of one delivery before it is failed (1 = no retry). */
  maxAttempts: number;
  /** First retry delay; doubles (with jitter) each attempt, up to 15 minutes. */
  retryDelayS: number;
  /** Deliveries one process sends at once (network-bound, so more than ingestion); 0 sends none. */
  concurrency: number;
  /** Deliveries of one tenant in flight at once across all workers (fairness). */
  tenantConcurrency: number;
}

export function webhooksConfig(e: WebhooksEnv): WebhooksConfig {
  return {
    allowPrivate: e.ENGRAM_WEBHOOKS_ALLOW_PRIVATE === "on",
    allowHttp: e.ENGRAM_WEBHOOKS_ALLOW_HTTP === "on",
    timeoutMs: e.ENGRAM_WEBHOOKS_TIMEOUT_MS ?? 10_000,
    maxResponseBytes: e.ENGRAM_WEBHOOKS_MAX_RESPONSE_BYTES ?? 16 * 1024,
    maxAttempts: e.ENGRAM_WEBHOOKS_MAX_ATTEMPTS ?? 8,
    retryDelayS: e.ENGRAM_WEBHOOKS_RETRY_DELAY_S ?? 10,
    concurrency: e.ENGRAM_WEBHOOKS_CONCURRENCY ?? 8,
    tenantConcurrency: e.ENGRAM_WEBHOOKS_TENANT_CONCURRENCY ?? 4,
  };
}
