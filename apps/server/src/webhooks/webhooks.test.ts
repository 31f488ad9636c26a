import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { describeOnBackends } from "../testing/backend-suite.ts";
import { assertProblem } from "../testing/http.ts";
import { until } from "../testing/run-process.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../testing/webhook-receiver.ts";

// Deliveries go to a local receiver (testing/webhook-receiver.ts), which the operator allows here:
// http:// and private addresses. The API process consumes the queues itself.
const ALLOWED = {
  ENGRAM_WEBHOOKS_ALLOW_PRIVATE: "on",
  ENGRAM_WEBHOOKS_ALLOW_HTTP: "on",
  ENGRAM_WEBHOOKS_MAX_ATTEMPTS: "3",
  ENGRAM_WEBHOOKS_RETRY_DELAY_S: "1",
  ENGRAM_INGEST_IN_PROCESS: "on",
  ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
};

const ALL_MEMORY_EVENTS = [
  "memory.created",
  "memory.updated",
  "memory.deleted",
  "memory.superseded",
];

let receiver: WebhookReceiver;
before(async () => {
  receiver = await startWebhookReceiver();
});
after(async () => {
  await receiver.close();
});

/** A path of its own for one test. */
const newPath = () => `/hook/${randomUUID()}`;

/** The events a path received with a 2xx answer, in arrival order. */
const accepted = (path: string) => receiver.at(path).filter((r) => r.status < 300);

