import type { RedisConnection } from "../cache/redis-connection.ts";
import type { Database, Queryable } from "../db/database.ts";

/** The part of a pino logger jobs use; the worker's own logger and Fastify's `app.log` fit. */
export interface JobLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The outcome of one exclusive step: its value, or nothing when another worker held the lock. */
type Exclusive<T> = { locked: true; value: T } | { locked: false };

/** What a job gets for one run. */
export interface JobContext {
  db: Database;
  /** For jobs that change memories: they must invalidate the caches after committing (ADR 0009). */
  redis: RedisConnection | undefined;
  log: JobLogger;
  /** Aborted on shutdown: a job stops at its next safe point (between two transactions). */
  signal: AbortSignal;
  /**
   * Runs fn in one transaction as the application role, without a tenant context, holding this
   * job's transaction-level advisory lock; `{ locked: false }` (fn not run) when another worker
   * holds it. The lock ends with the transaction, so a crashed worker never keeps it.
   */
  exclusive<T>(fn: (tx: Queryable) => Promise<T>): Promise<Exclusive<T>>;
}

/** What one run did: counts to log, or skipped because another worker was running the job. */
type JobOutcome = { skipped: true } | { skipped: false; counts: Record<string, number> };

/** A periodic job of `engram worker` (in embedded mode, of `engram serve`). */
export interface Job {
  /** Stable and unique: it names the job in logs. */
  readonly name: string;
  /** Its advisory-lock key, unique among jobs (see JOB_LOCKS). */
  readonly lockKey: number;
  /** Time between two runs, before jitter. */
  readonly intervalMs: number;
  run(ctx: JobContext): Promise<JobOutcome>;
}

/**
 * Advisory-lock keys, one per job; constants, so every Engram process agrees. Next to
 * MIGRATION_LOCK (72_616_001) and away from it.
 */
export const JOB_LOCKS = {
  expireIdempotencyKeys: 72_616_101,
  vacuumEmbedded: 72_616_102,
} as const;

/** The `exclusive` helper of JobContext for one job. */
export function exclusiveRunner(db: Database, lockKey: number): JobContext["exclusive"] {
  return (fn) =>
    db.withoutTenant(async (tx) => {
      const [row] = await tx.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_xact_lock($1) AS locked",
        [lockKey],
      );
      if (!row?.locked) return { locked: false };
      return { locked: true, value: await fn(tx) };
    });
}
