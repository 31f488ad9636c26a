import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EngramError } from "@engram/sdk";
import { call, type Reply } from "../testing/http.ts";
import { createTestRedis, type TestRedis } from "../testing/test-redis.ts";
import {
  ADMIN_TOKEN,
  freePort,
  startTestServer,
  type TestServer,
  withTwoServers,
} from "../testing/test-server.ts";

/** The RateLimit field's policy, remaining and reset (draft-ietf-httpapi-ratelimit-headers). */
function rateLimitOf(r: Reply): { policy: string; remaining: number; reset: number } {
  const field = r.headers.get("ratelimit") ?? "";
  const match = /^"([a-z0-9_-]+)";r=(\d+);t=(\d+)$/.exec(field);
  assert.ok(match, `RateLimit field: ${JSON.stringify(field)}`);
  return { policy: match[1] as string, remaining: Number(match[2]), reset: Number(match[3]) };
}

/** RateLimit-Policy for a plan's per-key and tenant-wide quotas. */
const policies = (plan: string, perKey: number, perTenant: number, w: number) =>
  `"${plan}";q=${perKey};w=${w}, "${plan}-tenant";q=${perTenant};w=${w}`;

function assertLimited(r: Reply, windowSeconds: number) {
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.match(r.headers.get("content-type") ?? "", /^application\/problem\+json/);
  assert.equal(r.body.code, "rate_limited");
  assert.equal(r.body.status, 429);
  assert.equal(r.headers.get("x-request-id"), r.body.requestId);
  const retryAfter = Number(r.headers.get("retry-after"));
  assert.ok(Number.isInteger(retryAfter), `Retry-After: ${r.headers.get("retry-after")}`);
  assert.ok(retryAfter >= 1 && retryAfter <= windowSeconds, `Retry-After ${retryAfter}`);
  const { remaining, reset } = rateLimitOf(r);
  assert.equal(remaining, 0);
  assert.equal(reset, retryAfter, "Retry-After names the same moment as the reset parameter");
}

/**
 * A tenant on the Starter plan with its rate limit overridden to `requests` a minute per key (and
 * `tenantRequests` for all its keys; unset: scaled as the plan's, 10 × `requests`).
 */
function limitedTenant(
  srv: Pick<TestServer, "newTenant">,
  requests: number,
  tenantRequests?: number,
) {
  return srv.newTenant(undefined, {
    plan: "starter",
    overrides: {
      requests_per_window: requests,
      window_seconds: 60,
      ...(tenantRequests ? { tenant_requests_per_window: tenantRequests } : {}),
    },
  });
}

