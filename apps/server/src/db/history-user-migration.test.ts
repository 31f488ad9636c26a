import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { newId } from "../lib/ids.ts";
import { migrationBackends } from "../testing/test-databases.ts";

// Migration 0017 on a database with history from before it: rows of memories that still exist
// learn their memory's user, so erasing that user finds them; rows whose memory was deleted before
// cannot be attributed and keep a null user. Run as PGlite's superuser and as a PostgreSQL owner
// that is no superuser (FORCE RLS would hide every row from its backfill).

describe("migration 0017 names the user of existing history rows", () => {
  for (const backend of migrationBackends) {
    test(backend.name, async () => {
      const { db, applyBefore, applyFrom, close } = await backend.open();
      try {
        await applyBefore("0017");
        const t = newId("ten");
        const p = newId("prj");
        await db.withTenant(t, async (tx) => {
          await tx.query("INSERT INTO tenants (id, name) VALUES ($1, 't')", [t]);
          await tx.query(
            "INSERT INTO projects (id, tenant_id, name, is_default) VALUES ($1, $2, 'default', true)",
            [p, t],
          );
          await tx.query(
            `INSERT INTO memories (id, tenant_id, project_id, user_id, memory, content_hash,
               embedding, embedding_model, embedding_dim)
             VALUES ('mem_a', $1, $2, 'alice', 'kept', sha256('kept'::bytea), '[1,0,0,0]', 'test-model-4', 4),
                    ('mem_n', $1, $2, NULL, 'no user', sha256('n'::bytea), '[1,0,0,0]', 'test-model-4', 4)`,
            [t, p],
          );
          await tx.query(
            `INSERT INTO memory_history (id, tenant_id, project_id, memory_id, event, new_memory)
             VALUES ('hist_1', $1, $2, 'mem_a', 'ADD', 'kept'),
                    ('hist_2', $1, $2, 'mem_gone', 'ADD', 'deleted before 0017'),
                    ('hist_3', $1, $2, 'mem_n', 'ADD', 'no user')`,
            [t, p],
          );
        });

        await applyFrom("0017");

        const history = await db.withTenant(t, (tx) =>
          tx.query<{ id: string; user_id: string | null }>(
            "SELECT id, user_id FROM memory_history ORDER BY id",
          ),
        );
        assert.deepEqual(history, [
          { id: "hist_1", user_id: "alice" },
          { id: "hist_2", user_id: null },
          { id: "hist_3", user_id: null },
        ]);
      } finally {
        await close();
      }
    });
  }
});
