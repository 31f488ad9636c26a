import type { IngestConfig } from "../config/ingest-config.ts";
import type { Embedder } from "../embeddings/embedder.ts";
import { newId } from "../lib/ids.ts";
import { vectorLiteral } from "../memories/memory-text.ts";
import { type Metrics, timed } from "../telemetry/metrics.ts";
import type { JobLogger } from "../worker/job.ts";
import { chunkBlocks } from "./chunker.ts";
import type { Delivery, IngestMessage } from "./ingest-queue.ts";
import type { KnowledgeStore } from "./knowledge-store.ts";
import { type MediaType, parseDocument } from "./parse-document.ts";
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
 * The reading service's job handler: parse → chunk → embed outside any transaction, then one
 * transaction replaces the document's chunks and marks it ready. Idempotent, so at-least-once
 * delivery is safe: a redelivery (crash, visibility timeout, second worker) finds the job finished
 * and does nothing, or rewrites the same chunks. A DocumentError (corrupt, encrypted, too many
 * pages) fails the job at once; any other error is retried by the queue with backoff.
 */
export function createIngestHandler(deps: {
  store: KnowledgeStore;
  embedder: Embedder;
  config: IngestConfig;
  metrics: Metrics;
  log: JobLogger;
}) {
  const { store, embedder, config, metrics, log } = deps;

  async function handle(d: Delivery): Promise<void> {
    const { tenantId, jobId } = d.message;
    const started = await store.startJob(tenantId, jobId);
    if (!started) {
      metrics.jobs.inc({ outcome: "skipped" });
      return; // deleted, cancelled or already completed: nothing to do
    }
    if (d.retryCount === 0)
      metrics.queueWait.observe((Date.now() - started.enqueuedAt.getTime()) / 1000);
    try {
      const parsed = await timed(metrics, "parse", () =>
        parseDocument(started.content, started.mediaType as MediaType, {
          maxPages: config.maxPages,
        }),
      );
      await store.progress(tenantId, jobId, "chunk", 0.1);
      const chunks = await timed(metrics, "chunk", () =>
        chunkBlocks(parsed.blocks, {
          maxTokens: config.chunkMaxTokens,
          overlapTokens: Math.min(config.chunkOverlapTokens, Math.floor(config.chunkMaxTokens / 2)),
        }),
      );
      const vectors: string[] = [];
      for (let i = 0; i < chunks.length; i += EMBED_BATCH) {
        await store.progress(tenantId, jobId, "embed", 0.2 + (0.7 * i) / chunks.length);
        const batch = chunks.slice(i, i + EMBED_BATCH);
        const embedded = await timed(metrics, "embed", () =>
          embedder.embed(batch.map(embeddingText)),
        );
        vectors.push(...embedded.map(vectorLiteral));
      }
      await store.progress(tenantId, jobId, "index", 0.95);
      const written = await timed(metrics, "index", () =>
        store.completeJob(tenantId, jobId, started.documentId, {
          chunks,
          vectors,
          pages: parsed.pages ?? null,
          ids: chunks.map(() => newId("chk")),
        }),
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
      metrics.jobs.inc({ outcome: "completed" });
      metrics.chunks.inc(chunks.length);
      metrics.jobLatency.observe((Date.now() - started.enqueuedAt.getTime()) / 1000);
    } catch (err) {
      if (err instanceof DocumentError) {
        await store.failJob(tenantId, jobId, "failed", err.message);
        metrics.jobs.inc({ outcome: "failed" });
        log.info({ tenantId, jobId, reason: err.message }, "document could not be indexed");
        return;
      }
      const reason = `Attempt ${d.retryCount + 1} failed: ${(err as Error).message.slice(0, 300)}`;
      await store.attemptFailed(tenantId, jobId, reason).catch(() => {});
      metrics.jobs.inc({ outcome: "retried" });
      log.warn({ tenantId, jobId, err }, "ingest attempt failed; the queue retries it");
      throw err;
    }
  }

  /** A job whose retries are spent (from the dead-letter queue): mark it dead, retryable by API. */
  async function dead(m: IngestMessage): Promise<void> {
    const job = await store.getJob(m.tenantId, null, m.jobId);
    const reason = `Gave up after ${config.maxAttempts} attempts${job?.error ? `; last: ${job.error}` : ""}`;
    await store.failJob(m.tenantId, m.jobId, "dead", reason);
    metrics.jobs.inc({ outcome: "dead" });
  }

  return { handle, dead };
}
