import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { test } from "node:test";
import { EngramClient, type Scope } from "@engram/sdk";
import type { Queryable } from "../db/database.ts";
import { describeOnBackends } from "../testing/backend-suite.ts";
import { assertProblem } from "../testing/http.ts";
import { expectProblem, isIso } from "../testing/route-suite.ts";

// Erasure of an end user (ADR 0030) through the real server on both backends. The central check
// reads the database past row-level security (PGlite's superuser, PostgreSQL's local superuser):
// after the erasure no row of any table, in any schema, holds the user's id within the tenant or
// a word only the user's content had.

const ENV = {
  ENGRAM_INGEST_IN_PROCESS: "on",
  ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
  ENGRAM_CHUNK_MAX_TOKENS: "32",
  ENGRAM_CHUNK_OVERLAP_TOKENS: "4",
};

/** A word no other test writes: found anywhere after the erasure, it is the user's content left. */
const nonceWord = () => `quokka${randomBytes(6).toString("hex")}`;

/** Every base table outside the system schemas, with whether it has a tenant_id column. */
async function allTables(tx: Queryable) {
  return tx.query<{ name: string; tenant: boolean }>(
    `SELECT format('%I.%I', t.table_schema, t.table_name) AS name,
            EXISTS (SELECT 1 FROM information_schema.columns c
                    WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name
                      AND c.column_name = 'tenant_id') AS tenant
     FROM information_schema.tables t
     WHERE t.table_type = 'BASE TABLE'
       AND t.table_schema NOT IN ('pg_catalog', 'information_schema')`,
  );
}

