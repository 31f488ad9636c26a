import { fromPglite, PgBoss } from "pg-boss";
import type { IngestConfig } from "../config/ingest-config.ts";
import type { Database, Queryable } from "../db/database.ts";
import { pgliteOf } from "../db/pglite-database.ts";

const SCHEMA = "pgboss";

/** How a queue retries, leases and consumes: the ENGRAM_INGEST_* numbers (config/ingest-config.ts). */
type QueueTuning = Pick<
  IngestConfig,
  | "maxAttempts"
  | "retryDelayS"
  | "visibilityTimeoutS"
  | "heartbeatS"
  | "concurrency"
  | "tenantConcurrency"
  | "pollIntervalMs"
  | "superviseIntervalS"
>;

/** One durable queue: its name, where jobs go once their retries are spent, and its tuning. */
export interface QueueSpec {
  name: string;
  deadLetter: string;
  tuning: QueueTuning;
  /**
   * pg-boss's `key_strict_fifo`: jobs with the same key run one at a time, in the order they were
   * sent, a retrying job holding back its successors (webhook deliveries, ordered per memory).
   */
  orderedByKey?: boolean;
  /**
   * Each job carries the tuning's retries itself, so they follow this process's configuration
   * rather than the one the queue was created (migrated) with.
   */
  retriesPerJob?: boolean;
  /**
   * Consumers take up to this many jobs per fetch, run them side by side (each completing or
   * failing on its own), and fetch again at once while fetches come back full, instead of waiting
   * the polling interval after every job: for many short jobs (webhook deliveries), where the
   * poll, not the work, would otherwise set the rate. Absent: one job per fetch.
   */
  batch?: number;
}

/** What every queued message carries: the tenant it belongs to (the fairness group). */
interface TenantMessage {
  tenantId: string;
}

export interface Delivery<M> {
  queueJobId: string;
  /** 0 on the first delivery. */
  retryCount: number;
  message: M;
  /** Aborted when the queue takes the job back (its heartbeat found the claim gone, or shutdown). */
  signal?: AbortSignal | undefined;
}

export interface QueueDepth {
  queued: number;
  active: number;
  deadLettered: number;
}

/**
 * A durable queue: pg-boss (ADR 0013) on the same database as the data, so a job is enqueued in
 * the transaction that stores its record. Embedded, pg-boss runs on the PGlite instance through
 * its PGlite adapter; in cluster mode it has its own pool as the application role. Messages
 * carry ids only; tenant data stays in the tenant's own tables.
 */
export interface DurableQueue<M extends TenantMessage> {
  /**
   * Enqueues inside the caller's transaction; returns the queue's job id. `key` is required by,
   * and only meaningful for, a queue `orderedByKey`.
   */
  enqueue(tx: Queryable, message: M, priority?: number, key?: string): Promise<string>;
  /** Consumes jobs: `handle` resolving completes a job; throwing schedules a retry (or the dead letter). */
  work(handle: (d: Delivery<M>) => Promise<void>, onDead: (m: M) => Promise<void>): Promise<void>;
  /** Cancels a queued or retrying job (an active one is left to notice its record is gone). */
  cancel(queueJobId: string): Promise<void>;
  depth(): Promise<QueueDepth>;
  stop(): Promise<void>;
}

type BossTarget = { db: Database; url: string | undefined };

/** pg-boss's retry options for these attempts and first delay (doubling, with jitter, to 15 min). */
function retryOptions(tuning: QueueTuning) {
  return {
    retryLimit: tuning.maxAttempts - 1,
    retryDelay: tuning.retryDelayS,
    retryBackoff: true,
    retryDelayMax: 15 * 60,
  };
}

function newBoss(
  target: BossTarget,
  superviseIntervalS: number,
  opts: { migrate: boolean; supervise: boolean },
) {
  const pglite = pgliteOf(target.db);
  const connection = pglite
    ? { db: fromPglite(pglite), backend: "pglite" as const }
    : { connectionString: target.url as string, max: 4 };
  return new PgBoss({
    ...connection,
    schema: SCHEMA,
    migrate: opts.migrate,
    createSchema: opts.migrate,
    supervise: opts.supervise,
    schedule: false,
    superviseIntervalSeconds: superviseIntervalS,
    monitorIntervalSeconds: Math.max(1, Math.min(superviseIntervalS, 10)),
    openTelemetry: { enabled: false },
  } as ConstructorParameters<typeof PgBoss>[0]);
}

/** pg-boss's database interface over one of our transactions (so `send` joins it). */
function inTransaction(tx: Queryable) {
  return {
    async executeSql(text: string, values?: unknown[]) {
      if (values?.length) return { rows: await tx.query(text, values) };
      await tx.exec(text);
      return { rows: [] };
    },
  };
}

