import type { RedisConnection } from "../cache/redis-connection.ts";
import type { Database } from "../db/database.ts";
import { exclusiveRunner, type Job, type JobLogger } from "./job.ts";

/** Each wait is the job's interval ± this fraction, so workers started together drift apart. */
const JITTER = 0.2;

export interface Scheduler {
  /** Stops scheduling, lets each job's current run reach its next safe point, then resolves. */
  stop(): Promise<void>;
}

/** Resolves true after ms, or false as soon as the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs every job on its own loop: a first run at a random point of the first interval, then one
 * every interval ± 20 %. A failed run is logged and retried at the next interval (a database that
 * is down only costs runs). Several schedulers (processes) may run the same jobs: each job's
 * steps take its advisory lock.
 */
export function startScheduler(
  jobs: readonly Job[],
  deps: {
    db: Database;
    redis: RedisConnection | undefined;
    log: JobLogger;
    random?: () => number;
  },
): Scheduler {
  const { db, redis, log } = deps;
  const random = deps.random ?? Math.random;
  const controller = new AbortController();
  const { signal } = controller;

  async function runOnce(job: Job) {
    const started = performance.now();
    try {
      const ctx = { db, redis, log, signal, exclusive: exclusiveRunner(db, job.lockKey) };
      const outcome = await job.run(ctx);
      const ms = Math.round(performance.now() - started);
      if (outcome.skipped) {
        log.debug({ job: job.name, ms }, "job skipped: another worker holds its lock");
      } else if (Object.values(outcome.counts).some((n) => n > 0)) {
        log.info({ job: job.name, ...outcome.counts, ms }, "job ran");
      } else {
        log.debug({ job: job.name, ...outcome.counts, ms }, "job ran");
      }
    } catch (err) {
      log.error({ job: job.name, err }, "job failed; it runs again at its next interval");
    }
  }

  async function loop(job: Job) {
    let delay = job.intervalMs * random();
    while (await sleep(delay, signal)) {
      await runOnce(job);
      delay = job.intervalMs * (1 - JITTER + 2 * JITTER * random());
    }
  }

  const loops = jobs.map(loop);
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      controller.abort();
      stopping ??= Promise.all(loops).then(() => {});
      return stopping;
    },
  };
}
