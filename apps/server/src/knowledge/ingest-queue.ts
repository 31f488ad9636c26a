import type { IngestConfig } from "../config/ingest-config.ts";
import type { Database } from "../db/database.ts";
import {
  type DurableQueue,
  migrateQueues,
  openQueue,
  type Delivery as QueueDelivery,
  type QueueSpec,
} from "../worker/durable-queue.ts";

export type { QueueDepth } from "../worker/durable-queue.ts";

/** What a queued job carries: ids only; the document's bytes stay in the tenant's own tables. */
export interface IngestMessage {
  tenantId: string;
  documentId: string;
  jobId: string;
}

export type Delivery = QueueDelivery<IngestMessage>;

/**
 * The ingestion queue (ADR 0013): a durable queue (worker/durable-queue.ts) whose job is enqueued
 * in the transaction that stores its document.
 */
export type IngestQueue = DurableQueue<IngestMessage>;

/** The queue documents are ingested through, and where jobs go once their retries are spent. */
export const ingestQueueSpec = (cfg: IngestConfig): QueueSpec => ({
  name: "engram-ingest",
  deadLetter: "engram-ingest-dead",
  tuning: cfg,
});

/** Installs or upgrades the ingestion queue, as the schema owner (embedded: at start). */
export function migrateIngestQueue(
  db: Database,
  ownerUrl: string | undefined,
  cfg: IngestConfig,
): Promise<void> {
  return migrateQueues(db, ownerUrl, [ingestQueueSpec(cfg)]);
}

/** Opens the queue as the application role; `consumer` processes also supervise (expire lost jobs). */
export function openIngestQueue(
  db: Database,
  url: string | undefined,
  cfg: IngestConfig,
  log: { warn(obj: object, msg: string): void },
  consumer: boolean,
): Promise<IngestQueue> {
  return openQueue<IngestMessage>(db, url, ingestQueueSpec(cfg), log, consumer);
}
