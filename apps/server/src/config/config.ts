import { resolve } from "node:path";
import ipaddr from "ipaddr.js";
import Type, { type Static } from "typebox";
import Value from "typebox/value";
import type { EmbedderConfig } from "../embeddings/create-embedder.ts";
import type { LlmConfig } from "../inference/create-engine.ts";
import type { RerankConfig } from "../rerank/reranker.ts";
import { type ChatConfig, chatConfig, chatEnv } from "./chat-config.ts";
import { type ClientConfig, clientConfig, clientEnv } from "./client-config.ts";
import { type IngestConfig, ingestConfig, ingestEnv } from "./ingest-config.ts";
import { llmConfig, llmConnection, llmEnv } from "./llm-config.ts";
import { rerankConfig, rerankEnv } from "./rerank-config.ts";
import { type WebhooksConfig, webhooksConfig, webhooksEnv } from "./webhooks-config.ts";

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const OnOff = Type.Enum(["on", "off"] as const);
const LogLevel = Type.Enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const);

/** Every environment variable Engram reads. Parsed once at start; nothing else reads process.env. */
const EnvSchema = Type.Object({
  PORT: Type.Optional(Port),
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  ENGRAM_DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  ENGRAM_ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 24, maxLength: 256 })),
  ENGRAM_LOG_LEVEL: Type.Optional(LogLevel),
  ENGRAM_MAX_BODY_BYTES: Type.Optional(Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 })),
  ENGRAM_REQUEST_TIMEOUT_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  ENGRAM_QUERY_CACHE_SIZE: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  ENGRAM_EMBEDDER: Type.Optional(Type.Enum(["local", "openai"] as const)),
  ENGRAM_EMBEDDING_BASE_URL: Type.Optional(Type.String({ pattern: "^https?://" })),
  ENGRAM_EMBEDDING_MODEL: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9._:/-]{1,100}$" })),
  ENGRAM_EMBEDDING_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  ENGRAM_EMBEDDING_DIMENSION: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
  DATABASE_URL: Type.Optional(Type.String({ pattern: "^postgres(ql)?://" })),
  ENGRAM_DATABASE_OWNER_URL: Type.Optional(Type.String({ pattern: "^postgres(ql)?://" })),
  ENGRAM_DB_POOL_MAX: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  ENGRAM_DB_STATEMENT_TIMEOUT_MS: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
  REDIS_URL: Type.Optional(Type.String({ pattern: "^rediss?://" })),
  ENGRAM_REDIS_PREFIX: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9:._-]{1,64}$" })),
  ENGRAM_MEMORY_CACHE_SIZE: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  ENGRAM_RATE_LIMITS: Type.Optional(OnOff),
  ENGRAM_AUTH_FAILURE_LIMIT: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  ENGRAM_AUTH_FAILURE_WINDOW_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  ENGRAM_TRUST_PROXY: Type.Optional(Type.String({ maxLength: 2000 })),
  ENGRAM_WIDGET_VISITOR_REQUESTS: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  ENGRAM_WIDGET_VISITOR_WINDOW_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  ENGRAM_METERING: Type.Optional(OnOff),
  ENGRAM_PLANS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  ENGRAM_IDEMPOTENCY_TTL_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_536_000 })),
  ENGRAM_WORKER_INTERVAL_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  ENGRAM_WARMUP_MS: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
  ENGRAM_INFER_DUPLICATE_THRESHOLD: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  ENGRAM_LLM_BUDGET_FALLBACK: Type.Optional(Type.Enum(["refuse", "local"] as const)),
  ...ingestEnv,
  ...chatEnv,
  ...llmEnv,
  ...rerankEnv,
  ...webhooksEnv,
  ...clientEnv,
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  adminToken: string | undefined;
  logLevel: Static<typeof LogLevel>;
  maxBodyBytes: number;
  /** Seconds a client has to send a whole request (headers and body): slow senders are cut off. */
  requestTimeoutS: number;
  queryCacheSize: number;
  embedder: EmbedderConfig;
  /** Cluster mode when set: PostgreSQL as the least-privilege application role. */
  databaseUrl: string | undefined;
  /** The schema owner's connection, for `engram migrate` (cluster mode). */
  databaseOwnerUrl: string | undefined;
  dbPoolMax: number;
  dbStatementTimeoutMs: number;
  /** Shared rate limits and caches across API processes when set. */
  redisUrl: string | undefined;
  /** Prepended to every Redis key, so deployments (or test runs) can share one Redis. */
  redisPrefix: string;
  /** Memories kept in the in-process hot cache when Redis is not configured; 0 turns it off. */
  memoryCacheSize: number;
  /** Per-key rate limits by plan; off only for benchmarks and trusted single-user setups. */
  rateLimits: boolean;
  /** Failed authentications an address may make per window before it is refused (0: no limit). */
  authFailureLimit: number;
  authFailureWindowS: number;
  /** Requests one widget visitor (address) may make to one agent per window, with its key. */
  widgetVisitorLimit: { requests: number; windowSeconds: number };
  /**
   * Fastify's trustProxy: which peers' X-Forwarded-For to believe for the client address (false:
   * none, the address is the TCP peer's; true: any peer; or the proxies' addresses and ranges).
   */
  trustProxy: boolean | string[];
  /** Quotas and usage metering on writes; off only to measure what they cost. */
  metering: boolean;
  /** The plans file (plans.default.json when unset). */
  plansFile: string | undefined;
  /** Seconds an Idempotency-Key is remembered; older records count as absent and get deleted. */
  idempotencyTtlS: number;
  /** Seconds between two runs of each maintenance job (± jitter): `engram worker`, or `serve` embedded. */
  workerIntervalS: number;
  /**
   * Milliseconds `engram serve` spends at most searching stored memories before it takes requests,
   * so the first requests after a start do not run on cold code (memories/memory-warm-up.ts); 0: none.
   */
  warmUpMs: number;
  /** The reading service: document limits, chunking and the ingestion queue. */
  ingest: IngestConfig;
  /** infer: true: cosine similarity from which a memory with the same entities is a near-duplicate. */
  inferDuplicateThreshold: number;
  /**
   * A tenant past its plan's LLM budget: `refuse` answers inference with 402 llm_budget_exceeded;
   * `local` hands it to the local engine.
   */
  llmBudgetFallback: "refuse" | "local";
  /** The LLM inference engine; undefined when inference is local (docs/llm.md). */
  llm: LlmConfig | undefined;
  /** The LLM agents answer with (ENGRAM_LLM_*, unless ENGRAM_CHAT_ENGINE=extractive). */
  chatLlm: LlmConfig | undefined;
  /** The optional re-ranker after fusion; undefined without ENGRAM_RERANK_URL (docs/reranking.md). */
  rerank: RerankConfig | undefined;
  /** Agents' answers: the semantic cache and the streaming timeouts (docs/chat.md). */
  chat: ChatConfig;
  /** Outbound webhooks: what they may reach, timeouts and retries (docs/webhooks.md). */
  webhooks: WebhooksConfig;
  /** What the CLI's client commands call: ENGRAM_URL and ENGRAM_API_KEY (docs/cli.md). */
  client: ClientConfig;
}

