import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Database } from "../db/database.ts";
import { TEST_MODEL, testDatabases } from "../testing/test-databases.ts";
import { type Validity, validitySql } from "./memory-validity.ts";

// The vector side of memory search orders by distance under the per-model HNSW index; the
// validity predicate must leave that index usable (it is applied as a filter of the scan, which
// iterative scan keeps feeding). Sequential scans are disabled so a plan without the index would
// show as one that cannot use it.

for (const backend of testDatabases) {
  describe(`validity and the HNSW index on ${backend.name}`, () => {
    let db: Database;
    before(async () => {
      db = await backend.open();
    });
    after(() => db.close());

    const cases: [string, Validity][] = [
      ["current (default)", {}],
      ["as_of", { asOf: "2024-01-01T00:00:00Z" }],
      ["include_superseded", { includeSuperseded: true }],
    ];
    for (const [name, validity] of cases) {
      test(`${name}: the nearest-neighbour scan uses the index`, async () => {
        const params: unknown[] = ["ten_x", "[1,0,0,0]"];
        const where = `tenant_id = $1 AND embedding_model = '${TEST_MODEL.id}' AND user_id = 'u'${validitySql(validity, params)}`;
        const plan = await db.asOwner(async (tx) => {
          await tx.query("SET LOCAL enable_seqscan = off");
          // Literal parameters: EXPLAIN of a parameterised statement needs them bound.
          const sql =
            `EXPLAIN SELECT id, embedding::vector(4) <=> $2::vector(4) AS dist FROM memories
             WHERE ${where} ORDER BY dist LIMIT 40`.replace(
              /\$(\d+)/g,
              (_, n) => `'${String(params[Number(n) - 1])}'`,
            );
          return tx.query<Record<string, string>>(sql);
        });
        const text = plan.map((r) => Object.values(r)[0]).join("\n");
        assert.match(text, /Index Scan using memories_hnsw_test_model_4_4/, text);
        if (validity.includeSuperseded !== true) assert.match(text, /valid_(to|from)/, text);
      });
    }
  });
}
