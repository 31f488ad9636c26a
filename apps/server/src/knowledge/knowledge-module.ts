import type { Config } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import type { EmbeddingModel } from "../db/vector-index.ts";
import type { Embedder } from "../embeddings/embedder.ts";
import type { PlanCatalog } from "../plans/plans.ts";
import type { Reranker } from "../rerank/reranker.ts";
import type { Counters } from "../telemetry/counters.ts";
import { createMetrics, type Metrics } from "../telemetry/metrics.ts";
import type { QuotaThresholdHook } from "../usage/metering.ts";
import type { EmitWebhooks } from "../webhooks/webhook-outbox.ts";
import type { JobLogger } from "../worker/job.ts";
import { createDocumentStore } from "./document-store.ts";
import { createIngestJobStore } from "./ingest-job-store.ts";
import { type IngestQueue, migrateIngestQueue, openIngestQueue } from "./ingest-queue.ts";
import { createIngestHandler } from "./ingest-worker.ts";
import type { KnowledgeChangeHook } from "./knowledge-change.ts";
import { createKnowledgeSearchStore } from "./knowledge-search-store.ts";
import { createKnowledgeService, type KnowledgeService } from "./knowledge-service.ts";
import { createParseSandbox, type ParseSandbox } from "./parse-sandbox.ts";

export interface KnowledgeModule {
  service: KnowledgeService;
  queue: IngestQueue;
  metrics: Metrics;
  /** Stops consuming (waits for running jobs), then closes the queue. */
  stop(): Promise<void>;
}

/**
 * Wires the reading service for one process: queue, stores, service verbs, metrics, and (when
 * `consume`) the job handler. `engram serve` embedded and `engram worker` consume; `engram serve`
 * in cluster mode only enqueues. Embedded, the queue's schema is installed here (one process owns
 * the data); in cluster mode `engram migrate` does it.
 */
export async function startKnowledge(deps: {
  config: Config;
  db: Database;
  model: EmbeddingModel;
  embedder: Embedder & { embedQuery(text: string): Promise<Float32Array> };
  plans: PlanCatalog;
  counters?: Counters;
  log: JobLogger;
  consume: boolean;
  /** The optional re-ranker, for knowledge search. */
  reranker?: Reranker | undefined;
  /** Told when a document becomes searchable or is deleted (the chat engine's invalidateKnowledge). */
  onKnowledgeChange?: KnowledgeChangeHook | undefined;
  /** Webhooks: document and job events, and quota thresholds, in their transactions. */
  webhooks?: { emit: EmitWebhooks; quotaThresholds: QuotaThresholdHook } | undefined;
}): Promise<KnowledgeModule> {
  const { config, db, model, embedder, log } = deps;
  if (db.kind === "pglite") await migrateIngestQueue(db, undefined, config.ingest);
  const queue = await openIngestQueue(db, config.databaseUrl, config.ingest, log, deps.consume);
  const metrics = createMetrics({ counters: deps.counters, depth: () => queue.depth() });
  const jobs = createIngestJobStore(db, model, config.ingest.maxAttempts, deps.webhooks?.emit);
  const service = createKnowledgeService({
    documents: createDocumentStore(db),
    jobs,
    search: createKnowledgeSearchStore(db, model),
    queue,
    embedder,
    reranker: deps.reranker,
    config: config.ingest,
    metering: config.metering,
    quotaThresholds: deps.webhooks?.quotaThresholds,
    idempotencyTtlS: config.idempotencyTtlS,
    onKnowledgeChange: deps.onKnowledgeChange,
  });
  let sandbox: ParseSandbox | undefined;
  if (deps.consume) {
    const { chunkMaxTokens: maxTokens, chunkOverlapTokens } = config.ingest;
    sandbox = createParseSandbox({
      limits: config.ingest.limits,
      chunking: {
        maxTokens,
        overlapTokens: Math.min(chunkOverlapTokens, Math.floor(maxTokens / 2)),
      },
      processes: Math.max(1, config.ingest.concurrency),
    });
    const handler = createIngestHandler({
      jobs,
      embedder,
      sandbox,
      plans: deps.plans,
      config: config.ingest,
      metering: config.metering,
      quotaThresholds: deps.webhooks?.quotaThresholds,
      metrics,
      log,
      onKnowledgeChange: deps.onKnowledgeChange,
    });
    await queue.work(handler.handle, handler.dead);
  }
  return {
    service,
    queue,
    metrics,
    async stop() {
      try {
        await queue.stop();
      } finally {
        sandbox?.close();
      }
    },
  };
}
