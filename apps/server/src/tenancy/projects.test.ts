import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeOnBackends } from "../testing/backend-suite.ts";
import { assertProblem } from "../testing/http.ts";

describeOnBackends("projects", (suite) => {
  const { admin, as, provision, add } = suite;

  describe("/v1/projects", () => {
    test("memories are scoped to the key's project; the plan bounds the number of projects", async () => {
      const t = await provision({ plan: "growth" });
      const p2 = await as(t.key, "POST", "/v1/projects", { name: "second" });
      assert.equal(p2.status, 201, JSON.stringify(p2.body));
      assertProblem(await as(t.key, "POST", "/v1/projects", { name: "second" }), 409, "conflict");
      const k2 = await as(t.key, "POST", "/v1/keys", { project_id: p2.body.id });
      assert.equal(k2.body.project_id, p2.body.id);
      const added = await add(t.key, "Only in the default project");
      const id = added.body.results[0].id;
      assertProblem(await as(k2.body.key, "GET", `/v1/memories/${id}`), 404, "not_found");
      assertProblem(await as(k2.body.key, "GET", `/v1/memories/${id}/history`), 404, "not_found");
      assertProblem(
        await as(k2.body.key, "PATCH", `/v1/memories/${id}`, { text: "x" }),
        404,
        "not_found",
      );
      assertProblem(await as(k2.body.key, "DELETE", `/v1/memories/${id}`), 404, "not_found");
      assert.equal((await as(k2.body.key, "GET", "/v1/memories")).body.results.length, 0);
      const found = await as(k2.body.key, "POST", "/v1/memories/search", {
        query: "default project",
      });
      assert.equal(found.body.results.length, 0);
      // An Idempotency-Key is per project: the same key and body in another project is a new write.
      const idem = { "idempotency-key": "same-key" };
      const inA = await add(t.key, "keyed write", idem);
      const inB = await add(k2.body.key, "keyed write", idem);
      assert.equal(inB.status, 201);
      assert.notEqual(inB.body.results[0].id, inA.body.results[0].id);
      assert.equal(
        (await as(k2.body.key, "GET", `/v1/memories/${inB.body.results[0].id}`)).status,
        200,
      );
      // The same text in another project is no duplicate.
      assert.equal(
        (await add(k2.body.key, "Only in the default project")).body.results[0].event,
        "ADD",
      );
      assert.equal((await as(t.key, "GET", `/v1/memories/${id}`)).status, 200);

      const dev = await provision({ plan: "developer" });
      const refused = await as(dev.key, "POST", "/v1/projects", { name: "more" });
      assertProblem(refused, 402, "quota_exceeded");
      assert.equal(refused.body.metric, "projects");
      assert.equal(refused.body.limit, 1);
    });

    test("a key for an unknown or another tenant's project is 404", async () => {
      const a = await provision({ plan: "growth" });
      const b = await provision({ plan: "growth" });
      assertProblem(
        await as(a.key, "POST", "/v1/keys", { project_id: b.projectId }),
        404,
        "not_found",
      );
      assertProblem(
        await admin("POST", `/v1/admin/tenants/${a.id}/keys`, { project_id: b.projectId }),
        404,
        "not_found",
      );
    });
  });
});