/**
 * Installs or upgrades pg-boss's schema and these queues (each with its dead-letter queue), as
 * the schema owner, and lets the application role use them (it owns nothing, as for every other
 * table). Run by `engram migrate` (cluster) and at start (embedded).
 */
export async function migrateQueues(
  db: Database,
  ownerUrl: string | undefined,
  specs: readonly QueueSpec[],
): Promise<void> {
  const superviseIntervalS = Math.min(...specs.map((s) => s.tuning.superviseIntervalS));
  const boss = newBoss({ db, url: ownerUrl }, superviseIntervalS, {
    migrate: true,
    supervise: false,
  });
  boss.on("error", () => {});
  await boss.start();
  try {
    for (const { name, deadLetter, tuning, orderedByKey } of specs) {
      const retry = {
        ...retryOptions(tuning),
        expireInSeconds: tuning.visibilityTimeoutS,
        // A worker heartbeats its active job; one that stops (a killed process) is retried after
        // this long, however long the job may run in all.
        heartbeatSeconds: tuning.heartbeatS,
      };
      if (!(await boss.getQueue(deadLetter))) {
        await boss.createQueue(deadLetter, { retryLimit: 10, retryBackoff: true });
      }
      if (await boss.getQueue(name)) await boss.updateQueue(name, retry);
      else
        await boss.createQueue(name, {
          ...retry,
          deadLetter,
          ...(orderedByKey ? { policy: "key_strict_fifo" } : {}),
        });
    }
  } finally {
    await boss.stop({ graceful: false, close: !pgliteOf(db) });
  }
  await db.asOwner((tx) =>
    tx.exec(`GRANT USAGE ON SCHEMA ${SCHEMA} TO engram_app;
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${SCHEMA} TO engram_app;
      GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${SCHEMA} TO engram_app;
      GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${SCHEMA} TO engram_app;`),
  );
}

/** Opens one queue as the application role; `consumer` processes also supervise (expire lost jobs). */
export async function openQueue<M extends TenantMessage>(
  db: Database,
  url: string | undefined,
  spec: QueueSpec,
  log: { warn(obj: object, msg: string): void },
  consumer: boolean,
): Promise<DurableQueue<M>> {
  const { name, deadLetter, tuning } = spec;
  const boss = newBoss({ db, url }, tuning.superviseIntervalS, {
    migrate: false,
    supervise: consumer,
  });
  boss.on("error", (err) => log.warn({ err, queue: name }, "queue error"));
  await boss.start();
  const pollingIntervalSeconds = tuning.pollIntervalMs / 1000;
  return {
    async enqueue(tx, message, priority = 0, key = undefined) {
      const id = await boss.send(name, message as unknown as object, {
        priority,
        ...(key !== undefined ? { singletonKey: key } : {}),
        ...(spec.retriesPerJob ? retryOptions(tuning) : {}),
        group: { id: message.tenantId },
        db: inTransaction(tx),
      });
      if (!id) throw new Error(`the queue ${name} refused the job`);
      return id;
    },
    async work(handle, onDead) {
      if (tuning.concurrency === 0) return;
      const run = (job: { id: string; retryCount?: number; data: M }) =>
        handle({
          queueJobId: job.id,
          retryCount: job.retryCount ?? 0,
          message: job.data,
          signal: (job as { signal?: AbortSignal }).signal,
        });
      const options = {
        localConcurrency: tuning.concurrency,
        groupConcurrency: tuning.tenantConcurrency,
        pollingIntervalSeconds,
      };
      if (spec.batch && spec.batch > 1) {
        await boss.work<M>(
          name,
          { ...options, batchSize: spec.batch, perJobResults: true, burstWhenBatchFull: true },
          (jobs) =>
            Promise.all(
              jobs.map((job) =>
                run(job).then(
                  () => ({ id: job.id, status: "completed" as const }),
                  (err: Error) => ({
                    id: job.id,
                    status: "failed" as const,
                    output: { message: String(err?.message ?? err).slice(0, 500) },
                  }),
                ),
              ),
            ),
        );
      } else {
        await boss.work<M>(name, { ...options, batchSize: 1 }, async ([job]) => {
          if (job) await run(job);
        });
      }
      await boss.work<M>(deadLetter, { batchSize: 1, pollingIntervalSeconds }, async ([job]) => {
        if (job) await onDead(job.data);
      });
    },
    async cancel(queueJobId) {
      await boss.cancel(name, queueJobId);
    },
    async depth() {
      const [q, dead] = await Promise.all([boss.getQueue(name), boss.getQueue(deadLetter)]);
      return {
        queued: q?.queuedCount ?? 0,
        active: q?.activeCount ?? 0,
        deadLettered: dead?.totalCount ?? 0,
      };
    },
    async stop() {
      await boss.stop({ graceful: true, timeout: 10_000, close: !pgliteOf(db) });
    },
  };
}
