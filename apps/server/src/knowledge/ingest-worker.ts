import type { IngestConfig } from "../config/ingest-config.ts";
import type { Embedder } from "../embeddings/embedder.ts";
import { extractEntities } from "../entities/entity-extraction.ts";
import type { Extraction } from "../inference/engine.ts";
import { AppError } from "../lib/errors.ts";
import { newId } from "../lib/ids.ts";
import type { PlanCatalog } from "../plans/plans.ts";
import { vectorLiteral } from "../search/query-text.ts";
import { type Metrics, timed } from "../telemetry/metrics.ts";
import { applyUsage, type QuotaThresholdHook, type UsageHook } from "../usage/metering.ts";
import type { JobLogger } from "../worker/job.ts";
import { gaveUp, type IngestJobStore } from "./ingest-job-store.ts";
import type { Delivery, IngestMessage } from "./ingest-queue.ts";
import { type KnowledgeChangeHook, notifyKnowledgeChange } from "./knowledge-change.ts";
import type { MediaType } from "./parse-document.ts";
import type { ParseSandbox } from "./parse-sandbox.ts";
import { DocumentError } from "./parsed-document.ts";

/** Chunks embedded per call: progress is recorded between batches. */
const EMBED_BATCH = 32;

/** What is embedded for a chunk: its heading path gives short chunks their context. */
export function embeddingText(chunk: { headingPath: string[]; text: string }): string {
  return chunk.headingPath.length > 0
    ? `${chunk.headingPath.join(" › ")}\n${chunk.text}`
    : chunk.text;
}

/**
 * The reading service's job handler: parse and chunk in the parse sandbox (a separate, limited
 * process), embed outside any transaction, then one transaction replaces the document's chunks,
 * counts their storage and marks it ready. Idempotent, so at-least-once delivery is safe: a
 * redelivery (crash, lost heartbeat, second worker) finds the job finished and does nothing, or
 * rewrites the same chunks. Whatever the document itself causes (a limit, corrupt bytes, a
 * crashed parser, the storage quota) fails the job at once with that reason; anything else (the
 * database, the embedder) is retried by the queue with backoff. When the queue takes the job
 * back (`signal`), the work stops and nothing is written.
 */
