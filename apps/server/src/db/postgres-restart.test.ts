import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertProblem, callPath } from "../testing/http.ts";
import { type OwnPostgres, startOwnPostgres } from "../testing/own-postgres.ts";
import { freePort, startPostgresTestServer } from "../testing/test-server.ts";

type PostgresTestServer = Awaited<ReturnType<typeof startPostgresTestServer>>;

// Stops and restarts a PostgreSQL cluster of its own (initdb'd for this test, on a free port), so
// no other PostgreSQL on the machine, and no other suite, sees the outage.
describe("the API on PostgreSQL across a database restart", () => {
  let own: OwnPostgres;
  let server: PostgresTestServer;

  before(async () => {
    own = await startOwnPostgres(await freePort());
    server = await startPostgresTestServer({}, own.server);
  });
  after(async () => {
    try {
      await own?.start(); // whatever happened in the test, so the database can be dropped
      await server?.close();
    } finally {
      await own?.remove();
    }
  });

  test("answers 503 problems while the database is down and recovers without a restart", async () => {
    const t = await server.newTenant();
    const { results } = await t.client.addMemory({ text: "Prefers window seats", user_id: "u1" });
    const id = results[0]?.id;
    const call = (method: string, path: string, body?: unknown) =>
      callPath(server.url, t.key, method, path, body);

    await own.stop();
    try {
      for (const [method, path, body] of [
        ["GET", "/v1/memories?user_id=u1"],
        ["POST", "/v1/memories", { text: "Written during the outage", user_id: "u1" }],
        ["POST", "/v1/memories/search", { query: "seats", user_id: "u1" }],
        ["GET", `/v1/memories/${id}`],
      ] as const) {
        const problem = assertProblem(await call(method, path, body), 503, "service_unavailable");
        assert.doesNotMatch(String(problem.detail), /ECONNREFUSED|127\.0\.0\.1|password/);
      }
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal(
        ((await ready.json()) as { checks: Record<string, string> }).checks.database,
        "down",
      );
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    } finally {
      await own.start();
    }

    // The same API process, with the same pool, serves again once the database is back.
    const deadline = Date.now() + 20_000;
    let list = await call("GET", "/v1/memories?user_id=u1");
    while (list.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      list = await call("GET", "/v1/memories?user_id=u1");
    }
    assert.equal(list.status, 200);
    assert.deepEqual(
      (list.body as { results: { id: string }[] }).results.map((m) => m.id),
      [id],
    );
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    const added = await call("POST", "/v1/memories", { text: "Written after", user_id: "u1" });
    assert.equal(added.status, 201);
  });
});