describeOnBackends(
  "webhooks",
  ({ as, provision, add }) => {
    async function webhook(key: string, path: string, events = ALL_MEMORY_EVENTS) {
      const r = await as(key, "POST", "/v1/webhooks", { url: receiver.url(path), events });
      assert.equal(r.status, 201, r.text);
      return r.body as { id: string; secret: string };
    }

    describe("/v1/webhooks", () => {
      test("create shows the generated secret once; get, list, patch and delete", async () => {
        const t = await provision();
        const path = newPath();
        const created = await webhook(t.key, path, ["memory.created"]);
        assert.match(created.secret, /^whsec_[A-Za-z0-9+/]{32}$/);
        assert.match(created.id, /^whk_/);
        const got = await as(t.key, "GET", `/v1/webhooks/${created.id}`);
        assert.equal(got.status, 200);
        assert.equal(got.body.secret, undefined);
        assert.equal(got.body.url, receiver.url(path));
        assert.deepEqual(got.body.events, ["memory.created"]);
        const listed = await as(t.key, "GET", "/v1/webhooks");
        assert.deepEqual(
          listed.body.results.map((w: { id: string }) => w.id),
          [created.id],
        );
        assert.ok(!listed.text.includes(created.secret));
        const patched = await as(t.key, "PATCH", `/v1/webhooks/${created.id}`, {
          events: ["memory.deleted"],
          enabled: false,
        });
        assert.equal(patched.status, 200, patched.text);
        assert.deepEqual(patched.body.events, ["memory.deleted"]);
        assert.equal(patched.body.enabled, false);
        const given = await as(t.key, "POST", "/v1/webhooks", {
          url: receiver.url(path),
          events: ["memory.created"],
          secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        });
        assert.equal(given.body.secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        const gone = await as(t.key, "DELETE", `/v1/webhooks/${created.id}`);
        assert.deepEqual(gone.body, { id: created.id, deleted: true });
        assertProblem(await as(t.key, "GET", `/v1/webhooks/${created.id}`), 404, "not_found");
      });

      test("bad input is 400 naming the field", async () => {
        const t = await provision();
        const post = (body: unknown) => as(t.key, "POST", "/v1/webhooks", body);
        const url = receiver.url(newPath());
        assertProblem(await post({ events: ["memory.created"] }), 400, "validation_failed", "url");
        assertProblem(await post({ url }), 400, "validation_failed", "events");
        assertProblem(await post({ url, events: [] }), 400, "validation_failed", "events");
        assertProblem(
          await post({ url, events: ["memory.exploded"] }),
          400,
          "validation_failed",
          "events[0]",
        );
        assertProblem(
          await post({ url: "ftp://example.com/x", events: ["memory.created"] }),
          400,
          "validation_failed",
          "url",
        );
        assertProblem(
          await post({ url: `https://example.com/${"a".repeat(2_000)}`, events: ["job.dead"] }),
          400,
          "validation_failed",
          "url",
        );
        assertProblem(
          await post({ url: "https://user:pw@example.com/", events: ["job.dead"] }),
          400,
          "validation_failed",
          "url",
        );
        assertProblem(
          await post({ url, events: ["job.dead"], secret: "not-a-secret" }),
          400,
          "validation_failed",
          "secret",
        );
        assertProblem(
          await post({ url, events: ["job.dead"], extra: 1 }),
          400,
          "validation_failed",
        );
      });

      test("another tenant's webhook is 404; a key without the scope is 403", async () => {
        const a = await provision();
        const b = await provision();
        const hook = await webhook(a.key, newPath());
        for (const [method, path, body] of [
          ["GET", `/v1/webhooks/${hook.id}`],
          ["PATCH", `/v1/webhooks/${hook.id}`, { enabled: false }],
          ["DELETE", `/v1/webhooks/${hook.id}`],
          ["GET", `/v1/webhooks/${hook.id}/deliveries`],
          ["POST", `/v1/webhooks/${hook.id}/deliveries/dlv_01JD3ABCDEFGHJKMNPQRSTVWXY/redeliver`],
        ] as const) {
          assertProblem(await as(b.key, method, path, body), 404, "not_found");
        }
        assert.equal((await as(b.key, "GET", "/v1/webhooks")).body.results.length, 0);
        const k = await as(a.key, "POST", "/v1/keys", { scopes: ["memories:read"] });
        assertProblem(await as(k.body.key, "GET", "/v1/webhooks"), 403, "forbidden");
        const reader = await as(a.key, "POST", "/v1/keys", { scopes: ["webhooks:read"] });
        assert.equal((await as(reader.body.key, "GET", "/v1/webhooks")).status, 200);
        assertProblem(
          await as(reader.body.key, "DELETE", `/v1/webhooks/${hook.id}`),
          403,
          "forbidden",
        );
      });

      test("a project has at most 20 webhooks", async () => {
        const t = await provision();
        for (let i = 0; i < 20; i++) await webhook(t.key, newPath(), ["job.dead"]);
        const over = await as(t.key, "POST", "/v1/webhooks", {
          url: receiver.url(newPath()),
          events: ["job.dead"],
        });
        assertProblem(over, 409, "conflict");
      });
    });

    describe("delivery", () => {
      test("memory events are signed per Standard Webhooks: created, updated, superseded, deleted", async () => {
        const t = await provision();
        const path = newPath();
        const hook = await webhook(t.key, path);
        const added = await add(t.key, "Bob likes tea");
        const id = added.body.results[0].id;
        await as(t.key, "PATCH", `/v1/memories/${id}`, { text: "Bob likes green tea" });
        // The local inference engine supersedes a home by a move.
        const said = (content: string, timestamp: string) => ({
          messages: [{ role: "user", content, name: "Alice", timestamp }],
          user_id: "alice",
          infer: true,
        });
        const berlin = await as(
          t.key,
          "POST",
          "/v1/memories",
          said("I live in Berlin.", "2026-01-10T09:00:00Z"),
        );
        const moved = await as(
          t.key,
          "POST",
          "/v1/memories",
          said("I moved to Lisbon last month.", "2026-03-05T12:00:00Z"),
        );
        const lisbon = moved.body.results[0];
        assert.equal(lisbon.supersedes, berlin.body.results[0].id, moved.text);
        await as(t.key, "DELETE", `/v1/memories/${id}`);
        await until("six deliveries", async () => accepted(path).length >= 6);
        const verifier = new StandardWebhook(hook.secret);
        for (const r of accepted(path)) {
          // An independent implementation checks the signature (and the timestamp's freshness).
          verifier.verify(r.body, r.headers as Record<string, string>);
          assert.match(String(r.headers["webhook-id"]), /^whmsg_/);
          assert.equal(r.headers["content-type"], "application/json");
        }
        const forged = accepted(path)[0];
        assert.ok(forged);
        assert.throws(() =>
          verifier.verify(`${forged.body} `, forged.headers as Record<string, string>),
        );
        const events = accepted(path).map((r) => r.json);
        const of = (memoryId: string) =>
          events.filter((e) => e.data.id === memoryId).map((e) => e.type);
        assert.deepEqual(of(id), ["memory.created", "memory.updated", "memory.deleted"]);
        assert.deepEqual(of(berlin.body.results[0].id), ["memory.created", "memory.superseded"]);
        assert.deepEqual(of(lisbon.id), ["memory.created"]);
        const updated = events.find((e) => e.type === "memory.updated");
        assert.equal(updated.data.memory, "Bob likes green tea");
        assert.equal(updated.data.previous_memory, "Bob likes tea");
        assert.equal(updated.data.user_id, "u");
        const superseded = events.find((e) => e.type === "memory.superseded");
        assert.equal(superseded.data.superseded_by, lisbon.id);
        assert.equal(
          events.find((e) => e.data.id === lisbon.id).data.supersedes,
          berlin.body.results[0].id,
        );
        for (const e of events) assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
      });

      test("only subscribed events, only of the webhook's own project and tenant", async () => {
        const a = await provision({ plan: "growth" });
        const b = await provision();
        const pathA = newPath();
        const pathA2 = newPath();
        const pathB = newPath();
        await webhook(a.key, pathA, ["memory.deleted"]);
        await webhook(b.key, pathB, ["memory.created"]);
        const p2 = await as(a.key, "POST", "/v1/projects", { name: "second" });
        const k2 = await as(a.key, "POST", "/v1/keys", { project_id: p2.body.id });
        await webhook(k2.body.key, pathA2, ["memory.created"]);
        const inA = await add(a.key, "In the default project of A");
        await add(k2.body.key, "In the second project of A");
        await add(b.key, "In B");
        await as(a.key, "DELETE", `/v1/memories/${inA.body.results[0].id}`);
        await until("A's deletion", async () => accepted(pathA).length === 1);
        await until(
          "A2's and B's",
          async () => accepted(pathA2).length === 1 && accepted(pathB).length === 1,
        );
        // Give stray deliveries time to show up (they would have by now if any were queued).
        await new Promise((r) => setTimeout(r, 1_500));
        assert.deepEqual(
          receiver.at(pathA).map((r) => r.json.type),
          ["memory.deleted"],
        );
        assert.deepEqual(
          receiver.at(pathA2).map((r) => r.json.data.memory),
          ["In the second project of A"],
        );
        assert.deepEqual(
          receiver.at(pathB).map((r) => r.json.data.memory),
          ["In B"],
        );
      });

      test("500s are retried with backoff; the log shows attempts, status, duration; redelivery", async () => {
        const t = await provision();
        const path = newPath();
        receiver.script(path, [500, 503]);
        const hook = await webhook(t.key, path, ["memory.created"]);
        await add(t.key, "Retried until it lands");
        await until("the third attempt", async () => receiver.at(path).length >= 3, 30_000);
        const [first, second, third] = receiver.at(path);
        assert.deepEqual([first?.status, second?.status, third?.status], [500, 503, 200]);
        // One event: the same webhook-id on every attempt.
        assert.equal(new Set(receiver.at(path).map((r) => r.headers["webhook-id"])).size, 1);
        let log = await as(t.key, "GET", `/v1/webhooks/${hook.id}/deliveries`);
        await until("the log says succeeded", async () => {
          log = await as(t.key, "GET", `/v1/webhooks/${hook.id}/deliveries`);
          return log.body.results[0]?.status === "succeeded";
        });
        const [d] = log.body.results;
        assert.equal(d.attempts, 3);
        assert.equal(d.response_status, 200);
        assert.equal(d.event_type, "memory.created");
        assert.equal(d.error, null);
        assert.ok(Number.isInteger(d.duration_ms));
        assert.ok(d.delivered_at);
        assert.ok(!log.text.includes(hook.secret));
        const again = await as(
          t.key,
          "POST",
          `/v1/webhooks/${hook.id}/deliveries/${d.id}/redeliver`,
        );
        assert.equal(again.status, 202, again.text);
        await until("the redelivery", async () => receiver.at(path).length === 4);
        assert.equal(receiver.at(path)[3]?.headers["webhook-id"], first?.headers["webhook-id"]);
        await until("the log counts it", async () => {
          const r = await as(t.key, "GET", `/v1/webhooks/${hook.id}/deliveries`);
          return r.body.results[0]?.attempts === 4 && r.body.results[0]?.status === "succeeded";
        });
      });

      test("a delivery is failed after its last attempt, with the receiver's answer", async () => {
        const t = await provision();
        const path = newPath();
        receiver.script(path, [500, 500, 500]);
        const hook = await webhook(t.key, path, ["memory.created"]);
        await add(t.key, "Never accepted");
        let d: Record<string, unknown> | undefined;
        await until(
          "failed",
          async () => {
            const r = await as(t.key, "GET", `/v1/webhooks/${hook.id}/deliveries?status=failed`);
            d = r.body.results[0];
            return d !== undefined;
          },
          30_000,
        );
        assert.equal(d?.attempts, 3);
        assert.equal(d?.response_status, 500);
        assert.match(String(d?.error), /^HTTP 500: nope/);
      });

      test("a memory's events arrive in order, even when one of them is retried", async () => {
        const t = await provision();
        const path = newPath();
        receiver.script(path, [500, 500]);
        await webhook(t.key, path);
        const added = await add(t.key, "Version 1");
        const id = added.body.results[0].id;
        for (let v = 2; v <= 4; v++) {
          const r = await as(t.key, "PATCH", `/v1/memories/${id}`, { text: `Version ${v}` });
          assert.equal(r.status, 200, r.text);
        }
        await as(t.key, "DELETE", `/v1/memories/${id}`);
        await until("all five", async () => accepted(path).length === 5, 30_000);
        assert.deepEqual(
          accepted(path).map((r) => `${r.json.type} ${r.json.data.memory}`),
          [
            "memory.created Version 1",
            "memory.updated Version 2",
            "memory.updated Version 3",
            "memory.updated Version 4",
            "memory.deleted Version 4",
          ],
        );
        // The first was tried three times before any later event was sent.
        assert.deepEqual(
          receiver
            .at(path)
            .slice(0, 3)
            .map((r) => r.json.type),
          ["memory.created", "memory.created", "memory.created"],
        );
      });

      test("a change that rolls back leaves no delivery (same transaction)", async () => {
        const t = await provision({ plan: "tiny-test" }); // 10 memory operations a month
        const path = newPath();
        const hook = await webhook(t.key, path, ["memory.created"]);
        for (let i = 1; i <= 10; i++) await add(t.key, `Fact ${i}`);
        // The eleventh add writes its memory, history and delivery, then metering refuses it
        // (quota_exceeded): the whole transaction, delivery included, rolls back.
        assertProblem(await add(t.key, "Fact 11"), 402, "quota_exceeded");
        await until("ten creations", async () => accepted(path).length === 10);
        await new Promise((r) => setTimeout(r, 1_500));
        assert.equal(receiver.at(path).length, 10);
        assert.ok(!receiver.at(path).some((r) => r.json.data.memory === "Fact 11"));
        const log = await as(t.key, "GET", `/v1/webhooks/${hook.id}/deliveries?limit=100`);
        assert.equal(log.body.results.length, 10);
      });

      test("erasing a user erases the payloads of their memory events", async () => {
        const t = await provision();
        const path = newPath();
        const hook = await webhook(t.key, path, ["memory.created"]);
        await add(t.key, "Only u said this");
        await as(t.key, "POST", "/v1/memories", { text: "Someone else's", user_id: "other" });
        await until("both", async () => accepted(path).length === 2);
        const erased = await as(t.key, "DELETE", "/v1/users/u");
        assert.equal(erased.status, 200, erased.text);
        assert.equal(erased.body.removed.webhook_deliveries, 1);
        const log = await as(t.key, "GET", `/v1/webhooks/${hook.id}/deliveries`);
        assert.equal(log.body.results.length, 1);
      });

      test("quota.threshold fires at 80 % and 100 %, once per period", async () => {
        const t = await provision({ plan: "tiny-test" }); // 10 memory operations a month
        const path = newPath();
        await webhook(t.key, path, ["quota.threshold"]);
        for (let i = 1; i <= 7; i++) await add(t.key, `Fact ${i}`);
        await new Promise((r) => setTimeout(r, 1_500));
        assert.equal(receiver.at(path).length, 0);
        await add(t.key, "Fact 8");
        await until("80 %", async () => accepted(path).length === 1);
        await add(t.key, "Fact 9");
        await add(t.key, "Fact 10");
        assertProblem(await add(t.key, "Fact 11"), 402, "quota_exceeded");
        await until("100 %", async () => accepted(path).length === 2);
        const [eighty, hundred] = accepted(path).map((r) => r.json);
        assert.equal(eighty.type, "quota.threshold");
        assert.deepEqual(
          { ...eighty.data, period_start: undefined },
          {
            metric: "memory_operations",
            threshold: 80,
            used: 8,
            limit: 10,
            period_start: undefined,
          },
        );
        assert.match(eighty.data.period_start, /^\d{4}-\d{2}-01$/);
        assert.equal(hundred.data.threshold, 100);
        assert.equal(hundred.data.used, 10);
        await new Promise((r) => setTimeout(r, 1_500));
        assert.equal(receiver.at(path).length, 2);
      });
    });
  },
  ALLOWED,
);
