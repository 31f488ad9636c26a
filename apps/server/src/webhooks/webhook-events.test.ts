import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { startFlakyEmbedder } from "../testing/flaky-embedder.ts";
import { assertProblem, callPath } from "../testing/http.ts";
import { until } from "../testing/run-process.ts";
import { startTestServer, type TestServer } from "../testing/test-server.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../testing/webhook-receiver.ts";

// Document and job events, with an embedder that can be made to fail (testing/flaky-embedder.ts)
// so a job goes dead; and a server with the default outbound rules (no http://, no private
// addresses), whose refusals are checked against a receiver that must see nothing.

let receiver: WebhookReceiver;
let embedder: Awaited<ReturnType<typeof startFlakyEmbedder>>;
before(async () => {
  receiver = await startWebhookReceiver();
  embedder = await startFlakyEmbedder();
});
after(async () => {
  await receiver.close();
  await embedder.close();
});

const newPath = () => `/hook/${randomUUID()}`;

describe("document and job events (embedded)", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      ...embedder.env,
      ENGRAM_WEBHOOKS_ALLOW_PRIVATE: "on",
      ENGRAM_WEBHOOKS_ALLOW_HTTP: "on",
      ENGRAM_INGEST_MAX_ATTEMPTS: "2",
      ENGRAM_INGEST_RETRY_DELAY_S: "1",
      ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
    });
  });
  after(async () => {
    await srv.close();
  });

  test("document.ready, document.failed and job.dead fire, each once", async () => {
    const t = await srv.newTenant();
    const path = newPath();
    const hook = await callPath(srv.url, t.key, "POST", "v1/webhooks", {
      url: receiver.url(path),
      events: ["document.ready", "document.failed", "job.dead", "memory.created"],
    });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    const ready = await t.client.knowledge.createDocument({
      filename: "a.txt",
      text: "Warranty covers two years.",
    });
    await until("document.ready", async () => receiver.at(path).length === 1);
    const broken = await t.client.knowledge.uploadDocument(
      { bytes: new TextEncoder().encode("%PDF-1.7 this is no PDF"), filename: "broken.pdf" },
      {},
    );
    await until("document.failed", async () => receiver.at(path).length === 2);
    embedder.setDown(true);
    const doomed = await t.client.knowledge.createDocument({
      filename: "b.txt",
      text: "The embedder stays down for this one.",
    });
    await until("job.dead", async () => receiver.at(path).length === 4, 30_000);
    embedder.setDown(false);
    const events = receiver.at(path).map((r) => r.json);
    assert.deepEqual(
      events.map((e) => e.type),
      ["document.ready", "document.failed", "document.failed", "job.dead"],
    );
    assert.deepEqual(events[0].data, {
      id: ready.document_id,
      job_id: ready.job_id,
      chunk_count: 1,
      page_count: null,
    });
    assert.equal(events[1].data.id, broken.document_id);
    assert.ok(events[1].data.error);
    assert.equal(events[2].data.id, doomed.document_id);
    assert.equal(events[3].data.id, doomed.job_id);
    assert.equal(events[3].data.document_id, doomed.document_id);
    assert.equal(events[3].data.attempts, 2);
    assert.match(events[3].data.error, /Gave up after 2 attempts/);
  });
});

describe("outbound rules when the operator allows nothing (embedded)", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      ENGRAM_INGEST_IN_PROCESS: "on",
      ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
      ENGRAM_WEBHOOKS_MAX_ATTEMPTS: "1",
    });
  });
  after(async () => {
    await srv.close();
  });

  test("http://, and private, loopback or link-local literals, are refused at creation", async () => {
    const t = await srv.newTenant();
    for (const url of [
      receiver.url("/ssrf-create"),
      `https://127.0.0.1:${receiver.port}/`,
      "https://10.0.0.1/",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/",
      "https://[::ffff:127.0.0.1]/",
      "https://[fe80::1]/",
    ]) {
      const r = await callPath(srv.url, t.key, "POST", "v1/webhooks", {
        url,
        events: ["memory.created"],
      });
      assertProblem(r, 400, "validation_failed", "url");
    }
  });

  test("a name that resolves to 127.0.0.1 is refused at delivery; the receiver gets nothing", async () => {
    const t = await srv.newTenant();
    // `localhost` resolves (through /etc/hosts) to loopback: only the resolved address tells.
    const created = await callPath(srv.url, t.key, "POST", "v1/webhooks", {
      url: `https://localhost:${receiver.port}/ssrf`,
      events: ["memory.created"],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await t.client.addMemory({ text: "Nothing leaves for loopback", user_id: "u" });
    let log: { status: string; error: string; attempts: number } | undefined;
    await until("the refusal", async () => {
      const r = await callPath(
        srv.url,
        t.key,
        "GET",
        `v1/webhooks/${created.body.id}/deliveries?status=failed`,
      );
      log = r.body.results[0];
      return log !== undefined;
    });
    assert.equal(log?.attempts, 1);
    assert.match(
      String(log?.error),
      /^refused: localhost resolves to (127\.0\.0\.1|::1) \(loopback\)/,
    );
    assert.equal(receiver.at("/ssrf").length, 0);
  });
});
