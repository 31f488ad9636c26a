import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { until } from "../../../apps/server/src/testing/run-process.ts";
import { startTestServer, type TestServer } from "../../../apps/server/src/testing/test-server.ts";
import {
  startWebhookReceiver,
  type WebhookReceiver,
} from "../../../apps/server/src/testing/webhook-receiver.ts";
import { EngramClient, EngramError } from "./index.ts";

// The SDK's webhooks client against a real server delivering to a local receiver (allowed by the
// server's configuration): create, list page by page, the delivery log, redelivery, delete.

let srv: TestServer;
let receiver: WebhookReceiver;
let client: EngramClient;
before(async () => {
  receiver = await startWebhookReceiver();
  srv = await startTestServer({
    ENGRAM_WEBHOOKS_ALLOW_PRIVATE: "on",
    ENGRAM_WEBHOOKS_ALLOW_HTTP: "on",
  });
  const t = await srv.admin.createTenant({ name: "sdk-webhooks" });
  client = new EngramClient({ baseUrl: srv.url, token: t.key.key });
});
after(async () => {
  await srv.close();
  await receiver.close();
});

async function all<T>(it: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test("webhooks: created with their secret, listed, their deliveries logged and sent again", async () => {
  const created = await client.webhooks.createWebhook({
    url: receiver.url("/sdk"),
    events: ["memory.created"],
  });
  assert.match(created.secret, /^whsec_/);
  const other = await client.webhooks.createWebhook({
    url: receiver.url("/other"),
    events: ["memory.deleted"],
  });
  const listed = await all(client.webhooks.listAllWebhooks({ limit: 1 }));
  assert.deepEqual(listed.map((w) => w.id).sort(), [created.id, other.id].sort());

  for (let i = 0; i < 3; i++) await client.addMemory({ text: `fact ${i}`, user_id: "u" });
  await until("three deliveries", () => receiver.at("/sdk").length >= 3, 30_000);
  const log = await all(client.webhooks.listAllDeliveries(created.id, { limit: 1 }));
  assert.equal(log.length, 3);
  assert.ok(log.every((d) => d.event_type === "memory.created" && d.status === "succeeded"));

  const again = await client.webhooks.redeliver(created.id, log[0]?.id as string);
  assert.equal(again.id, log[0]?.id);
  await until("the redelivery", () => receiver.at("/sdk").length >= 4, 30_000);

  const changed = await client.webhooks.updateWebhook(other.id, { events: ["memory.updated"] });
  assert.deepEqual(changed.events, ["memory.updated"]);
  assert.deepEqual(await client.webhooks.deleteWebhook(other.id), { id: other.id, deleted: true });
  const err = await client.webhooks.getWebhook(other.id).catch((e: unknown) => e);
  assert.ok(err instanceof EngramError && err.code === "not_found");
});
