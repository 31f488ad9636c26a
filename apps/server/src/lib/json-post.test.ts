import assert from "node:assert/strict";
import { test } from "node:test";
import { type Attempt, retryDelayMs, withRetries } from "./json-post.ts";

test("retry delays: Retry-After in seconds or as a date, else exponential, always capped", () => {
  assert.equal(retryDelayMs(0, "3", 10_000), 3_000);
  assert.equal(retryDelayMs(0, "30", 10_000), 10_000);
  const inTwoSeconds = new Date(Date.now() + 2_000).toUTCString();
  const wait = retryDelayMs(0, inTwoSeconds, 10_000);
  assert.ok(wait > 0 && wait <= 2_000, String(wait));
  assert.equal(retryDelayMs(0, null, 10_000), 250);
  assert.equal(retryDelayMs(2, null, 10_000), 1_000);
  assert.equal(retryDelayMs(10, "soon", 5_000), 5_000);
});

/** An attempt function answering `outcomes` in turn, counting its calls. */
function scripted(outcomes: Attempt<string>[]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    attempt: async () => outcomes[calls++] ?? { kind: "fail" as const, error: "no more" },
  };
}

test("retries: retry outcomes are tried again up to maxRetries; a fail is final", async () => {
  const retry = { kind: "retry", error: "HTTP 503", retryAfter: "0" } as const;
  const recovered = scripted([retry, { kind: "ok", value: "yes" }]);
  assert.deepEqual(await withRetries(recovered.attempt, { maxRetries: 2, maxBackoffMs: 10 }), {
    ok: true,
    value: "yes",
    attempts: 2,
  });
  const spent = scripted([retry, retry, retry, { kind: "ok", value: "too late" }]);
  assert.deepEqual(await withRetries(spent.attempt, { maxRetries: 2, maxBackoffMs: 10 }), {
    ok: false,
    error: "HTTP 503",
    attempts: 3,
  });
  const final = scripted([
    { kind: "fail", error: "HTTP 400" },
    { kind: "ok", value: "never" },
  ]);
  assert.deepEqual(await withRetries(final.attempt, { maxRetries: 2, maxBackoffMs: 10 }), {
    ok: false,
    error: "HTTP 400",
    attempts: 1,
  });
  assert.equal(final.calls, 1);
});

test("retries: a wait that would pass the deadline gives up at once instead of sleeping", async () => {
  const retry = { kind: "retry", error: "HTTP 429", retryAfter: "5" } as const;
  const limited = scripted([retry, { kind: "ok", value: "after the deadline" }]);
  const started = performance.now();
  const result = await withRetries(limited.attempt, {
    maxRetries: 3,
    maxBackoffMs: 5_000,
    deadline: performance.now() + 1_000,
  });
  assert.deepEqual(result, { ok: false, error: "HTTP 429", attempts: 1 });
  assert.equal(limited.calls, 1);
  assert.ok(performance.now() - started < 500, "it did not wait for Retry-After");
});
