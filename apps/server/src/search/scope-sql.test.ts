import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { scopeSql } from "./scope-sql.ts";

describe("scopeSql", () => {
  test("one exact condition per id given, numbered after the parameters already there", () => {
    const params: unknown[] = ["ten_1"];
    const sql = scopeSql(
      { projectId: "prj_1", userId: "u1", agentId: undefined, sessionId: "s1" },
      params,
      { alias: "m." },
    );
    assert.equal(sql, " AND m.project_id = $2 AND m.user_id = $3 AND m.session_id = $4");
    assert.deepEqual(params, ["ten_1", "prj_1", "u1", "s1"]);
    assert.equal(scopeSql({}, params), "");
    assert.equal(params.length, 4);
  });

  test("ownOrShared: a user, agent or session id also matches rows of none; other ids stay exact", () => {
    const params: unknown[] = [];
    const sql = scopeSql(
      { userId: "u1", agentId: "a1", sessionId: "s1", collection: "help", documentId: "doc_1" },
      params,
      { alias: "c.", owners: "ownOrShared" },
    );
    assert.equal(
      sql,
      " AND (c.user_id = $1 OR c.user_id IS NULL) AND (c.agent_id = $2 OR c.agent_id IS NULL)" +
        " AND (c.session_id = $3 OR c.session_id IS NULL)" +
        " AND c.collection = $4 AND c.document_id = $5",
    );
    assert.deepEqual(params, ["u1", "a1", "s1", "help", "doc_1"]);
  });

  test("fields that are no scope id never reach the SQL", () => {
    const params: unknown[] = [];
    const scope = { userId: "u1", status: "ready", "x = 1; --": "y" };
    assert.equal(scopeSql(scope, params), " AND user_id = $1");
    assert.deepEqual(params, ["u1"]);
  });
});