/** Calibrated on the local embedder: see docs/inference.md. */
const DUPLICATE_THRESHOLD = 0.85;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses the environment into a Config, failing fast with the offending variable's name. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== "") raw[key] = value;
  }
  const converted = Value.Convert(EnvSchema, raw) as Record<string, unknown>;
  // Convert truncates "80.5" to 80 and reads "0x50" as hex: an integer must be plain digits.
  for (const [key, schema] of Object.entries(EnvSchema.properties)) {
    const value = env[key];
    if ((schema as { type?: string }).type === "integer" && value && !/^\d+$/.test(value)) {
      converted[key] = value;
    }
  }
  const first = Value.Errors(EnvSchema, converted)[0];
  if (first) {
    const variable = first.instancePath.replace(/^\//, "") || "environment";
    // Tokens, keys and URLs (which may carry a password) are never echoed.
    const shown = /TOKEN|KEY|URL/.test(variable) ? "" : ` (got "${raw[variable]}")`;
    throw new ConfigError(`Invalid ${variable}: ${first.message}${shown}`);
  }
  const e = converted as Static<typeof EnvSchema>;
  return {
    port: e.PORT ?? 8080,
    host: e.HOST ?? "127.0.0.1",
    dataDir: resolve(e.ENGRAM_DATA_DIR ?? ".engram"),
    adminToken: e.ENGRAM_ADMIN_TOKEN,
    logLevel: e.ENGRAM_LOG_LEVEL ?? "info",
    maxBodyBytes: e.ENGRAM_MAX_BODY_BYTES ?? 4 * 1024 * 1024,
    requestTimeoutS: e.ENGRAM_REQUEST_TIMEOUT_S ?? 120,
    queryCacheSize: e.ENGRAM_QUERY_CACHE_SIZE ?? 10_000,
    embedder: embedderConfig(e),
    databaseUrl: e.DATABASE_URL,
    databaseOwnerUrl: e.ENGRAM_DATABASE_OWNER_URL,
    dbPoolMax: e.ENGRAM_DB_POOL_MAX ?? 10,
    dbStatementTimeoutMs: e.ENGRAM_DB_STATEMENT_TIMEOUT_MS ?? 10_000,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.ENGRAM_REDIS_PREFIX ?? "engram:",
    memoryCacheSize: e.ENGRAM_MEMORY_CACHE_SIZE ?? 10_000,
    rateLimits: (e.ENGRAM_RATE_LIMITS ?? "on") === "on",
    authFailureLimit: e.ENGRAM_AUTH_FAILURE_LIMIT ?? 20,
    authFailureWindowS: e.ENGRAM_AUTH_FAILURE_WINDOW_S ?? 300,
    widgetVisitorLimit: {
      requests: e.ENGRAM_WIDGET_VISITOR_REQUESTS ?? 30,
      windowSeconds: e.ENGRAM_WIDGET_VISITOR_WINDOW_S ?? 60,
    },
    trustProxy: trustProxy(e.ENGRAM_TRUST_PROXY),
    metering: (e.ENGRAM_METERING ?? "on") === "on",
    plansFile: e.ENGRAM_PLANS_FILE === undefined ? undefined : resolve(e.ENGRAM_PLANS_FILE),
    idempotencyTtlS: e.ENGRAM_IDEMPOTENCY_TTL_S ?? 86_400,
    workerIntervalS: e.ENGRAM_WORKER_INTERVAL_S ?? 60,
    warmUpMs: e.ENGRAM_WARMUP_MS ?? 3_000,
    ingest: ingestConfig(e),
    inferDuplicateThreshold: e.ENGRAM_INFER_DUPLICATE_THRESHOLD ?? DUPLICATE_THRESHOLD,
    llmBudgetFallback: e.ENGRAM_LLM_BUDGET_FALLBACK ?? "refuse",
    llm: llmConfig(e, (message) => new ConfigError(message)),
    rerank: rerankConfig(e, (message) => new ConfigError(message)),
    chat: chatConfig(e),
    chatLlm:
      e.ENGRAM_CHAT_ENGINE === "extractive"
        ? undefined
        : llmConnection(e, (message) => new ConfigError(message)),
    webhooks: webhooksConfig(e),
    client: clientConfig(e),
  };
}

