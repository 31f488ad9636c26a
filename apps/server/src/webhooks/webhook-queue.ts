import type { Config } from "../config/config.ts";
import type { Delivery, DurableQueue, QueueSpec } from "../worker/durable-queue.ts";

/**
 * What a queued delivery job carries: ids only. A job is a token for its ordering key: it
 * delivers the key's oldest pending delivery, so deliveries go out in commit order (seq) even
 * when several jobs of one transaction reach the queue with the same timestamp.
 */
export interface WebhookMessage {
  tenantId: string;
  webhookId: string;
  key: string;
}

export type WebhookDelivery = Delivery<WebhookMessage>;
export type WebhookQueue = DurableQueue<WebhookMessage>;

/** The queue key: jobs of one webhook and ordering key run one at a time, in order. */
export const queueKey = (webhookId: string, key: string) => `${webhookId}:${key}`;

/**
 * The delivery queue (ADR 0039): pg-boss's key_strict_fifo, keyed by webhook and memory, so a
 * retrying delivery holds back that memory's later events and nothing else. Attempts, backoff and
 * concurrency are ENGRAM_WEBHOOKS_* (leases and polling ENGRAM_INGEST_*); two more queue retries than HTTP attempts leave room for a database
 * error after the last attempt (the handler never lets a job fail for an HTTP error, so no failed
 * job blocks its key).
 */
export const webhookQueueSpec = (config: Pick<Config, "ingest" | "webhooks">): QueueSpec => ({
  name: "engram-webhook",
  deadLetter: "engram-webhook-dead",
  orderedByKey: true,
  retriesPerJob: true,
  batch: 4,
  tuning: {
    ...config.ingest,
    maxAttempts: config.webhooks.maxAttempts + 2,
    retryDelayS: config.webhooks.retryDelayS,
    concurrency: config.webhooks.concurrency,
    tenantConcurrency: config.webhooks.tenantConcurrency,
  },
});