/** The tables with a row whose text holds `needle` (in `tenantId`'s rows, where rows have one). */
async function tablesMentioning(tx: Queryable, needle: string, tenantId?: string) {
  const found: string[] = [];
  for (const { name, tenant } of await allTables(tx)) {
    const byTenant = tenantId !== undefined && tenant;
    const [row] = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${name} r
       WHERE strpos(r::text, $1) > 0 ${byTenant ? "AND r.tenant_id = $2" : ""}`,
      byTenant ? [needle, tenantId] : [needle],
    );
    if ((row?.n ?? 0) > 0) found.push(name);
  }
  return found;
}

describeOnBackends(
  "erasure of an end user",
  (suite) => {
    const tenant = (scopes?: Scope[]) => suite.srv.newTenant(scopes);
    const keyWith = async (tenantId: string, scopes: Scope[]) =>
      new EngramClient({
        baseUrl: suite.srv.url,
        token: (await suite.srv.admin.createKey(tenantId, { scopes })).key,
      });

    /** A document for `userId`, ingested; its id and chunk count. */
    async function ingest(
      client: EngramClient,
      body: { text: string; user_id?: string },
      idempotencyKey?: string,
    ) {
      const { document_id, job_id } = await client.knowledge.createDocument(
        { filename: "notes.md", ...body },
        idempotencyKey ? { idempotencyKey } : {},
      );
      const job = await client.knowledge.waitForJob(job_id, { timeoutMs: 60_000 });
      assert.equal(job.state, "completed", JSON.stringify(job));
      const doc = await client.knowledge.getDocument(document_id);
      assert.ok(doc.chunk_count > 0);
      return doc;
    }

    test("removes every row of the user in one go, past row-level security; the receipt counts them", async () => {
      const t = await tenant();
      const other = await tenant();
      const user = `erase-me-${randomUUID()}`;
      const word = nonceWord();
      const c = t.client;

      // Verbatim memories (one with an Idempotency-Key, one updated, one in a session that a bulk
      // delete then removes, leaving its history behind), an inferred one (history with sources),
      // asynchronous adds (events holding the request), and a document.
      const first = await c.addMemory(
        { text: `The locker code is ${word} 4711`, user_id: user },
        { idempotencyKey: `k-${word}` },
      );
      const kept = first.results[0]?.id as string;
      const second = await c.addMemory({ text: `Favourite snack: ${word} crisps`, user_id: user });
      await c.updateMemory(second.results[0]?.id as string, {
        text: `Favourite snack: ${word} nuts`,
      });
      const inSession = await c.addMemory({
        text: `Session note ${word}`,
        user_id: user,
        session_id: "s1",
      });
      assert.equal((await c.deleteMemories({ user_id: user, session_id: "s1" })).deleted, 1);
      const inferred = await c.addMemory({
        messages: [{ role: "user", content: `I adopted a cat called ${word} last week.` }],
        user_id: user,
        infer: true,
      });
      assert.ok(
        inferred.results.some((r) => r.event === "ADD"),
        JSON.stringify(inferred),
      );
      // A named speaker's move: entities (Zed, Lisbon, the month) and a lives_in relation.
      await c.addMemory({
        messages: [{ role: "user", name: "Zed", content: "I moved to Lisbon last month." }],
        user_id: user,
        infer: true,
      });
      const single = await c.addMemoryAsync({ text: `Async fact ${word}`, user_id: user });
      const batch = await c.batchAddMemories({
        memories: [
          { text: `Batch fact one ${word}`, user_id: user },
          { text: `Batch fact two ${word}`, user_id: user },
        ],
        async: true,
      });
      for (const e of [single.event_id, batch.event_id]) {
        assert.equal((await c.waitForEvent(e, { timeoutMs: 60_000 })).status, "succeeded");
      }
      const doc = await ingest(
        c,
        { text: `# Notes\n\nThe ${word} plan for the user.`, user_id: user },
        `d-${word}`,
      );
      await c.getMemory(kept); // now in the hot-memory cache

      // Someone else in the project, and the same user id in another tenant: both stay.
      await c.addMemory({ text: "Keep me: tea with lemon", user_id: "keep-me" });
      const keptDoc = await ingest(c, { text: "# Kept\n\nShared handbook.", user_id: "keep-me" });
      await other.client.addMemory({ text: "Other tenant's memory", user_id: user });
      await ingest(other.client, { text: "# Other\n\nOther tenant's notes.", user_id: user });

      // What the receipt must count, read through the API beforehand.
      const listed = await c.listMemories({ user_id: user, include_superseded: true, limit: 100 });
      const memoryIds = new Set([
        ...listed.results.map((m) => m.id),
        inSession.results[0]?.id as string,
      ]);
      let history = 0;
      for (const id of memoryIds) history += (await c.getMemoryHistory(id)).results.length;

      const receipt = await c.eraseUser(user);
      assert.match(receipt.id, /^ers_[0-9A-HJKMNP-TV-Z]{26}$/);
      assert.equal(receipt.user_id, user);
      assert.equal(receipt.project_id, t.projectId);
      assert.ok(isIso(receipt.deleted_at));
      const { removed } = receipt;
      assert.ok((removed.memory_terms ?? 0) > 0);
      // Entities, their names, links and the relation, each counted (not cascaded unseen).
      for (const table of ["entities", "entity_names", "memory_entities", "entity_relations"]) {
        assert.ok((removed[table] ?? 0) > 0, `${table}: ${JSON.stringify(removed)}`);
      }
      assert.deepEqual(removed, {
        ...removed,
        memories: listed.results.length,
        memory_history: history,
        memory_events: 2,
        // The two client keys and the worker's key of each asynchronous add.
        idempotency_keys: 4,
        documents: 1,
        ingest_jobs: 1,
        knowledge_chunks: doc.chunk_count,
        document_contents: 0,
        audit_events: 1,
      });

      // Through the API: nothing of the user, not even from the cache.
      await expectProblem(c.getMemory(kept), 404, "not_found");
      await expectProblem(c.getMemoryHistory(kept), 404, "not_found");
      await expectProblem(c.getEvent(single.event_id), 404, "not_found");
      await expectProblem(c.knowledge.getDocument(doc.id), 404, "not_found");
      assert.deepEqual((await c.listMemories({ user_id: user })).results, []);
      const found = await c.searchMemories({ query: word, user_id: user, include: ["knowledge"] });
      assert.deepEqual([found.results, found.knowledge], [[], []]);
      // The other user and the other tenant are untouched.
      assert.equal((await c.listMemories({ user_id: "keep-me" })).results.length, 1);
      assert.equal((await c.knowledge.getDocument(keptDoc.id)).status, "ready");
      assert.equal((await other.client.listMemories({ user_id: user })).results.length, 1);
      assert.equal(
        (await other.client.knowledge.listDocuments({ user_id: user })).results.length,
        1,
      );
      // The audit log keeps the bulk delete, without the user, pointing at the erasure.
      const audit = (await c.listAudit()).results;
      const bulk = audit.find((a) => a.action === "memories.bulk_delete");
      assert.equal(bulk?.details.user_id, null);
      assert.equal(bulk?.details.erasure_id, receipt.id);
      assert.equal(audit.find((a) => a.action === "users.erase")?.target_id, receipt.id);
      // The retried Idempotency-Key is a new request now: it does not answer the erased memory.
      const retried = await c.addMemory(
        { text: `The locker code is ${word} 4711`, user_id: user },
        { idempotencyKey: `k-${word}` },
      );
      assert.notEqual(retried.results[0]?.id, kept);
      await c.deleteMemory(retried.results[0]?.id as string);
      const again = await c.eraseUser(user);

      await suite.withStoppedServer(async (db) =>
        db.asOwner(async (tx) => {
          assert.deepEqual(await tablesMentioning(tx, user, t.tenantId), []);
          assert.deepEqual(await tablesMentioning(tx, word), []);
          // The other tenant's same user id is still there, and the receipts are kept.
          assert.ok((await tablesMentioning(tx, user, other.tenantId)).includes("public.memories"));
          const [n] = await tx.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM user_erasures WHERE tenant_id = $1",
            [t.tenantId],
          );
          assert.equal(n?.n, 2);
        }),
      );
      assert.equal(again.removed.memories, 0);
      assert.equal(again.removed.memory_history, 2, "the retried memory's ADD and DELETE");
    });

    test("an unknown user gets a receipt of zeros; receipts are listed by user id and read by id", async () => {
      const t = await tenant();
      const nobody = `nobody-${randomUUID()}`;
      const first = await t.client.eraseUser(nobody);
      assert.ok(Object.keys(first.removed).length >= 10);
      assert.ok(
        Object.values(first.removed).every((n) => n === 0),
        JSON.stringify(first),
      );
      const second = await t.client.eraseUser(nobody);
      const listed = await t.client.listUserErasures(nobody);
      assert.deepEqual(
        listed.results.map((r) => [r.id, r.user_id]),
        [
          [second.id, nobody],
          [first.id, nobody],
        ],
      );
      const page = await t.client.listUserErasures(nobody, { limit: 1 });
      assert.equal(page.results[0]?.id, second.id);
      const rest = await t.client.listUserErasures(nobody, {
        cursor: page.next_cursor as string,
      });
      assert.deepEqual(
        rest.results.map((r) => r.id),
        [first.id],
      );
      assert.deepEqual((await t.client.listUserErasures("someone-else")).results, []);
      const read = await t.client.getErasure(first.id);
      assert.deepEqual(read, { ...first, user_id: null });
    });

    test("the tenant's usage gauges drop by what each erasure frees", async () => {
      const t = await tenant();
      const c = t.client;
      const gauges = async () => {
        const { metrics } = await c.getUsage();
        const used = (name: string) => metrics.find((m) => m.metric === name)?.used;
        return [used("active_memories"), used("storage_bytes")];
      };
      await c.addMemory({ text: "Gauge fact one", user_id: "g1" });
      await c.addMemory({ text: "Gauge fact two", user_id: "g1" });
      await ingest(c, { text: "# Gauge\n\nA document of g1.", user_id: "g1" });
      await c.addMemory({ text: "Gauge fact of another", user_id: "g2" });
      const [active, storage] = await gauges();
      assert.equal(active, 3);
      await c.eraseUser("g1");
      const [left, stored] = await gauges();
      assert.equal(left, 1);
      assert.ok((stored ?? 0) > 0 && (stored ?? 0) < (storage ?? 0));
      await c.eraseUser("g2");
      assert.deepEqual(await gauges(), [0, 0], "memories, chunks and bytes all counted back");
    });

    test("security: scopes, other tenants and projects, bad ids, no key", async () => {
      const t = await tenant();
      const other = await tenant();
      const receipt = await t.client.eraseUser("u1");
      // Both write scopes, whatever the user has stored; reading receipts takes memories:read.
      for (const scopes of [["memories:write"], ["knowledge:write"], ["memories:read"]] as const) {
        const c = await keyWith(t.tenantId, [...scopes]);
        await expectProblem(c.eraseUser("u1"), 403, "forbidden");
      }
      const reader = await keyWith(t.tenantId, ["memories:read"]);
      assert.equal((await reader.getErasure(receipt.id)).id, receipt.id);
      const writer = await keyWith(t.tenantId, ["knowledge:write", "knowledge:read"]);
      await expectProblem(writer.getErasure(receipt.id), 403, "forbidden");
      // Another tenant's receipt is not found; so is one of another project.
      await expectProblem(other.client.getErasure(receipt.id), 404, "not_found");
      assert.deepEqual((await other.client.listUserErasures("u1")).results, []);
      const project = await t.client.createProject({ name: "second" });
      const inProject = new EngramClient({
        baseUrl: suite.srv.url,
        token: (await suite.srv.admin.createKey(t.tenantId, { project_id: project.id })).key,
      });
      await expectProblem(inProject.getErasure(receipt.id), 404, "not_found");
      assert.deepEqual((await inProject.listUserErasures("u1")).results, []);
      for (const id of [
        "ers_nope",
        "mem_01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "ers_01ARZ3NDEKTSV4RRFFQ69G5FAV",
      ]) {
        await expectProblem(t.client.getErasure(id), 404, "not_found");
      }
      // Bad user ids name the field.
      for (const bad of ["x".repeat(129), "a\u0000b"]) {
        await expectProblem(t.client.eraseUser(bad), 400, "validation_failed", "user_id");
      }
      // Not UTF-8 (a lone surrogate's bytes): the router cannot decode the path.
      const undecodable = await suite.call("DELETE", "/v1/users/%ED%A0%80", { token: t.key });
      assertProblem(undecodable, 400, "validation_failed");
      await expectProblem(
        t.client.listUserErasures("u1", { cursor: "bad" }),
        400,
        "validation_failed",
        "cursor",
      );
      // Past what the router passes to the schemas: still a problem, never a bare 414.
      const long = `/v1/users/${"x".repeat(3000)}`;
      assertProblem(await suite.call("DELETE", long, { token: t.key }), 400, "validation_failed");
      assertProblem(await suite.call("DELETE", "/v1/users/u1"), 401, "unauthenticated");
      assertProblem(await suite.call("GET", `/v1/erasures/${receipt.id}`), 401, "unauthenticated");
    });

    test("an asynchronous add still queued when its user is erased adds nothing afterwards", async () => {
      const t = await tenant();
      const user = `queued-${randomUUID()}`;
      const word = nonceWord();
      const pending = await t.client.addMemoryAsync({ text: `Late fact ${word}`, user_id: user });
      const receipt = await t.client.eraseUser(user);
      // Later adds run after it on the queue; once one is done, the erased one has been handled.
      const later = await t.client.addMemoryAsync({ text: "A later fact", user_id: "someone" });
      assert.equal(
        (await t.client.waitForEvent(later.event_id, { timeoutMs: 60_000 })).status,
        "succeeded",
      );
      await expectProblem(t.client.getEvent(pending.event_id), 404, "not_found");
      const left = await t.client.listMemories({ user_id: user });
      assert.deepEqual(left.results, [], JSON.stringify(receipt));
    });
  },
  ENV,
);
