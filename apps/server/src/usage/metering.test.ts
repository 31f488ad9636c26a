import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeOnBackends } from "../testing/backend-suite.ts";
import { assertProblem } from "../testing/http.ts";

describeOnBackends(
  "metering and quotas",
  (suite) => {
    const { as, provision, add, metric } = suite;
    describe("quotas and metering", () => {
      test("the operations quota: the write past it is 402 quota_exceeded naming limit, usage and period end; reads keep working", async () => {
        const t = await provision({ plan: "developer", overrides: { memory_operations: 3 } });
        for (const text of ["one", "two", "three"])
          assert.equal((await add(t.key, text)).status, 201);
        const refused = await add(t.key, "four");
        assertProblem(refused, 402, "quota_exceeded");
        assert.equal(refused.body.metric, "memory_operations");
        assert.equal(refused.body.limit, 3);
        assert.equal(refused.body.used, 3);
        const now = new Date();
        assert.equal(
          refused.body.period_end,
          new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString(),
        );
        assert.equal((await as(t.key, "GET", "/v1/memories")).body.results.length, 3);
        const search = await as(t.key, "POST", "/v1/memories/search", { query: "two" });
        assert.equal(search.status, 200);
        // Deleting frees storage and is never blocked.
        const id = (await as(t.key, "GET", "/v1/memories")).body.results[0].id;
        assert.equal((await as(t.key, "DELETE", `/v1/memories/${id}`)).status, 200);
        const ops = await metric(t.key, "memory_operations");
        assert.deepEqual([ops.used, ops.limit, ops.percent], [3, 3, 100]);
        assert.equal((await metric(t.key, "active_memories")).used, 2);
      });

      test("the active-memories quota refuses a whole batch that would pass it: nothing is written", async () => {
        const t = await provision({ plan: "developer", overrides: { active_memories: 3 } });
        const batch = await as(t.key, "POST", "/v1/memories/batch", {
          memories: ["a", "b", "c", "d"].map((text) => ({ text })),
        });
        assertProblem(batch, 402, "quota_exceeded");
        assert.equal(batch.body.metric, "active_memories");
        assert.equal((await as(t.key, "GET", "/v1/memories")).body.results.length, 0);
        const usage = await metric(t.key, "memory_operations");
        assert.equal(usage.used, 0, "a refused write is not metered");
        const ok = await as(t.key, "POST", "/v1/memories/batch", {
          memories: ["a", "b", "c"].map((text) => ({ text })),
        });
        assert.equal(ok.status, 201);
        assert.equal((await metric(t.key, "active_memories")).used, 3);
      });

      test("fifty concurrent writers at the edge never push usage past the limit", async () => {
        const t = await provision({ plan: "developer", overrides: { memory_operations: 20 } });
        const replies = await Promise.all(
          Array.from({ length: 50 }, (_, i) => add(t.key, `concurrent fact ${i}`)),
        );
        const statuses = replies.map((r) => r.status);
        assert.equal(statuses.filter((s) => s === 201).length, 20, JSON.stringify(statuses));
        assert.equal(statuses.filter((s) => s === 402).length, 30);
        assert.equal((await metric(t.key, "memory_operations")).used, 20);
        const listed = await as(t.key, "GET", "/v1/memories?limit=100");
        assert.equal(listed.body.results.length, 20);
      });

      test("storage counts text, metadata and vector bytes, and goes back down on delete", async () => {
        const t = await provision();
        const r = await as(t.key, "POST", "/v1/memories", {
          text: "Twelve bytes",
          metadata: { k: 1 },
        });
        const stored = (await metric(t.key, "storage_bytes")).used;
        // text + jsonb text '{"k": 1}' + 512 dimensions × 4 bytes
        assert.equal(stored, 12 + 8 + 512 * 4);
        await as(t.key, "PATCH", `/v1/memories/${r.body.results[0].id}`, {
          text: "Now 14 bytes!!",
        });
        assert.equal((await metric(t.key, "storage_bytes")).used, 14 + 8 + 512 * 4);
        await as(t.key, "DELETE", `/v1/memories/${r.body.results[0].id}`);
        assert.equal((await metric(t.key, "storage_bytes")).used, 0);
      });

      test("uploaded documents count as storage: within the limit, refused past it with nothing stored, freed on delete", async () => {
        const t = await provision({ plan: "developer", overrides: { storage_bytes: 1000 } });
        const doc = (text: string) =>
          as(t.key, "POST", "/v1/documents", {
            filename: "notes.txt",
            media_type: "text/plain",
            text,
          });
        const first = await doc("x".repeat(600));
        assert.equal(first.status, 202, JSON.stringify(first.body));
        assert.equal((await metric(t.key, "storage_bytes")).used, 600);
        const refused = await doc("y".repeat(500));
        assertProblem(refused, 402, "quota_exceeded");
        assert.equal(refused.body.metric, "storage_bytes");
        assert.equal(refused.body.used, 600);
        assert.equal((await as(t.key, "GET", "/v1/documents")).body.results.length, 1);
        assert.equal(
          (await as(t.key, "DELETE", `/v1/documents/${first.body.document_id}`)).status,
          200,
        );
        assert.equal((await metric(t.key, "storage_bytes")).used, 0);
        assert.equal((await doc("y".repeat(500))).status, 202);
      });

      test("indexed chunk text and vectors count as storage: counted when written, a document whose chunks would pass the quota fails naming it, freed on delete", async () => {
        const t = await provision({ plan: "developer", overrides: { storage_bytes: 20_000 } });
        const upload = async (text: string) => {
          const r = await as(t.key, "POST", "/v1/documents", {
            filename: "notes.txt",
            media_type: "text/plain",
            text,
          });
          assert.equal(r.status, 202, JSON.stringify(r.body));
          for (let i = 0; i < 600; i++) {
            const job = await as(t.key, "GET", `/v1/jobs/${r.body.job_id}`);
            if (!["queued", "active"].includes(job.body.state)) return { ...r.body, job: job.body };
            await new Promise((done) => setTimeout(done, 100));
          }
          assert.fail("the job did not finish");
        };
        // One paragraph, one chunk: its text again, plus a 512-d vector of 4-byte floats.
        const small = "Green tea is nice. ".repeat(10).trim();
        const a = await upload(small);
        assert.equal(a.job.state, "completed", JSON.stringify(a.job));
        const indexed = small.length + small.length + 512 * 4;
        assert.equal((await metric(t.key, "storage_bytes")).used, indexed);
        // 6 KB of upload fits (about 8.5 KB in all), but its chunks and vectors would not.
        const b = await upload("Oolong and sencha differ in oxidation. ".repeat(150).trim());
        assert.equal(b.job.state, "failed", JSON.stringify(b.job));
        assert.match(b.job.error, /storage quota.*storage_bytes quota \(20000\)/);
        const bytes = Buffer.byteLength(
          "Oolong and sencha differ in oxidation. ".repeat(150).trim(),
        );
        assert.equal((await metric(t.key, "storage_bytes")).used, indexed + bytes);
        const docB = await as(t.key, "GET", `/v1/documents/${b.document_id}`);
        assert.equal(docB.body.chunk_count, 0);
        await as(t.key, "DELETE", `/v1/documents/${a.document_id}`);
        assert.equal((await metric(t.key, "storage_bytes")).used, bytes);
        await as(t.key, "DELETE", `/v1/documents/${b.document_id}`);
        assert.equal((await metric(t.key, "storage_bytes")).used, 0);
      });

      test("metering is idempotent: a retried request with its Idempotency-Key is counted once; NOOPs are free", async () => {
        const t = await provision({ plan: "starter" });
        const headers = { "idempotency-key": "retry-me" };
        assert.equal((await add(t.key, "counted once", headers)).status, 201);
        assert.equal((await add(t.key, "counted once", headers)).status, 201);
        assert.equal((await add(t.key, "counted once")).body.results[0].event, "NOOP");
        assert.equal((await metric(t.key, "memory_operations")).used, 1);
        const history = await as(t.key, "GET", "/v1/usage/history");
        assert.equal(history.body.results.length, 1);
        assert.equal(history.body.results[0].memory_operations, 1);
        assert.equal(history.body.next_cursor, null);
        for (const bad of ["bad", Buffer.from("2024-13-01").toString("base64url")]) {
          assertProblem(
            await as(t.key, "GET", `/v1/usage/history?cursor=${bad}`),
            400,
            "validation_failed",
            "cursor",
          );
        }
      });
    });
  },
  // The API process consumes the ingestion queue itself, so documents get indexed.
  { ENGRAM_INGEST_IN_PROCESS: "on" },
);
