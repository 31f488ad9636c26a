import { expireIdempotencyKeys } from "../db/idempotency.ts";
import { JOB_LOCKS, type Job } from "./job.ts";

/** Rows deleted per transaction: short transactions, and a shutdown never waits for a backlog. */
export const EXPIRY_BATCH = 5_000;

/**
 * Deletes Idempotency-Key records older than the TTL, in every tenant. Requests already treat
 * them as absent (db/idempotency.ts); this keeps the table from growing forever. Each batch is one
 * transaction holding the job's lock, so two workers never delete the same rows, and a worker
 * that finds the lock taken skips this run.
 */
export function expireIdempotencyKeysJob(opts: {
  ttlS: number;
  intervalMs: number;
  batch?: number;
}): Job {
  const batch = opts.batch ?? EXPIRY_BATCH;
  return {
    name: "expire-idempotency-keys",
    lockKey: JOB_LOCKS.expireIdempotencyKeys,
    intervalMs: opts.intervalMs,
    async run(ctx) {
      let deleted = 0;
      for (let first = true; ; first = false) {
        const step = await ctx.exclusive((tx) => expireIdempotencyKeys(tx, opts.ttlS, batch));
        // Taken by another worker: at the start, this run is theirs; later, they finish the rest.
        if (!step.locked)
          return first ? { skipped: true } : { skipped: false, counts: { deleted } };
        deleted += step.value;
        if (step.value < batch || ctx.signal.aborted)
          return { skipped: false, counts: { deleted } };
      }
    },
  };
}
