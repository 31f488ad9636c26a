import type { Config } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import type { PlanCatalog } from "../plans/plans.ts";
import { checkLlmBudget } from "../usage/llm-usage.ts";
import { migrateQueues, openQueue } from "../worker/durable-queue.ts";
import type { JobLogger } from "../worker/job.ts";
import { type MemoryAddMessage, memoryAddQueueSpec } from "./memory-add-queue.ts";
import { createMemoryEventService, type MemoryEventService } from "./memory-event-service.ts";
import { createMemoryEventStore } from "./memory-event-store.ts";
import { createMemoryEventHandler } from "./memory-event-worker.ts";
import type { MemoryService } from "./memory-service.ts";

export interface MemoryEventsModule {
  service: MemoryEventService;
  /** Stops consuming (waits for running adds), then closes the queue. */
  stop(): Promise<void>;
}

/**
 * Wires asynchronous adds for one process: the queue, the event store, the service verbs and
 * (when `consume`) the job handler, which runs adds through `memories`. The same rule as the
 * reading service: embedded `engram serve` and `engram worker` consume, `engram serve` in
 * cluster mode only enqueues (ENGRAM_INGEST_IN_PROCESS). Embedded, the queue is installed here;
 * in cluster mode `engram migrate` does it.
 */
export async function startMemoryEvents(deps: {
  config: Config;
  db: Database;
  memories: MemoryService;
  plans: PlanCatalog;
  log: JobLogger;
  consume: boolean;
}): Promise<MemoryEventsModule> {
  const { config, db, log } = deps;
  const spec = memoryAddQueueSpec(config.ingest);
  if (db.kind === "pglite") await migrateQueues(db, undefined, [spec]);
  const queue = await openQueue<MemoryAddMessage>(db, config.databaseUrl, spec, log, deps.consume);
  const store = createMemoryEventStore(db);
  const service = createMemoryEventService({
    store,
    queue,
    memories: deps.memories,
    idempotencyTtlS: config.idempotencyTtlS,
    metering: config.metering,
    // As the synchronous add: a spent LLM budget is 402 at once (or the local engine takes over).
    admitInference: config.llm
      ? async (tx, ctx) => {
          await checkLlmBudget(tx, ctx, config.llmBudgetFallback);
        }
      : undefined,
  });
  if (deps.consume) {
    const handler = createMemoryEventHandler({
      store,
      memories: deps.memories,
      plans: deps.plans,
      maxAttempts: config.ingest.maxAttempts,
      log,
    });
    await queue.work(handler.handle, handler.dead);
  }
  return { service, stop: () => queue.stop() };
}
