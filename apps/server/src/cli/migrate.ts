import type { Config } from "../config/config.ts";
import { migrateDatabase, openDatabase } from "../db/open-database.ts";
import { embeddingModel } from "../embeddings/create-embedder.ts";
import { ingestQueueSpec } from "../knowledge/ingest-queue.ts";
import { memoryAddQueueSpec } from "../memories/memory-add-queue.ts";
import { webhookQueueSpec } from "../webhooks/webhook-queue.ts";
import { migrateQueues } from "../worker/durable-queue.ts";

/**
 * `engram migrate`: cluster mode's schema step, run as the owner before (re)starting the API and
 * workers, which connect as the application role and cannot migrate. Safe to run repeatedly and
 * from several processes at once.
 */
export async function migrateCommand(config: Config) {
  if (!config.databaseOwnerUrl) {
    // Opening the embedded data directory next to a running server could corrupt it.
    throw new Error(
      "engram migrate needs ENGRAM_DATABASE_OWNER_URL (cluster mode); embedded mode migrates when `engram serve` starts",
    );
  }
  const db = await openDatabase(config);
  try {
    const result = await migrateDatabase(db, embeddingModel(config.embedder));
    await migrateQueues(db, config.databaseOwnerUrl, [
      ingestQueueSpec(config.ingest),
      memoryAddQueueSpec(config.ingest),
      webhookQueueSpec(config),
    ]);
    return result;
  } finally {
    await db.close();
  }
}
