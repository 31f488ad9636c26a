import assert from "node:assert/strict";
import { test } from "node:test";
import type { EngramClient } from "@engram/sdk";
import { describeOnBackends, expectProblem, type Tenant, tenant } from "../testing/route-suite.ts";

// Sessions and metadata filters in knowledge search (ADR 0030), on both backends: a chunk of a
// session matches only that session (chunks of no session are shared, as for users), filters
// match the document's metadata, and memory search with include: ["knowledge"] passes both on
// (it used to search the project's chunks with neither).

const ENV = { ENGRAM_INGEST_IN_PROCESS: "on", ENGRAM_INGEST_POLL_INTERVAL_MS: "500" };

async function ingest(
  c: EngramClient,
  body: Parameters<EngramClient["knowledge"]["createDocument"]>[0],
) {
  const { document_id, job_id } = await c.knowledge.createDocument(body);
  const job = await c.knowledge.waitForJob(job_id, { timeoutMs: 60_000 });
  assert.equal(job.state, "completed", JSON.stringify(job));
  return document_id;
}

const files = (hits: readonly { citation: { filename: string } }[] | undefined) =>
  [...new Set((hits ?? []).map((h) => h.citation.filename))].sort();

/** Three documents on gate codes: one per session and one shared, each with its language. */
async function seed(t: Tenant) {
  const c = t.client;
  await Promise.all([
    ingest(c, {
      filename: "s1.md",
      text: "The gate code for the first session is 1111.",
      session_id: "s1",
      metadata: { lang: "en", tier: 1 },
    }),
    ingest(c, {
      filename: "s2.md",
      text: "The gate code for the second session is 2222.",
      session_id: "s2",
      metadata: { lang: "de", tier: 2 },
    }),
    ingest(c, {
      filename: "shared.md",
      text: "Gate codes change at the start of every month.",
      metadata: { lang: "en", tier: 3 },
    }),
  ]);
  await c.addMemory({ text: "The visitor forgot the gate code", session_id: "s1" });
}

const query = { query: "gate code", mode: "vector" as const, limit: 20 };

describeOnBackends(
  "knowledge search by session and metadata",
  () => {
    test("a session_id finds that session's chunks and the shared ones, in both searches", async () => {
      const t = await tenant();
      await seed(t);
      const c = t.client;
      assert.deepEqual(files((await c.knowledge.searchKnowledge(query)).results), [
        "s1.md",
        "s2.md",
        "shared.md",
      ]);
      assert.deepEqual(
        files((await c.knowledge.searchKnowledge({ ...query, session_id: "s1" })).results),
        ["s1.md", "shared.md"],
      );
      const both = await c.searchMemories({ ...query, session_id: "s1", include: ["knowledge"] });
      assert.equal(both.results.length, 1);
      assert.deepEqual(files(both.knowledge), ["s1.md", "shared.md"]);
      const other = await c.searchMemories({ ...query, session_id: "s3", include: ["knowledge"] });
      assert.deepEqual([other.results, files(other.knowledge)], [[], ["shared.md"]]);
      // Documents carry their session; listing by session stays exact.
      const listed = await c.knowledge.listDocuments({ session_id: "s1" });
      assert.deepEqual(
        listed.results.map((d) => [d.filename, d.session_id]),
        [["s1.md", "s1"]],
      );
      // A multipart upload takes the field too.
      const up = await c.knowledge.uploadDocument(
        { bytes: new TextEncoder().encode("Parking is free."), filename: "p.txt" },
        { session_id: "s9" },
      );
      assert.equal((await c.knowledge.getDocument(up.document_id)).session_id, "s9");
    });

    test("filters match the document's metadata, in both searches", async () => {
      const t = await tenant();
      await seed(t);
      const c = t.client;
      const kb = (filters: Record<string, unknown>, session_id?: string) =>
        c.knowledge
          .searchKnowledge({ ...query, filters, ...(session_id ? { session_id } : {}) })
          .then((r) => files(r.results));
      assert.deepEqual(await kb({ lang: "en" }), ["s1.md", "shared.md"]);
      assert.deepEqual(await kb({ tier: { gte: 2 } }), ["s2.md", "shared.md"]);
      assert.deepEqual(await kb({ not: { lang: "en" } }), ["s2.md"]);
      assert.deepEqual(await kb({ lang: "en" }, "s2"), ["shared.md"]);
      assert.deepEqual(await kb({ lang: "fr" }), []);
      // Memory search: the filter narrows memories and documents alike.
      const de = await c.searchMemories({
        ...query,
        filters: { lang: "de" },
        include: ["knowledge"],
      });
      assert.deepEqual([de.results, files(de.knowledge)], [[], ["s2.md"]]);
      const both = await c.searchMemories({
        ...query,
        session_id: "s2",
        filters: { tier: { lte: 2 } },
        include: ["knowledge"],
      });
      assert.deepEqual(files(both.knowledge), ["s2.md"]);
    });

    test("a malformed filter is a 400 naming its bad part, in both searches", async () => {
      const t = await tenant();
      const bad = { lang: { between: ["a", "b"] } };
      await expectProblem(
        t.client.knowledge.searchKnowledge({ query: "x", filters: bad }),
        400,
        "invalid_filter",
        "filters.lang.between",
      );
      await expectProblem(
        t.client.searchMemories({ query: "x", filters: bad, include: ["knowledge"] }),
        400,
        "invalid_filter",
        "filters.lang.between",
      );
      await expectProblem(
        t.client.knowledge.searchKnowledge({ query: "x", session_id: "" }),
        400,
        "validation_failed",
        "session_id",
      );
    });
  },
  ENV,
);
