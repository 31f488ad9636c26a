import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import { makeMarkdown } from "../testing/document-fixtures.ts";
import { killAll, until } from "../testing/run-process.ts";
import { withPgClient } from "../testing/test-postgres.ts";
import { spawnWorker, startPostgresTestServer } from "../testing/test-server.ts";

// Cluster mode as deployed: the API process only enqueues (ENGRAM_INGEST_IN_PROCESS=off) and
// `engram worker` child processes consume the queue from the same PostgreSQL.
const ENV = {
  ENGRAM_INGEST_IN_PROCESS: "off",
  // A killed worker's job is taken back once its heartbeat is 10 s stale (the shortest allowed).
  ENGRAM_INGEST_HEARTBEAT_S: "10",
  ENGRAM_INGEST_SUPERVISE_INTERVAL_S: "1",
  ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
  ENGRAM_CHUNK_MAX_TOKENS: "48",
  ENGRAM_CHUNK_OVERLAP_TOKENS: "0",
};
let srv: Awaited<ReturnType<typeof startPostgresTestServer>>;
const workers: Awaited<ReturnType<typeof spawnWorker>>[] = [];

async function worker(env: Record<string, string> = {}) {
  const w = await spawnWorker({ ...ENV, DATABASE_URL: srv.database.appUrl, ...env });
  workers.push(w);
  return w;
}

const superuser = <T>(fn: (c: pg.Client) => Promise<T>) =>
  withPgClient(srv.database.superuserUrl, fn);

const chunkRows = (documentId: string) =>
  superuser(async (c) => {
    const { rows } = await c.query<{ n: number; distinct_ordinals: number }>(
      "SELECT count(*)::int AS n, count(DISTINCT ordinal)::int AS distinct_ordinals FROM knowledge_chunks WHERE document_id = $1",
      [documentId],
    );
    return rows[0] as { n: number; distinct_ordinals: number };
  });

const indexed = (w: (typeof workers)[number]) =>
  w
    .logs()
    .filter((l) => l.msg === "document indexed")
    .map((l) => String(l.jobId));

