import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { QueueDepth } from "../knowledge/ingest-queue.ts";
import type { Counters } from "./counters.ts";

/** Processing stages timed separately; a closed list keeps label cardinality bounded. */
export type IngestOperation = "parse" | "chunk" | "embed" | "index";

/**
 * The process's Prometheus registry (prom-client). No label carries a tenant, document or job id:
 * series stay bounded however many tenants there are. Queue depth is read from the queue at each
 * scrape, so autoscalers (KEDA, HPA external metrics) can key on `engram_ingest_queue_depth`.
 */
export function createMetrics(opts: { counters?: Counters; depth?: () => Promise<QueueDepth> }) {
  const { counters, depth } = opts;
  const registry = new Registry();
  const seconds = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
  const metrics = {
    registry,
    queueDepth: new Gauge({
      name: "engram_ingest_queue_depth",
      help: "Ingestion jobs by queue state (queued, active, dead_lettered)",
      labelNames: ["state"] as const,
      registers: [registry],
      async collect() {
        if (!depth) return;
        const d = await depth().catch(() => undefined);
        if (!d) return;
        this.set({ state: "queued" }, d.queued);
        this.set({ state: "active" }, d.active);
        this.set({ state: "dead_lettered" }, d.deadLettered);
      },
    }),
    queueWait: new Histogram({
      name: "engram_ingest_queue_wait_seconds",
      help: "Time from upload to the start of the job's first delivery",
      buckets: seconds,
      registers: [registry],
    }),
    jobLatency: new Histogram({
      name: "engram_ingest_job_latency_seconds",
      help: "Time from upload to the document being searchable",
      buckets: seconds,
      registers: [registry],
    }),
    operation: new Histogram({
      name: "engram_ingest_operation_seconds",
      help: "Processing time of one job by operation",
      labelNames: ["operation"] as const,
      buckets: seconds,
      registers: [registry],
    }),
    jobs: new Counter({
      name: "engram_ingest_jobs_total",
      help: "Ingestion deliveries by outcome (completed, failed, retried, dead, skipped)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    chunks: new Counter({
      name: "engram_ingest_chunks_total",
      help: "Chunks indexed",
      registers: [registry],
    }),
    chatFirstToken: new Histogram({
      name: "engram_chat_time_to_first_token_seconds",
      help: "Agent chat: time from the request to the answer's first text, by mode",
      labelNames: ["mode", "cached"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    chatAnswers: new Counter({
      name: "engram_chat_answers_total",
      help: "Agent chat answers by mode and whether the semantic cache answered (hit rate)",
      labelNames: ["mode", "cached"] as const,
      registers: [registry],
    }),
    chatTokens: new Counter({
      name: "engram_chat_tokens_total",
      help: "Agent chat LLM tokens, by direction (in, out)",
      labelNames: ["direction"] as const,
      registers: [registry],
    }),
    chatCost: new Counter({
      name: "engram_chat_cost_usd_total",
      help: "Agent chat LLM cost in USD",
      registers: [registry],
    }),
    chatFallbacks: new Counter({
      name: "engram_chat_fallbacks_total",
      help: "Agent chat answers the fallback model gave after the primary failed",
      registers: [registry],
    }),
    chatTerminated: new Counter({
      name: "engram_chat_terminated_total",
      help: "Agent chat answers cut at a cost ceiling or the tenant's LLM budget",
      registers: [registry],
    }),
  };
  if (counters) {
    // The process's existing counters (caches, rate limits, Redis fallbacks), read at scrape time.
    new Gauge({
      name: "engram_process_counter",
      help: "Engram's in-process counters (monotonic), by name",
      labelNames: ["name"] as const,
      registers: [registry],
      collect() {
        for (const [name, value] of Object.entries(counters.snapshot())) this.set({ name }, value);
      },
    });
  }
  return metrics;
}
export type Metrics = ReturnType<typeof createMetrics>;

/** One finished chat answer, in the chat series (no tenant or conversation label). */
export function observeChat(
  metrics: Metrics,
  answer: {
    mode: string;
    cached: boolean;
    terminated: boolean;
    fallbackUsed: boolean;
    ttftMs: number | null;
    usage: { tokens_in: number; tokens_out: number; cost_usd: number };
  },
) {
  const labels = { mode: answer.mode, cached: String(answer.cached) };
  metrics.chatAnswers.inc(labels);
  if (answer.ttftMs !== null) metrics.chatFirstToken.observe(labels, answer.ttftMs / 1000);
  metrics.chatTokens.inc({ direction: "in" }, answer.usage.tokens_in);
  metrics.chatTokens.inc({ direction: "out" }, answer.usage.tokens_out);
  metrics.chatCost.inc(answer.usage.cost_usd);
  if (answer.fallbackUsed) metrics.chatFallbacks.inc();
  if (answer.terminated) metrics.chatTerminated.inc();
}

/** Times fn under the operation's histogram. */
export async function timed<T>(metrics: Metrics, op: IngestOperation, fn: () => Promise<T> | T) {
  const end = metrics.operation.startTimer({ operation: op });
  try {
    return await fn();
  } finally {
    end();
  }
}
