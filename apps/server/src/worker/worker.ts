import { pino } from "pino";
import { createRedisConnection } from "../cache/redis-connection.ts";
import type { Config } from "../config/config.ts";
import { openDatabase, prepareSchema } from "../db/open-database.ts";
import { embeddingModel } from "../embeddings/create-embedder.ts";
import { createCounters } from "../telemetry/counters.ts";
import type { JobLogger } from "./job.ts";
import { workerJobs } from "./jobs.ts";
import { startScheduler } from "./scheduler.ts";

export interface Worker {
  /** JSON lines on stdout, like the API's. */
  log: JobLogger;
  /** The names of the jobs it runs. */
  jobs: string[];
  /** Stops scheduling, lets the running job reach its next safe point, closes Redis and the database. */
  close(): Promise<void>;
}

/**
 * Composition root of `engram worker`: config → database (the application role) → Redis → jobs.
 * Cluster mode only: the embedded database belongs to the one `engram serve` process, which runs
 * the same jobs itself.
 */
export async function createWorker(config: Config): Promise<Worker> {
  if (!config.databaseUrl) {
    throw new Error(
      "engram worker needs DATABASE_URL (cluster mode); in embedded mode `engram serve` runs the worker's jobs itself",
    );
  }
  const log = pino({ level: config.logLevel, name: "engram-worker" });
  const counters = createCounters();
  // Never the owner's connection: jobs run as the application role, like requests.
  const db = await openDatabase({ ...config, databaseOwnerUrl: undefined });
  const redis = config.redisUrl
    ? createRedisConnection({ url: config.redisUrl, prefix: config.redisPrefix, counters })
    : undefined;
  try {
    // The same checks as `engram serve`: a current schema, and a least-privilege role.
    await prepareSchema(db, embeddingModel(config.embedder));
    await redis?.connect(log);
  } catch (err) {
    await redis?.close();
    await db.close();
    throw err;
  }
  const jobs = workerJobs(config);
  const scheduler = startScheduler(jobs, { db, redis, log });
  let closing: Promise<void> | undefined;
  return {
    log,
    jobs: jobs.map((j) => j.name),
    close() {
      closing ??= (async () => {
        await scheduler.stop();
        await redis?.close();
        await db.close();
      })();
      return closing;
    },
  };
}
