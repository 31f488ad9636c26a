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

/** Times fn under the operation's histogram. */
export async function timed<T>(metrics: Metrics, op: IngestOperation, fn: () => Promise<T> | T) {
  const end = metrics.operation.startTimer({ operation: op });
  try {
    return await fn();
  } finally {
    end();
  }
}
