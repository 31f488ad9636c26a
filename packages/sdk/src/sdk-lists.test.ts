import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../../../apps/server/src/testing/test-server.ts";
import { EngramClient } from "./index.ts";

// Every paginated list has an async iterator that follows the cursors: with one item per page,
// it yields what a single large page holds, in the same order.

let srv: TestServer;
let client: EngramClient;
let tenantId: string;
before(async () => {
  srv = await startTestServer();
  const t = await srv.admin.createTenant({ name: "lists" });
  tenantId = t.id;
  client = new EngramClient({ baseUrl: srv.url, token: t.key.key });
  for (let i = 0; i < 3; i++) await client.createKey({ name: `k${i}` });
  for (let i = 0; i < 3; i++) {
    const doc = await client.knowledge.createDocument({
      filename: `d${i}.md`,
      text: `# D${i}\n\nText ${i}.`,
    });
    await client.knowledge.waitForJob(doc.job_id);
  }
  for (let i = 0; i < 2; i++) {
    await client.addMemory({ text: `fact ${i}`, user_id: "leaving" });
    await client.eraseUser("leaving");
  }
});
after(() => srv.close());

async function all<T>(it: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
const ids = (xs: { id: string }[]) => xs.map((x) => x.id);

test("keys, audit, documents, jobs, erasures and tenants page through their iterators", async () => {
  const keys = await all(client.listAllKeys({ limit: 1 }));
  assert.equal(keys.length, 4);
  assert.deepEqual(ids(keys), ids((await client.listKeys({ limit: 100 })).results));

  const audit = await all(client.listAllAudit({ limit: 1 }));
  assert.ok(audit.length >= 5, `key creations and erasures are audited (${audit.length})`);
  assert.deepEqual(ids(audit), ids((await client.listAudit({ limit: 100 })).results));

  const docs = await all(client.knowledge.listAllDocuments({ limit: 1 }));
  assert.equal(docs.length, 3);
  assert.deepEqual(ids(docs), ids((await client.knowledge.listDocuments({ limit: 100 })).results));
  const jobs = await all(client.knowledge.listAllJobs({ limit: 1 }));
  assert.equal(jobs.length, 3);

  const erasures = await all(client.listAllUserErasures("leaving", { limit: 1 }));
  assert.equal(erasures.length, 2);

  const tenants = await all(srv.admin.listAllTenants({ limit: 1 }));
  assert.ok(tenants.some((t) => t.id === tenantId));
  assert.equal(new Set(ids(tenants)).size, tenants.length, "each tenant once");

  const history = await all(client.listAllUsageHistory({ limit: 1 }));
  assert.deepEqual(history, (await client.getUsageHistory({ limit: 36 })).results);
});