export function createIngestHandler(deps: {
  jobs: IngestJobStore;
  embedder: Embedder;
  sandbox: ParseSandbox;
  plans: PlanCatalog;
  config: IngestConfig;
  metering: boolean;
  /** Told of quota thresholds an indexed document crosses (webhooks' quota.threshold). */
  quotaThresholds?: QuotaThresholdHook | undefined;
  metrics: Metrics;
  log: JobLogger;
  /** Told once a document's chunks are searchable (the chat cache's knowledge generation). */
  onKnowledgeChange?: KnowledgeChangeHook | undefined;
}) {
  const { jobs, embedder, sandbox, config, metrics, log } = deps;

  async function handle(d: Delivery): Promise<void> {
    const { tenantId, jobId } = d.message;
    const started = await jobs.startJob(tenantId, jobId);
    if (!started) {
      metrics.jobs.inc({ outcome: "skipped" });
      return; // deleted, cancelled or already completed: nothing to do
    }
    if ("exhausted" in started) {
      metrics.jobs.inc({ outcome: "dead" });
      log.warn({ tenantId, jobId, reason: started.exhausted }, "ingest job given up");
      return;
    }
    if (started.interrupted) {
      log.warn(
        { tenantId, jobId, attempt: started.attempts },
        "the job's previous attempt stopped without finishing (worker crashed or lost its lease)",
      );
    }
    if (d.retryCount === 0)
      metrics.queueWait.observe((Date.now() - started.enqueuedAt.getTime()) / 1000);
    const abandoned = () => {
      if (d.signal?.aborted) throw new Error("the queue took the job back; stopping");
    };
    try {
      const parsed = await sandbox.parse(started.content, started.mediaType as MediaType, d.signal);
      metrics.operation.observe({ operation: "parse" }, parsed.seconds.parse);
      metrics.operation.observe({ operation: "chunk" }, parsed.seconds.chunk);
      const { chunks } = parsed;
      const vectors: string[] = [];
      const entities: Extraction[] = [];
      for (let i = 0; i < chunks.length; i += EMBED_BATCH) {
        abandoned();
        await jobs.progress(tenantId, jobId, "embed", 0.2 + (0.7 * i) / chunks.length);
        const batch = chunks.slice(i, i + EMBED_BATCH);
        const embedded = await timed(metrics, "embed", () =>
          embedder.embed(batch.map(embeddingText)),
        );
        vectors.push(...embedded.map(vectorLiteral));
        // The names each chunk mentions (docs/entities.md), a batch at a time between embeddings.
        entities.push(...batch.map((c) => extractEntities(c.text)));
      }
      abandoned();
      await jobs.progress(tenantId, jobId, "index", 0.95);
      const plan = deps.plans.effective(started.plan, started.overrides);
      const usage: UsageHook | undefined = deps.metering
        ? (tx, delta) =>
            applyUsage(
              tx,
              {
                tenantId,
                projectId: started.projectId,
                keyId: null,
                requestId: jobId,
                plan,
                thresholds: deps.quotaThresholds,
              },
              "document.index",
              delta,
            )
        : undefined;
      const written = await timed(metrics, "index", () =>
        jobs.completeJob(
          tenantId,
          jobId,
          started.documentId,
          {
            chunks,
            vectors,
            entities,
            pages: parsed.pages,
            ids: chunks.map(() => newId("chk")),
          },
          usage,
        ),
      );
      if (!written) {
        metrics.jobs.inc({ outcome: "skipped" });
        log.info(
          { tenantId, jobId },
          "document deleted or job finished elsewhere; nothing written",
        );
        return;
      }
      log.info({ tenantId, jobId, chunks: chunks.length }, "document indexed");
      await notifyKnowledgeChange(deps.onKnowledgeChange, tenantId, started.projectId, log);
      metrics.jobs.inc({ outcome: "completed" });
      metrics.chunks.inc(chunks.length);
      metrics.jobLatency.observe((Date.now() - started.enqueuedAt.getTime()) / 1000);
    } catch (err) {
      if (d.signal?.aborted) {
        // Cancelled (its document was deleted) or retried elsewhere: the result is not ours to write.
        metrics.jobs.inc({ outcome: "skipped" });
        log.info(
          { tenantId, jobId },
          "job taken back by the queue (deleted or lease lost); nothing written",
        );
        return;
      }
      const permanent =
        err instanceof DocumentError
          ? err.message
          : err instanceof AppError && err.code === "quota_exceeded"
            ? `Indexing the document would exceed the plan's storage quota: ${err.message}`
            : undefined;
      if (permanent !== undefined) {
        await jobs.failJob(tenantId, jobId, "failed", permanent);
        metrics.jobs.inc({ outcome: "failed" });
        log.info({ tenantId, jobId, reason: permanent }, "document could not be indexed");
        return;
      }
      const reason = `Attempt ${d.retryCount + 1} failed: ${(err as Error).message.slice(0, 300)}`;
      await jobs.attemptFailed(tenantId, jobId, reason).catch(() => {});
      metrics.jobs.inc({ outcome: "retried" });
      log.warn({ tenantId, jobId, err }, "ingest attempt failed; the queue retries it");
      throw err;
    }
  }
  /** A job whose retries are spent (from the dead-letter queue): mark it dead, retryable by API. */
  async function dead(m: IngestMessage): Promise<void> {
    const job = await jobs.getJob(m.tenantId, null, m.jobId);
    const reason = gaveUp(config.maxAttempts, job?.error ?? null);
    await jobs.failJob(m.tenantId, m.jobId, "dead", reason);
    metrics.jobs.inc({ outcome: "dead" });
  }

  return { handle, dead };
}