describe("rate limits, embedded (in-memory limiter)", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(() => srv.close());

  test("every tenant response carries RateLimit-Policy and RateLimit; the 6th request is 429 rate_limited with Retry-After", async () => {
    const { key } = await limitedTenant(srv, 5);
    const url = `${srv.url}/v1/memories`;
    for (let i = 0; i < 5; i++) {
      // Errors count and carry the fields too: the 5th is a 404.
      const r =
        i === 4 ? await call(`${url}/mem_01JZZZZZZZZZZZZZZZZZZZZZZZ`, key) : await call(url, key);
      assert.equal(r.status, i === 4 ? 404 : 200);
      assert.equal(r.headers.get("ratelimit-policy"), policies("starter", 5, 50, 60));
      const { policy, remaining, reset } = rateLimitOf(r);
      assert.equal(policy, "starter", "the key's policy is the closer to exhaustion");
      assert.equal(remaining, 4 - i);
      assert.ok(reset >= 1 && reset <= 60, `t=${reset}`);
    }
    const limited = await call(url, key);
    assertLimited(limited, 60);
    assert.equal(limited.headers.get("ratelimit-policy"), policies("starter", 5, 50, 60));
    assert.match(String(limited.body.detail), /API key is limited to 5 requests per 60 s/);
    assert.ok(srv.server.counters.get("rate_limited_total") >= 1);
  });

  test("the SDK's EngramError carries the 429's Retry-After in seconds", async () => {
    const t = await limitedTenant(srv, 1);
    await t.client.listMemories();
    const err = await t.client.listMemories().then(
      () => assert.fail("expected 429"),
      (e: unknown) => e as EngramError,
    );
    assert.ok(err instanceof EngramError);
    assert.equal(err.code, "rate_limited");
    assert.ok(
      err.retryAfterSeconds !== undefined &&
        err.retryAfterSeconds >= 1 &&
        err.retryAfterSeconds <= 60,
      String(err.retryAfterSeconds),
    );
  });

  test("a key's limit leaves another key of the same tenant, and another tenant, unaffected", async () => {
    const first = await limitedTenant(srv, 5);
    const other = await limitedTenant(srv, 5);
    const secondKey = await srv.admin.createKey(first.tenantId, {});
    for (let i = 0; i < 5; i++)
      assert.equal((await call(`${srv.url}/v1/memories`, first.key)).status, 200);
    assertLimited(await call(`${srv.url}/v1/memories`, first.key), 60);
    for (const key of [secondKey.key, other.key]) {
      const r = await call(`${srv.url}/v1/memories`, key);
      assert.equal(r.status, 200);
      assert.equal(rateLimitOf(r).remaining, 4);
    }
  });

  test("the tenant's bucket is shared by all its keys: once spent, every key of the tenant is 429, another tenant is not", async () => {
    const t = await limitedTenant(srv, 5, 8);
    const other = await limitedTenant(srv, 5, 8);
    const [b, c] = [
      await srv.admin.createKey(t.tenantId, {}),
      await srv.admin.createKey(t.tenantId, {}),
    ];
    for (let i = 0; i < 5; i++) {
      const r = await call(`${srv.url}/v1/memories`, t.key);
      assert.equal(r.status, 200);
    }
    // Refused by its own bucket, the first key spends nothing of the tenant's.
    for (let i = 0; i < 3; i++) assertLimited(await call(`${srv.url}/v1/memories`, t.key), 60);
    for (let i = 0; i < 3; i++) {
      const r = await call(`${srv.url}/v1/memories`, b.key);
      assert.equal(r.status, 200, `request ${i} of the second key`);
      // The tenant's policy is now the closer to exhaustion: RateLimit reports it.
      assert.deepEqual(
        [rateLimitOf(r).policy, rateLimitOf(r).remaining],
        ["starter-tenant", 2 - i],
      );
    }
    for (const key of [b.key, c.key]) {
      const refused = await call(`${srv.url}/v1/memories`, key, "POST", {
        text: "over",
        user_id: "u",
      });
      assertLimited(refused, 60);
      assert.equal(rateLimitOf(refused).policy, "starter-tenant");
      assert.equal(refused.headers.get("ratelimit-policy"), policies("starter", 5, 8, 60));
      assert.match(
        String(refused.body.detail),
        /tenant \(all its API keys together\) is limited to 8 requests per 60 s/,
      );
    }
    const fresh = await call(`${srv.url}/v1/memories`, other.key);
    assert.equal(fresh.status, 200);
    assert.equal(rateLimitOf(fresh).remaining, 4);

    // Nothing was written by the refused requests, and the refused ones gave their key's request
    // back: with a fresh tenant bucket (a new policy), the second key has 5 − 3 left, not 5 − 4.
    await srv.admin.updateTenant(t.tenantId, {
      overrides: { requests_per_window: 5, window_seconds: 60, tenant_requests_per_window: 100 },
    });
    const again = await call(`${srv.url}/v1/memories?user_id=u`, b.key);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.results, []);
    assert.deepEqual([rateLimitOf(again).policy, rateLimitOf(again).remaining], ["starter", 1]);
  });

  test("without an override the tenant's bucket is the plan's tenant_requests (Developer: 500 an hour)", async () => {
    const t = await srv.newTenant(undefined, { plan: "developer" });
    const r = await call(`${srv.url}/v1/memories`, t.key);
    assert.equal(r.headers.get("ratelimit-policy"), policies("developer", 100, 500, 3600));
    assert.deepEqual([rateLimitOf(r).policy, rateLimitOf(r).remaining], ["developer", 99]);
  });

  test("a limited write changes nothing", async () => {
    const { key, tenantId } = await limitedTenant(srv, 5);
    for (let i = 0; i < 5; i++) {
      const r = await call(`${srv.url}/v1/memories`, key, "POST", {
        text: `fact ${i}`,
        user_id: "u",
      });
      assert.equal(r.status, 201);
    }
    const limited = await call(`${srv.url}/v1/memories`, key, "POST", {
      text: "one too many",
      user_id: "u",
    });
    assertLimited(limited, 60);
    const reader = await srv.admin.createKey(tenantId, {});
    const list = await call(`${srv.url}/v1/memories?user_id=u&limit=100`, reader.key);
    const texts = (list.body.results as { memory: string }[]).map((m) => m.memory);
    assert.equal(texts.length, 5);
    assert.ok(!texts.includes("one too many"));
  });

  test("admin, health and unauthenticated requests are neither limited nor given the fields", async () => {
    for (let i = 0; i < 7; i++) {
      const health = await fetch(`${srv.url}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(health.headers.get("ratelimit"), null);
      const bad = await call(`${srv.url}/v1/memories`, "egm_not_a_real_key");
      assert.equal(bad.status, 401);
      assert.equal(bad.headers.get("ratelimit"), null);
      const admin = await call(`${srv.url}/v1/admin/tenants`, ADMIN_TOKEN, "POST", {
        name: `limits ${i}`,
      });
      assert.equal(admin.status, 201);
      assert.equal(admin.headers.get("ratelimit-policy"), null);
    }
  });

  test("the plan sets the limit: Growth is 1,000 an hour; a plan change applies at once; unlimited plans get no fields", async () => {
    const t = await srv.newTenant(undefined, { plan: "growth" });
    const r = await call(`${srv.url}/v1/memories`, t.key);
    assert.equal(r.headers.get("ratelimit-policy"), policies("growth", 1000, 25_000, 3600));
    assert.equal(rateLimitOf(r).remaining, 999);
    // Overriding the per-key quota scales the tenant-wide one with it (Growth: 25 ×).
    await srv.admin.updateTenant(t.tenantId, { overrides: { requests_per_window: 2 } });
    const after = await call(`${srv.url}/v1/memories`, t.key);
    assert.equal(after.headers.get("ratelimit-policy"), policies("growth", 2, 50, 3600));
    await srv.admin.updateTenant(t.tenantId, {
      overrides: { requests_per_window: 2, tenant_requests_per_window: null },
    });
    const keyOnly = await call(`${srv.url}/v1/memories`, t.key);
    assert.equal(keyOnly.headers.get("ratelimit-policy"), '"growth";q=2;w=3600');
    await srv.admin.updateTenant(t.tenantId, { plan: "enterprise", overrides: {} });
    for (let i = 0; i < 4; i++) {
      const free = await call(`${srv.url}/v1/memories`, t.key);
      assert.equal(free.status, 200);
      assert.equal(free.headers.get("ratelimit-policy"), null);
    }
  });
});

test("ENGRAM_RATE_LIMITS=off turns rate limiting and its fields off", async () => {
  const srv = await startTestServer({ ENGRAM_RATE_LIMITS: "off" });
  try {
    const { key } = await limitedTenant(srv, 5);
    for (let i = 0; i < 10; i++) {
      const r = await call(`${srv.url}/v1/memories`, key);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("ratelimit"), null);
      assert.equal(r.headers.get("ratelimit-policy"), null);
    }
  } finally {
    await srv.close();
  }
});

describe("rate limits, cluster (Redis)", () => {
  let redis: TestRedis;
  before(async () => {
    redis = await createTestRedis();
  });
  after(() => redis.close());

  test("two servers on one database and one Redis share a key's limit", async () => {
    await withTwoServers(redis.env, async (a, b) => {
      const { key } = await limitedTenant(a, 6);
      const other = await limitedTenant(a, 6);
      const seen: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await call(`${(i % 2 ? b : a).url}/v1/memories`, key);
        assert.equal(r.status, 200);
        seen.push(rateLimitOf(r).remaining);
      }
      assert.deepEqual(seen, [5, 4, 3, 2, 1, 0], "one count across both servers");
      assertLimited(await call(`${a.url}/v1/memories`, key), 60);
      assertLimited(await call(`${b.url}/v1/memories`, key), 60);
      assert.equal((await call(`${b.url}/v1/memories`, other.key)).status, 200);
      // The count lives in Redis under this deployment's prefix, not in either process.
      assert.ok((await redis.keys()).some((k) => k.startsWith(`${redis.prefix}rl:`)));
      for (const s of [a, b]) assert.equal(s.server.counters.get("rate_limit_fallbacks_total"), 0);
    });
  });

  test("two servers share a tenant's bucket across its keys; the refused request's key request is given back", async () => {
    await withTwoServers(redis.env, async (a, b) => {
      const t = await limitedTenant(a, 4, 6);
      const other = await limitedTenant(a, 4, 6);
      const second = (await a.admin.createKey(t.tenantId, {})).key;
      for (let i = 0; i < 3; i++) {
        assert.equal((await call(`${a.url}/v1/memories`, t.key)).status, 200);
        assert.equal((await call(`${b.url}/v1/memories`, second)).status, 200);
      }
      // Six requests through two processes spent the tenant's six.
      for (const [srv, key] of [
        [a, t.key],
        [b, second],
        [b, t.key],
      ] as const) {
        const refused = await call(`${srv.url}/v1/memories`, key);
        assertLimited(refused, 60);
        assert.equal(rateLimitOf(refused).policy, "starter-tenant");
      }
      assert.equal((await call(`${b.url}/v1/memories`, other.key)).status, 200);
      const keys = await redis.keys();
      assert.ok(
        keys.some((k) => k.includes(`tenant:${t.tenantId}`)),
        keys.join(" "),
      );
      // The refused requests gave their keys' requests back: each key still has 4 − 3 left.
      await a.admin.updateTenant(t.tenantId, {
        overrides: { requests_per_window: 4, window_seconds: 60, tenant_requests_per_window: 100 },
      });
      for (const key of [t.key, second]) {
        const r = await call(`${b.url}/v1/memories`, key);
        assert.deepEqual(
          [r.status, rateLimitOf(r).policy, rateLimitOf(r).remaining],
          [200, "starter", 0],
        );
      }
      for (const s of [a, b]) assert.equal(s.server.counters.get("rate_limit_fallbacks_total"), 0);
    });
  });
});

test("with REDIS_URL where nothing listens, the API serves, limits per process, reports degraded and does not crash", async () => {
  const port = await freePort();
  const srv = await startTestServer({
    REDIS_URL: `redis://127.0.0.1:${port}`,
  });
  try {
    const ready = await fetch(`${srv.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      status: "degraded",
      checks: { database: "ok", redis: "down" },
    });

    const { key, tenantId } = await limitedTenant(srv, 10);
    for (let i = 0; i < 10; i++) {
      const r = await call(`${srv.url}/v1/memories`, key);
      assert.equal(r.status, 200);
      assert.equal(rateLimitOf(r).remaining, 9 - i);
    }
    assertLimited(await call(`${srv.url}/v1/memories`, key), 60);

    // Caches fall back to the database and the model, with the same answers.
    const other = (await srv.admin.createKey(tenantId, {})).key;
    const added = await call(`${srv.url}/v1/memories`, other, "POST", { text: "Ada likes tea" });
    assert.equal(added.status, 201);
    const id = (added.body.results as { id: string }[])[0]?.id;
    assert.equal((await call(`${srv.url}/v1/memories/${id}`, other)).body.memory, "Ada likes tea");
    const patched = await call(`${srv.url}/v1/memories/${id}`, other, "PATCH", {
      text: "Ada likes coffee",
    });
    assert.equal(patched.status, 200);
    assert.equal(
      (await call(`${srv.url}/v1/memories/${id}`, other)).body.memory,
      "Ada likes coffee",
    );
    for (let i = 0; i < 2; i++) {
      const found = await call(`${srv.url}/v1/memories/search`, other, "POST", { query: "drinks" });
      assert.equal(found.status, 200);
      assert.equal((found.body.results as unknown[]).length, 1);
    }

    // Reconnection attempts keep failing in the background without crashing the process.
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal((await call(`${srv.url}/v1/memories/${id}`, other)).status, 200);
    const counters = srv.server.counters.snapshot();
    assert.ok(
      counters.redis_errors_total >= 2,
      `redis_errors_total ${counters.redis_errors_total}`,
    );
    assert.ok(counters.rate_limit_fallbacks_total >= 11);
    assert.equal(counters.memory_cache_hits_total, 0);
    assert.equal(counters.query_cache_shared_hits_total, 0);
    assert.equal(counters.query_cache_hits_total, 1);
  } finally {
    await srv.close();
  }
});
