import { fromPglite, PgBoss } from "pg-boss";
import type { IngestConfig } from "../config/ingest-config.ts";
import type { Database, Queryable } from "../db/database.ts";
import { pgliteOf } from "../db/pglite-database.ts";

/** The queue documents are ingested through, and where jobs go once their retries are spent. */
const INGEST_QUEUE = "engram-ingest";
const DEAD_LETTER_QUEUE = "engram-ingest-dead";
const SCHEMA = "pgboss";

/** What a queued job carries: ids only; the document's bytes stay in the tenant's own tables. */
export interface IngestMessage {
  tenantId: string;
  documentId: string;
  jobId: string;
}

export interface Delivery {
  queueJobId: string;
  /** 0 on the first delivery. */
  retryCount: number;
  message: IngestMessage;
  /** Aborted when the queue takes the job back (its heartbeat found the claim gone, or shutdown). */
  signal?: AbortSignal | undefined;
}

export interface QueueDepth {
  queued: number;
  active: number;
  deadLettered: number;
}

/**
 * The ingestion queue: pg-boss (ADR 0013) on the same database as the data, so a job is enqueued
 * in the transaction that stores its document. Embedded, pg-boss runs on the PGlite instance
 * through its PGlite adapter; in cluster mode it has its own pool as the application role.
 */
export interface IngestQueue {
  /** Enqueues inside the caller's transaction; returns the queue's job id. */
  enqueue(tx: Queryable, message: IngestMessage, priority: number): Promise<string>;
  /** Consumes jobs: `handle` resolving completes a job; throwing schedules a retry (or the dead letter). */
  work(
    handle: (d: Delivery) => Promise<void>,
    onDead: (m: IngestMessage) => Promise<void>,
  ): Promise<void>;
  /** Cancels a queued or retrying job (an active one is left to notice its document is gone). */
  cancel(queueJobId: string): Promise<void>;
  depth(): Promise<QueueDepth>;
  stop(): Promise<void>;
}

type BossTarget = { db: Database; url: string | undefined };

function newBoss(
  target: BossTarget,
  cfg: IngestConfig,
  opts: { migrate: boolean; supervise: boolean },
) {
  const pglite = pgliteOf(target.db);
  const connection = pglite
    ? { db: fromPglite(pglite), backend: "pglite" as const }
    : { connectionString: target.url as string, max: 4 };
  const boss = new PgBoss({
    ...connection,
    schema: SCHEMA,
    migrate: opts.migrate,
    createSchema: opts.migrate,
    supervise: opts.supervise,
    schedule: false,
    superviseIntervalSeconds: cfg.superviseIntervalS,
    monitorIntervalSeconds: Math.max(1, Math.min(cfg.superviseIntervalS, 10)),
    openTelemetry: { enabled: false },
  } as ConstructorParameters<typeof PgBoss>[0]);
  return boss;
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
 * Installs or upgrades pg-boss's schema and the two queues, as the schema owner, and lets the
 * application role use them (it owns nothing, as for every other table). Run by `engram migrate`
 * (cluster) and at start (embedded).
 */
export async function migrateIngestQueue(
  db: Database,
  ownerUrl: string | undefined,
  cfg: IngestConfig,
): Promise<void> {
  const boss = newBoss({ db, url: ownerUrl }, cfg, { migrate: true, supervise: false });
  boss.on("error", () => {});
  await boss.start();
  try {
    const retry = {
      retryLimit: cfg.maxAttempts - 1,
      retryDelay: cfg.retryDelayS,
      retryBackoff: true,
      retryDelayMax: 15 * 60,
      expireInSeconds: cfg.visibilityTimeoutS,
      // A worker heartbeats its active job; one that stops (a killed process) is retried after
      // this long, however long the job may run in all.
      heartbeatSeconds: cfg.heartbeatS,
    };
    if (!(await boss.getQueue(DEAD_LETTER_QUEUE))) {
      await boss.createQueue(DEAD_LETTER_QUEUE, { retryLimit: 10, retryBackoff: true });
    }
    if (await boss.getQueue(INGEST_QUEUE)) await boss.updateQueue(INGEST_QUEUE, retry);
    else await boss.createQueue(INGEST_QUEUE, { ...retry, deadLetter: DEAD_LETTER_QUEUE });
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

/** Opens the queue as the application role; `consumer` processes also supervise (expire lost jobs). */
export async function openIngestQueue(
  db: Database,
  url: string | undefined,
  cfg: IngestConfig,
  log: { warn(obj: object, msg: string): void },
  consumer: boolean,
): Promise<IngestQueue> {
  const boss = newBoss({ db, url }, cfg, { migrate: false, supervise: consumer });
  boss.on("error", (err) => log.warn({ err }, "ingest queue error"));
  await boss.start();
  return {
    async enqueue(tx, message, priority) {
      const id = await boss.send(INGEST_QUEUE, message as unknown as object, {
        priority,
        group: { id: message.tenantId },
        db: inTransaction(tx),
      });
      if (!id) throw new Error("the ingest queue refused the job");
      return id;
    },
    async work(handle, onDead) {
      if (cfg.concurrency === 0) return;
      await boss.work<IngestMessage>(
        INGEST_QUEUE,
        {
          batchSize: 1,
          localConcurrency: cfg.concurrency,
          groupConcurrency: cfg.tenantConcurrency,
          pollingIntervalSeconds: cfg.pollIntervalMs / 1000,
        },
        async ([job]) => {
          if (!job) return;
          await handle({
            queueJobId: job.id,
            retryCount: job.retryCount ?? 0,
            message: job.data,
            signal: (job as { signal?: AbortSignal }).signal,
          });
        },
      );
      await boss.work<IngestMessage>(
        DEAD_LETTER_QUEUE,
        { batchSize: 1, pollingIntervalSeconds: cfg.pollIntervalMs / 1000 },
        async ([job]) => {
          if (job) await onDead(job.data);
        },
      );
    },
    async cancel(queueJobId) {
      await boss.cancel(INGEST_QUEUE, queueJobId);
    },
    async depth() {
      const [q, dead] = await Promise.all([
        boss.getQueue(INGEST_QUEUE),
        boss.getQueue(DEAD_LETTER_QUEUE),
      ]);
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
