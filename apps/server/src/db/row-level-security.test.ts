import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createDocumentStore } from "../knowledge/document-store.ts";
import { createIngestJobStore } from "../knowledge/ingest-job-store.ts";
import { newId } from "../lib/ids.ts";
import { createMemoryStore } from "../memories/memory-store.ts";
import { vectorScanSettings } from "../search/vector-scan.ts";
import { createKeyStore } from "../tenancy/key-store.ts";
import {
  axis,
  draftMemory,
  projectOf,
  seedTenant,
  TEST_MODEL,
  testDatabases,
} from "../testing/test-databases.ts";
import type { Database, Queryable } from "./database.ts";

const TENANT_TABLES = [
  "tenants",
  "api_keys",
  "memories",
  "memory_history",
  "idempotency_keys",
  "memory_terms",
  "memory_term_stats",
  "documents",
  "document_contents",
  "ingest_jobs",
  "knowledge_chunks",
  "llm_calls",
  "project_categories",
  "memory_events",
  "erasure_salts",
  "user_erasures",
  "entities",
  "entity_names",
  "memory_entities",
  "chunk_entities",
  "entity_relations",
];

// Row-level security on its own, with the application's tenant filters bypassed: raw SQL as the
// application role, with and without a tenant context.
for (const backend of testDatabases) {
  describe(`row-level security on ${backend.name}`, () => {
    let db: Database;
    let a: string;
    let b: string;
    const docs: Record<string, { id: string; jobId: string }> = {};

    before(async () => {
      db = await backend.open();
      a = await seedTenant(db, "a");
      b = await seedTenant(db, "b");
      const store = createMemoryStore(db, TEST_MODEL);
      const documents = createDocumentStore(db);
      for (const t of [a, b]) {
        await store.insertMemories(t, projectOf(t), [
          draftMemory(`memory of ${t}`, axis(0), {
            userId: "same-user",
            entities: {
              entities: [
                { type: "person", name: "Same Name", aliases: [] },
                { type: "place", name: "Same Place", aliases: ["Same"] },
              ],
              relations: [{ subject: 0, predicate: "lives_in", object: 1 }],
            },
          }),
        ]);
        docs[t] = { id: newId("doc"), jobId: newId("job") };
        await documents.insertDocument(
          t,
          {
            ...(docs[t] as { id: string; jobId: string }),
            projectId: projectOf(t),
            userId: "same-user",
            agentId: null,
            sessionId: null,
            collection: null,
            filename: "same.md",
            mediaType: "text/markdown",
            metadata: {},
            content: Buffer.from("# same"),
            sha256: createHash("sha256").update("# same").digest(),
          },
          async () => "queue-job",
        );
      }
    });
    after(() => db.close());

    test("every tenant table has row-level security enabled and forced", async () => {
      const rows = await db.asOwner((tx) =>
        tx.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>(
          "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY($1)",
          [TENANT_TABLES],
        ),
      );
      assert.equal(rows.length, TENANT_TABLES.length);
      for (const r of rows) assert.ok(r.relrowsecurity && r.relforcerowsecurity, r.relname);
    });

    test("the application role is not a superuser and cannot bypass RLS", async () => {
      const [role] = await db.withoutTenant((tx) =>
        tx.query<{ current_user: string; rolsuper: boolean; rolbypassrls: boolean }>(
          "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        ),
      );
      assert.deepEqual(role, { current_user: "engram_app", rolsuper: false, rolbypassrls: false });
    });

    test("without a tenant context, raw SQL sees no rows in any tenant table", async () => {
      for (const table of TENANT_TABLES) {
        const [row] = await db.withoutTenant((tx) =>
          tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`),
        );
        assert.equal(row?.n, 0, table);
      }
    });

    test("with tenant A's context, raw SQL without a tenant filter sees only A's rows", async () => {
      const rows = await db.withTenant(a, (tx) =>
        tx.query<{ tenant_id: string }>(
          "SELECT tenant_id FROM memories WHERE user_id = 'same-user'",
        ),
      );
      assert.deepEqual(
        rows.map((r) => r.tenant_id),
        [a],
      );
      const history = await db.withTenant(a, (tx) =>
        tx.query<{ tenant_id: string }>("SELECT DISTINCT tenant_id FROM memory_history"),
      );
      assert.deepEqual(
        history.map((r) => r.tenant_id),
        [a],
      );
    });

    test("entities: with tenant A's context, raw SQL sees only A's entities, links and relations", async () => {
      for (const table of ["entities", "entity_names", "memory_entities", "entity_relations"]) {
        const rows = await db.withTenant(a, (tx) =>
          tx.query<{ tenant_id: string }>(`SELECT DISTINCT tenant_id FROM ${table}`),
        );
        assert.deepEqual(
          rows.map((r) => r.tenant_id),
          [a],
          table,
        );
      }
      const [named] = await db.withTenant(a, (tx) =>
        tx.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM entities WHERE normalized = 'same name'",
        ),
      );
      assert.equal(named?.n, 1, "B's entity of the same name and user is not visible");
    });

    test("knowledge reads and writes of the store go by project: another project's document is not found", async () => {
      const documents = createDocumentStore(db);
      const jobs = createIngestJobStore(db, TEST_MODEL, 3);
      const doc = docs[a] as { id: string; jobId: string };
      const elsewhere = newId("prj");
      assert.equal(
        (await documents.getDocument(a, projectOf(a), doc.id))?.project_id,
        projectOf(a),
      );
      assert.equal(await documents.getDocument(a, elsewhere, doc.id), undefined);
      assert.equal(await jobs.getJob(a, elsewhere, doc.jobId), undefined);
      assert.equal((await jobs.getJob(a, null, doc.jobId))?.id, doc.jobId, "the worker's lookup");
      assert.deepEqual((await documents.listDocuments(a, elsewhere, {}, 10, undefined)).rows, []);
      assert.deepEqual((await jobs.listJobs(a, elsewhere, undefined, 10)).rows, []);
      assert.equal(await jobs.retryJob(a, elsewhere, doc.jobId, async () => "q"), false);
      assert.equal(await documents.deleteDocument(a, elsewhere, doc.id), undefined);
      // Nor across tenants, with the right project id: B's store calls see none of A's rows.
      assert.equal(await documents.getDocument(b, projectOf(a), doc.id), undefined);
      assert.ok(await documents.getDocument(a, projectOf(a), doc.id), "untouched");
    });

    test("writes into another tenant are refused by the policy", async () => {
      await assert.rejects(
        db.withTenant(a, (tx) =>
          tx.query("UPDATE tenants SET name = 'x' WHERE id = $1 RETURNING id", [b]).then((r) => {
            if (r.length === 0) throw new Error("row-level security hid the row");
          }),
        ),
        /row-level security hid the row/,
      );
      await assert.rejects(
        db.withTenant(a, (tx) =>
          tx.query("INSERT INTO tenants (id, name) VALUES ($1, 'forged')", [newId("ten")]),
        ),
        /row-level security/,
      );
    });

    test("history is append-only for the application role", async () => {
      await assert.rejects(
        db.withTenant(a, (tx) => tx.query("UPDATE memory_history SET new_memory = 'x'")),
        /permission denied/,
      );
      await assert.rejects(
        db.withTenant(a, (tx) => tx.query("DELETE FROM memory_history")),
        /permission denied/,
      );
    });

    test("history and audit rows of a user go only through the definer functions, in the caller's tenant", async () => {
      const store = createMemoryStore(db, TEST_MODEL);
      for (const t of [a, b]) {
        const [m] = (
          await store.insertMemories(t, projectOf(t), [
            draftMemory(`to erase in ${t}`, axis(1), { userId: "erased-user" }),
          ])
        ).results;
        // A deleted memory's history still names its user.
        await store.deleteMemories(t, projectOf(t), { id: m?.id as string });
        await db.withTenant(t, (tx) =>
          tx.query(
            `INSERT INTO audit_events (id, tenant_id, actor, action, details)
             VALUES ($1, $2, 'admin', 'memories.bulk_delete', $3)`,
            [newId("aud"), t, JSON.stringify({ user_id: "erased-user", project_id: projectOf(t) })],
          ),
        );
      }
      const historyOf = (t: string) =>
        db.withTenant(t, (tx) =>
          tx.query<{ event: string }>(
            "SELECT event FROM memory_history WHERE user_id = 'erased-user' ORDER BY id",
          ),
        );
      assert.deepEqual(
        (await historyOf(a)).map((h) => h.event),
        ["ADD", "DELETE"],
      );
      // A's context with B's project: nothing; with its own project: its two rows only.
      const erase = (project: string) =>
        db.withTenant(a, (tx) =>
          tx.query<{ n: number }>(
            "SELECT engram_erase_user_history($1, 'erased-user') AS n, engram_redact_user_audit($1, 'erased-user', 'ers_x') AS r",
            [project],
          ),
        );
      assert.deepEqual(await erase(projectOf(b)), [{ n: 0, r: 0 }]);
      assert.deepEqual(await erase(projectOf(a)), [{ n: 2, r: 1 }]);
      assert.deepEqual(await historyOf(a), []);
      assert.equal((await historyOf(b)).length, 2);
      const details = (t: string) =>
        db.withTenant(t, (tx) =>
          tx.query<{ details: Record<string, unknown> }>(
            "SELECT details FROM audit_events WHERE action = 'memories.bulk_delete'",
          ),
        );
      assert.deepEqual(await details(a), [
        { details: { user_id: null, erasure_id: "ers_x", project_id: projectOf(a) } },
      ]);
      assert.equal((await details(b))[0]?.details.user_id, "erased-user");
      // Without a tenant context they touch nothing.
      const [none] = await db.withoutTenant((tx) =>
        tx.query<{ n: number }>("SELECT engram_erase_user_history($1, 'erased-user') AS n", [
          projectOf(b),
        ]),
      );
      assert.equal(none?.n, 0);
    });

    test("the tenant context is transaction-local: B's transaction after A's carries no trace of A", async () => {
      await db.withTenant(a, (tx) => tx.query("SELECT 1"));
      const [ctx] = await db.withTenant(b, (tx) =>
        tx.query<{ t: string }>("SELECT current_setting('app.tenant_id', true) AS t"),
      );
      assert.equal(ctx?.t, b);
      const [none] = await db.withoutTenant((tx) =>
        tx.query<{ t: string | null; u: string }>(
          "SELECT nullif(current_setting('app.tenant_id', true), '') AS t, current_user AS u",
        ),
      );
      assert.equal(none?.t, null);
      const [owner] = await db.asOwner((tx) => tx.query<{ u: string }>("SELECT current_user AS u"));
      assert.notEqual(owner?.u, "engram_app");
    });

    test("transaction settings go with the tenant context, last only that transaction and cannot replace the tenant", async () => {
      const read = (tx: Queryable) =>
        tx.query<{ ef: string; scan: string; t: string; u: string }>(
          `SELECT current_setting('hnsw.ef_search') AS ef,
                  current_setting('hnsw.iterative_scan') AS scan,
                  current_setting('app.tenant_id', true) AS t, current_user AS u`,
        );
      const [set] = await db.withTenant(a, read, {
        ...vectorScanSettings(120),
        "app.tenant_id": b,
      });
      assert.deepEqual(set, { ef: "120", scan: "relaxed_order", t: a, u: "engram_app" });
      const [next] = await db.withTenant(a, read);
      assert.deepEqual(next, { ef: "40", scan: "off", t: a, u: "engram_app" });
    });

    test("read transactions: the tenant's rows only, and no write", async () => {
      const seen = await db.readTenant(a, (tx) =>
        tx.query<{ tenant_id: string }>("SELECT DISTINCT tenant_id FROM memories"),
      );
      assert.deepEqual(
        seen.map((r) => r.tenant_id),
        [a],
      );
      await assert.rejects(
        db.readTenant(a, (tx) => tx.query("DELETE FROM memories WHERE tenant_id = $1", [a])),
        /read-only transaction/,
      );
      const [left] = await db.withTenant(a, (tx) =>
        tx.query<{ n: number }>("SELECT count(*)::int AS n FROM memories"),
      );
      assert.equal(left?.n, 1);
    });

    test("the application role owns no table and cannot alter, drop, truncate or unprotect one", async () => {
      const [owned] = await db.withoutTenant((tx) =>
        tx.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_class WHERE pg_has_role(current_user, relowner, 'MEMBER')",
        ),
      );
      assert.equal(owned?.n, 0);
      for (const table of TENANT_TABLES) {
        for (const [sql, refusal] of [
          [`ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY`, /must be owner/],
          [`ALTER TABLE ${table} NO FORCE ROW LEVEL SECURITY`, /must be owner/],
          [`DROP POLICY tenant_isolation ON ${table}`, /must be owner/],
          [`ALTER TABLE ${table} ADD COLUMN extra int`, /must be owner/],
          [`DROP TABLE ${table}`, /must be owner/],
          [`TRUNCATE ${table}`, /permission denied/],
          // Turning row security off makes a protected query fail instead of bypassing policies.
          [`SET LOCAL row_security = off; SELECT * FROM ${table}`, /row-level security/],
        ] as const) {
          await assert.rejects(
            db.withTenant(a, (tx) => tx.exec(sql)),
            refusal,
            sql,
          );
        }
      }
      await assert.rejects(
        db.withoutTenant((tx) => tx.exec("CREATE TABLE escape_hatch (x int)")),
        /permission denied/,
      );
    });

    test("only the definer function's owner may read keys without a tenant context", async () => {
      const [definer] = await db.asOwner((tx) =>
        tx.query<{ owner: string }>(
          "SELECT pg_get_userbyid(proowner) AS owner FROM pg_proc WHERE oid = 'engram_authenticate(bytea)'::regprocedure",
        ),
      );
      const policies = await db.asOwner((tx) =>
        tx.query<{ policyname: string; roles: string[] }>(
          "SELECT policyname, roles::text[] AS roles FROM pg_policies WHERE tablename = 'api_keys' ORDER BY policyname",
        ),
      );
      assert.deepEqual(policies, [
        { policyname: "definer_reads_keys", roles: [definer?.owner] },
        { policyname: "tenant_isolation", roles: ["public"] },
      ]);
      const [app] = await db.withoutTenant((tx) =>
        tx.query<{ member: boolean }>("SELECT pg_has_role(current_user, $1, 'MEMBER') AS member", [
          definer?.owner,
        ]),
      );
      assert.equal(app?.member, false);
    });

    test("key authentication crosses tenants only through the definer function", async () => {
      const hash = createHash("sha256").update("egm_rls_test_key").digest();
      await createKeyStore(db).insertKey(
        a,
        {
          id: newId("key"),
          name: null,
          prefix: "egm_rls_test",
          hash,
          projectId: projectOf(a),
          scopes: ["memories:read"],
          expiresAt: null,
        },
        null,
        { actor: "admin", action: "key.create" },
      );
      const [visible] = await db.withoutTenant((tx) =>
        tx.query<{ n: number }>("SELECT count(*)::int AS n FROM api_keys"),
      );
      assert.equal(visible?.n, 0);
      const found = await db.withoutTenant((tx) =>
        tx.query<{ tenant_id: string }>("SELECT tenant_id FROM engram_authenticate($1)", [hash]),
      );
      assert.deepEqual(
        found.map((r) => r.tenant_id),
        [a],
      );
      const none = await db.withoutTenant((tx) =>
        tx.query("SELECT * FROM engram_authenticate($1)", [Buffer.alloc(32)]),
      );
      assert.equal(none.length, 0);
    });
  });
}
