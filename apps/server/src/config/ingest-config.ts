import Type, { type Static } from "typebox";

const Int = (minimum: number, maximum: number) => Type.Optional(Type.Integer({ minimum, maximum }));

/** The reading service's environment variables (merged into the one env schema in config.ts). */
export const ingestEnv = {
  ENGRAM_DOCUMENT_MAX_BYTES: Int(1024, 512 * 1024 * 1024),
  ENGRAM_DOCUMENT_MAX_PAGES: Int(1, 100_000),
  ENGRAM_DOCUMENT_MAX_INFLATED_BYTES: Int(1024 * 1024, 4 * 1024 * 1024 * 1024),
  ENGRAM_DOCUMENT_MAX_COMPRESSION_RATIO: Int(2, 100_000),
  ENGRAM_DOCUMENT_MAX_DEPTH: Int(8, 10_000),
  ENGRAM_DOCUMENT_MAX_TEXT_BYTES: Int(1024, 1024 * 1024 * 1024),
  ENGRAM_DOCUMENT_MAX_CHUNKS: Int(1, 10_000_000),
  ENGRAM_PARSE_MEMORY_MB: Int(64, 65_536),
  ENGRAM_PARSE_TIMEOUT_S: Int(1, 3600),
  ENGRAM_CHUNK_MAX_TOKENS: Int(16, 8192),
  ENGRAM_CHUNK_OVERLAP_TOKENS: Int(0, 4096),
  ENGRAM_INGEST_MAX_ATTEMPTS: Int(1, 50),
  ENGRAM_INGEST_RETRY_DELAY_S: Int(1, 3600),
  ENGRAM_INGEST_VISIBILITY_TIMEOUT_S: Int(1, 86_400),
  ENGRAM_INGEST_HEARTBEAT_S: Int(10, 3600),
  ENGRAM_INGEST_CONCURRENCY: Int(0, 256),
  ENGRAM_INGEST_TENANT_CONCURRENCY: Int(1, 256),
  ENGRAM_INGEST_POLL_INTERVAL_MS: Int(500, 60_000),
  ENGRAM_INGEST_SUPERVISE_INTERVAL_S: Int(1, 3600),
  ENGRAM_INGEST_IN_PROCESS: Type.Optional(Type.Enum(["auto", "on", "off"] as const)),
  ENGRAM_WORKER_METRICS_PORT: Int(0, 65535),
};
type IngestEnv = Static<ReturnType<typeof Type.Object<typeof ingestEnv>>>;

/**
 * Bounds on the work one untrusted document may cause, each checked before the step it protects
 * (docs/knowledge.md#limits). Exceeding one fails the document permanently, naming the limit.
 */
export interface DocumentLimits {
  /** Most pages of a paginated document (checked before any page is parsed). */
  maxPages: number;
  /** Most bytes a DOCX's archive entries, or a PDF's compressed streams, may inflate to in all. */
  maxInflatedBytes: number;
  /** Largest inflated/compressed ratio of one archive entry or PDF stream. */
  maxCompressionRatio: number;
  /** Deepest nesting of HTML elements, JSON values or Markdown containers. */
  maxDepth: number;
  /** Most bytes of text extracted from one document. */
  maxTextBytes: number;
  /** Most chunks one document may be cut into (each is embedded and stored). */
  maxChunks: number;
  /** Memory ceiling of a parse process (its V8 heap and its resident size), in MiB. */
  memoryMb: number;
  /** Wall-clock limit on parsing and chunking one document, in seconds. */
  timeoutS: number;
}

export interface IngestConfig {
  /** Largest upload, in bytes (checked before the document is stored). */
  maxBytes: number;
  /** What parsing and chunking one document may cost; enforced in a separate process. */
  limits: DocumentLimits;
  chunkMaxTokens: number;
  chunkOverlapTokens: number;
  /** Deliveries of a job before it is dead-lettered (1 = no retry). */
  maxAttempts: number;
  /** First retry delay; doubles (with jitter) each attempt. */
  retryDelayS: number;
  /** Seconds a job may stay active at most (then it is considered lost and retried). */
  visibilityTimeoutS: number;
  /**
   * Seconds between two heartbeats a worker must send for an active job; a job whose heartbeat
   * stops (a crashed or killed worker) is retried after this long, however long its lease is.
   */
  heartbeatS: number;
  /** Jobs one process works on at once; 0 consumes nothing. */
  concurrency: number;
  /** Jobs of one tenant active at once across all workers (fairness). */
  tenantConcurrency: number;
  pollIntervalMs: number;
  /** How often expired (lost) jobs are looked for and retried. */
  superviseIntervalS: number;
  /** Whether `engram serve` consumes the queue itself: auto = only embedded. */
  inProcess: "auto" | "on" | "off";
  /** `engram worker` serves Prometheus /metrics on this port when set. */
  metricsPort: number | undefined;
}

export function ingestConfig(e: IngestEnv): IngestConfig {
  return {
    maxBytes: e.ENGRAM_DOCUMENT_MAX_BYTES ?? 20 * 1024 * 1024,
    limits: {
      maxPages: e.ENGRAM_DOCUMENT_MAX_PAGES ?? 1_000,
      maxInflatedBytes: e.ENGRAM_DOCUMENT_MAX_INFLATED_BYTES ?? 64 * 1024 * 1024,
      maxCompressionRatio: e.ENGRAM_DOCUMENT_MAX_COMPRESSION_RATIO ?? 100,
      maxDepth: e.ENGRAM_DOCUMENT_MAX_DEPTH ?? 128,
      maxTextBytes: e.ENGRAM_DOCUMENT_MAX_TEXT_BYTES ?? 32 * 1024 * 1024,
      maxChunks: e.ENGRAM_DOCUMENT_MAX_CHUNKS ?? 20_000,
      memoryMb: e.ENGRAM_PARSE_MEMORY_MB ?? 1024,
      timeoutS: e.ENGRAM_PARSE_TIMEOUT_S ?? 120,
    },
    chunkMaxTokens: e.ENGRAM_CHUNK_MAX_TOKENS ?? 256,
    chunkOverlapTokens: e.ENGRAM_CHUNK_OVERLAP_TOKENS ?? 32,
    maxAttempts: e.ENGRAM_INGEST_MAX_ATTEMPTS ?? 5,
    retryDelayS: e.ENGRAM_INGEST_RETRY_DELAY_S ?? 2,
    visibilityTimeoutS: e.ENGRAM_INGEST_VISIBILITY_TIMEOUT_S ?? 3600,
    heartbeatS: e.ENGRAM_INGEST_HEARTBEAT_S ?? 30,
    concurrency: e.ENGRAM_INGEST_CONCURRENCY ?? 2,
    tenantConcurrency: e.ENGRAM_INGEST_TENANT_CONCURRENCY ?? 2,
    pollIntervalMs: e.ENGRAM_INGEST_POLL_INTERVAL_MS ?? 1000,
    superviseIntervalS: e.ENGRAM_INGEST_SUPERVISE_INTERVAL_S ?? 30,
    inProcess: e.ENGRAM_INGEST_IN_PROCESS ?? "auto",
    metricsPort: e.ENGRAM_WORKER_METRICS_PORT,
  };
}
