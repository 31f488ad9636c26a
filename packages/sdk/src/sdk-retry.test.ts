import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../../../apps/server/src/testing/test-server.ts";
import { EngramClient, EngramError } from "./index.ts";

// Retries against a real server's rate limit: a key allowed 2 requests a second is refused with
// 429 and Retry-After on its third; the client waits that out and sends the request again.

let srv: TestServer;
let key: string;
before(async () => {
  srv = await startTestServer({ ENGRAM_RATE_LIMITS: "on" });
  const t = await srv.admin.createTenant({
    name: "retry",
    overrides: { requests_per_window: 2, window_seconds: 1 },
  });
  key = t.key.key;
});
after(() => srv.close());

const client = (o: { maxRetries?: number; maxRetryWaitMs?: number } = {}) =>
  new EngramClient({ baseUrl: srv.url, token: key, ...o });

/** Waits for the start of a fresh rate-limit window (1 s windows). */
async function freshWindow() {
  await new Promise((r) => setTimeout(r, 1_100));
}

test("without retries the third request in a window is a 429 with Retry-After", async () => {
  await freshWindow();
  const c = client({ maxRetries: 0 });
  await c.listMemories({ user_id: "u" });
  await c.listMemories({ user_id: "u" });
  const err = await c.listMemories({ user_id: "u" }).then(
    () => assert.fail("expected 429"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof EngramError);
  assert.equal(err.status, 429);
  assert.equal(err.code, "rate_limited");
  assert.ok((err.retryAfterSeconds ?? 0) >= 1);
});

test("with retries every request succeeds, after waiting out Retry-After", async () => {
  await freshWindow();
  const c = client({ maxRetries: 3 });
  const started = performance.now();
  for (let i = 0; i < 5; i++) await c.listMemories({ user_id: "u" });
  // 5 requests at 2 a second: at least two windows were waited out.
  assert.ok(performance.now() - started >= 900, "the client waited for the window to reset");
  // POSTs are retried too (a 429 did nothing).
  await c.addMemory({ text: "retried add", user_id: "u" });
  const listed = await c.listMemories({ user_id: "u" });
  assert.deepEqual(
    listed.results.map((m) => m.memory),
    ["retried add"],
    "stored exactly once",
  );
});

test("a Retry-After longer than maxRetryWaitMs is thrown at once", async () => {
  await freshWindow();
  const c = client({ maxRetries: 5, maxRetryWaitMs: 10 });
  await c.listMemories({ user_id: "u" });
  await c.listMemories({ user_id: "u" });
  const started = performance.now();
  const err = await c.listMemories({ user_id: "u" }).catch((e: unknown) => e);
  assert.ok(err instanceof EngramError && err.status === 429);
  assert.ok(performance.now() - started < 900, "it did not wait");
});
