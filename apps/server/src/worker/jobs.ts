import type { Config } from "../config/config.ts";
import { expireIdempotencyKeysJob } from "./expire-idempotency-keys.ts";
import type { Job } from "./job.ts";
import { vacuumEmbeddedJob } from "./vacuum-embedded.ts";

/**
 * The jobs registry: every job `engram worker` runs (and `engram serve` runs itself in embedded
 * mode). A new job is a `Job` with its own lock key in JOB_LOCKS, added here; the reading-service
 * job queue of a later issue plugs in the same way, as a job that claims queued work.
 */
export function workerJobs(config: Config): Job[] {
  const intervalMs = config.workerIntervalS * 1000;
  const jobs = [expireIdempotencyKeysJob({ ttlS: config.idempotencyTtlS, intervalMs })];
  // PostgreSQL's autovacuum keeps statistics and visibility maps fresh in cluster mode; PGlite has
  // none. The check reads only the catalog, so it runs often: after a large import, searches
  // planned on the old statistics were ten times slower (2.6 s against 0.2 s at p90 on a fresh
  // LoCoMo tenant).
  if (!config.databaseUrl) jobs.push(vacuumEmbeddedJob({ intervalMs: 10_000 }));
  return jobs;
}
