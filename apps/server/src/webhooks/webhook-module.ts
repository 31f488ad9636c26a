import type { Config } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import type { QuotaThresholdHook } from "../usage/metering.ts";
import { migrateQueues, openQueue } from "../worker/durable-queue.ts";
import type { JobLogger } from "../worker/job.ts";
import { createWebhookOutbox, type EmitWebhooks, quotaThresholdHook } from "./webhook-outbox.ts";
import { type WebhookMessage, webhookQueueSpec } from "./webhook-queue.ts";
import type { Resolve } from "./webhook-sender.ts";
import { createWebhookService, type WebhookService } from "./webhook-service.ts";
import { createWebhookStore } from "./webhook-store.ts";
import { createWebhookHandler } from "./webhook-worker.ts";

export interface WebhooksModule {
  service: WebhookService;
  /** What stores and metering call in a change's transaction to record and enqueue deliveries. */
  hooks: { emit: EmitWebhooks; quotaThresholds: QuotaThresholdHook };
  /** Stops consuming (waits for running deliveries), then closes the queue. */
  stop(): Promise<void>;
}

/**
 * Wires webhooks for one process: the delivery queue, the outbox stores emit through, the
 * service verbs and (when `consume`) the delivery handler. The same rule as the other queues:
 * embedded `engram serve` and `engram worker` deliver, `engram serve` in cluster mode only
 * enqueues (ENGRAM_INGEST_IN_PROCESS).
 */
export async function startWebhooks(deps: {
  config: Config;
  db: Database;
  log: JobLogger;
  consume: boolean;
  resolve?: Resolve | undefined;
}): Promise<WebhooksModule> {
  const { config, db, log } = deps;
  const spec = webhookQueueSpec(config);
  if (db.kind === "pglite") await migrateQueues(db, undefined, [spec]);
  const queue = await openQueue<WebhookMessage>(db, config.databaseUrl, spec, log, deps.consume);
  const store = createWebhookStore(db);
  const service = createWebhookService({ store, queue, config: config.webhooks });
  if (deps.consume) {
    const handler = createWebhookHandler({
      store,
      config: config.webhooks,
      log,
      resolve: deps.resolve,
    });
    await queue.work(handler.handle, handler.dead);
  }
  const emit = createWebhookOutbox(queue);
  return {
    service,
    hooks: { emit, quotaThresholds: quotaThresholdHook(emit) },
    stop: () => queue.stop(),
  };
}
