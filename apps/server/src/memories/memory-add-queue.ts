import type { IngestConfig } from "../config/ingest-config.ts";
import type { Delivery, DurableQueue, QueueSpec } from "../worker/durable-queue.ts";

/** What a queued asynchronous add carries: ids only; the request stays in memory_events. */
export interface MemoryAddMessage {
  tenantId: string;
  eventId: string;
}

export type MemoryAddDelivery = Delivery<MemoryAddMessage>;
export type MemoryAddQueue = DurableQueue<MemoryAddMessage>;

/**
 * The queue asynchronous adds run through (ADR 0027): the same pg-boss as ingestion, with the
 * ingestion queue's retries, leases and concurrency (ENGRAM_INGEST_*), so one set of knobs
 * decides what a worker process takes on.
 */
export const memoryAddQueueSpec = (cfg: IngestConfig): QueueSpec => ({
  name: "engram-memory-add",
  deadLetter: "engram-memory-add-dead",
  tuning: cfg,
});