describe("ingestion with engram worker processes (PostgreSQL)", () => {
  before(async () => {
    srv = await startPostgresTestServer(ENV);
  });
  after(async () => {
    await killAll(workers);
    await srv.close();
  });

  test("a worker killed with -9 mid-job: the job completes after restart, no duplicate chunks", async () => {
    const t = await srv.newTenant();
    const first = await worker();
    const { document_id, job_id } = await t.client.knowledge.createDocument({
      filename: "manual.md",
      text: makeMarkdown(12, 12, 7),
    });
    await until("the job to be embedding", async () => {
      const job = await t.client.knowledge.getJob(job_id);
      return job.state === "active" && job.stage === "embed";
    });
    await first.stop("SIGKILL");
    assert.equal((await t.client.knowledge.getJob(job_id)).state, "active");
    assert.equal(
      (await chunkRows(document_id)).n,
      0,
      "nothing written before the final transaction",
    );

    await worker();
    const job = await t.client.knowledge.waitForJob(job_id, { timeoutMs: 90_000 });
    assert.equal(job.state, "completed", JSON.stringify(job));
    assert.ok(job.attempts >= 2, `attempts ${job.attempts}`);
    const doc = await t.client.knowledge.getDocument(document_id);
    const rows = await chunkRows(document_id);
    assert.ok(doc.chunk_count > 50, `only ${doc.chunk_count} chunks`);
    assert.equal(rows.n, doc.chunk_count);
    assert.equal(rows.distinct_ordinals, rows.n, "no ordinal twice");
  });

  test("a crash loop (every worker that takes the job dies) ends in a dead job after the attempts, not forever", async () => {
    await killAll(workers);
    const env = { ENGRAM_INGEST_MAX_ATTEMPTS: "2" };
    const t = await srv.newTenant();
    const { document_id, job_id } = await t.client.knowledge.createDocument({
      filename: "loop.md",
      text: makeMarkdown(12, 12, 11),
    });
    for (let attempt = 1; attempt <= 2; attempt++) {
      const w = await worker(env);
      await until(
        `attempt ${attempt} to be embedding`,
        async () => {
          const job = await t.client.knowledge.getJob(job_id);
          return job.state === "active" && job.stage === "embed" && job.attempts === attempt;
        },
        90_000,
      );
      await w.stop("SIGKILL");
    }
    // A third worker finds the attempts spent: the queue dead-letters the job instead of handing
    // it out again, and the job says why.
    await worker(env);
    const job = await t.client.knowledge.waitForJob(job_id, { timeoutMs: 90_000 });
    assert.equal(job.state, "dead", JSON.stringify(job));
    assert.equal(job.attempts, 2);
    assert.match(job.error ?? "", /Gave up after 2 attempts.*stopped without finishing/);
    assert.equal((await chunkRows(document_id)).n, 0);
    const doc = await t.client.knowledge.getDocument(document_id);
    assert.equal(doc.status, "failed");
    assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  });

  test("two workers share one queue; every job is completed by exactly one of them", async () => {
    await killAll(workers);
    // One job at a time each: the tenant's two concurrent slots can only be filled by both.
    const a = await worker({ ENGRAM_INGEST_CONCURRENCY: "1" });
    const b = await worker({ ENGRAM_INGEST_CONCURRENCY: "1" });
    const t = await srv.newTenant();
    const uploads: { document_id: string; job_id: string }[] = [];
    for (let i = 0; i < 10; i++) {
      uploads.push(
        await t.client.knowledge.createDocument({
          filename: `m${i}.md`,
          text: makeMarkdown(3, 6, 100 + i),
        }),
      );
    }
    for (const u of uploads) {
      const job = await t.client.knowledge.waitForJob(u.job_id, { timeoutMs: 90_000 });
      assert.equal(job.state, "completed");
      const rows = await chunkRows(u.document_id);
      assert.equal(rows.n, rows.distinct_ordinals);
    }
    await until("both logs", async () => indexed(a).length + indexed(b).length >= 10, 10_000);
    const done = [...indexed(a), ...indexed(b)].filter((id) =>
      uploads.some((u) => u.job_id === id),
    );
    assert.equal(done.length, 10, "each job completed once");
    assert.equal(new Set(done).size, 10);
    assert.ok(indexed(a).length > 0 && indexed(b).length > 0, "both workers took jobs");
  });

  test("fairness: one tenant's backlog does not starve another tenant's single document", async () => {
    await killAll(workers);
    const big = await srv.newTenant();
    const small = await srv.newTenant();
    const backlog: { job_id: string }[] = [];
    for (let i = 0; i < 8; i++) {
      backlog.push(
        await big.client.knowledge.createDocument({
          filename: `b${i}.md`,
          text: makeMarkdown(3, 6, 200 + i),
        }),
      );
    }
    const single = await small.client.knowledge.createDocument({
      filename: "one.md",
      text: makeMarkdown(1, 2, 300),
    });
    // One worker, one job at a time: the order of completion is the order of service.
    await worker({ ENGRAM_INGEST_CONCURRENCY: "1" });
    const mine = await small.client.knowledge.waitForJob(single.job_id, { timeoutMs: 90_000 });
    assert.equal(mine.state, "completed");
    const finished: string[] = [];
    for (const u of backlog) {
      const job = await big.client.knowledge.waitForJob(u.job_id, { timeoutMs: 90_000 });
      finished.push(job.finished_at as string);
    }
    const before = finished.filter((f) => f < (mine.finished_at as string)).length;
    assert.ok(before <= 1, `${before} of the other tenant's 8 documents went first`);
  });

  test("deleting a document mid-ingestion cancels it and leaves nothing behind", async () => {
    await killAll(workers);
    const w = await worker();
    const t = await srv.newTenant();
    const { document_id, job_id } = await t.client.knowledge.createDocument({
      filename: "long.md",
      text: makeMarkdown(12, 12, 400),
    });
    await until("the job to be embedding", async () => {
      const job = await t.client.knowledge.getJob(job_id);
      return job.state === "active" && job.stage === "embed";
    });
    await t.client.knowledge.deleteDocument(document_id);
    const job = await t.client.knowledge.getJob(job_id);
    assert.equal(job.state, "cancelled");
    await until("the worker to finish the deleted job", async () =>
      w.logs().some((l) => l.jobId === job_id && l.msg.startsWith("job taken back")),
    );
    assert.equal((await chunkRows(document_id)).n, 0);
    const contents = await superuser((c) =>
      c.query("SELECT 1 FROM document_contents WHERE document_id = $1", [document_id]),
    );
    assert.equal(contents.rowCount, 0);
  });
});