/** The names proxy-addr (under Fastify's trustProxy) accepts for address ranges. */
const RANGE_NAMES = ["loopback", "linklocal", "uniquelocal"];

/**
 * ENGRAM_TRUST_PROXY: `false` (default), `true`, or the proxies' addresses and CIDR ranges. No hop
 * count: Fastify refuses one (it cannot tell a proxy from a client that sends the header itself).
 */
function trustProxy(value: string | undefined): Config["trustProxy"] {
  if (value === undefined || value === "false") return false;
  if (value === "true") return true;
  const entries = value.split(",").map((v) => v.trim());
  // Four-part IPv4 only: ipaddr.js also reads "2" or "10.1" as addresses, which nobody means here.
  const valid = (v: string) =>
    RANGE_NAMES.includes(v) ||
    ipaddr.IPv4.isValidFourPartDecimal(v) ||
    ipaddr.IPv4.isValidCIDRFourPartDecimal(v) ||
    ipaddr.IPv6.isValid(v) ||
    ipaddr.IPv6.isValidCIDR(v);
  const bad = entries.find((v) => !valid(v));
  if (bad !== undefined) {
    throw new ConfigError(
      `Invalid ENGRAM_TRUST_PROXY: "${bad}" is not true, false, an IP address, a CIDR range or one of ${RANGE_NAMES.join(", ")}`,
    );
  }
  return entries;
}

function embedderConfig(e: Static<typeof EnvSchema>): EmbedderConfig {
  if ((e.ENGRAM_EMBEDDER ?? "local") === "local") return { provider: "local" };
  const need = (name: keyof typeof e, value: unknown) => {
    if (value === undefined)
      throw new ConfigError(`${name} is required when ENGRAM_EMBEDDER=openai`);
  };
  need("ENGRAM_EMBEDDING_BASE_URL", e.ENGRAM_EMBEDDING_BASE_URL);
  need("ENGRAM_EMBEDDING_MODEL", e.ENGRAM_EMBEDDING_MODEL);
  need("ENGRAM_EMBEDDING_DIMENSION", e.ENGRAM_EMBEDDING_DIMENSION);
  return {
    provider: "openai",
    baseUrl: (e.ENGRAM_EMBEDDING_BASE_URL as string).replace(/\/+$/, ""),
    model: e.ENGRAM_EMBEDDING_MODEL as string,
    dimension: e.ENGRAM_EMBEDDING_DIMENSION as number,
    ...(e.ENGRAM_EMBEDDING_API_KEY ? { apiKey: e.ENGRAM_EMBEDDING_API_KEY } : {}),
  };
}
