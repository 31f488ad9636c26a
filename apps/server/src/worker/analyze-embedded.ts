import { JOB_LOCKS, type Job } from "./job.ts";

/**
 * Refreshes planner statistics in embedded mode. PGlite runs no autovacuum, and without
 * statistics the planner never chooses the HNSW index (every search became an exact scan, ~0.5 s
 * at 100k memories). ANALYZE samples a bounded number of rows, so a run costs about a second at
 * 100k memories; PostgreSQL's own autovacuum does this in cluster mode.
 */
export function analyzeEmbeddedJob(opts: { intervalMs: number }): Job {
  return {
    name: "analyze-embedded",
    lockKey: JOB_LOCKS.analyzeEmbedded,
    intervalMs: opts.intervalMs,
    async run(ctx) {
      await ctx.db.asOwner((tx) => tx.exec("ANALYZE"));
      return { skipped: false, counts: {} };
    },
  };
}
