import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { call, type Reply } from "../testing/http.ts";
import { createTestRedis, type TestRedis } from "../testing/test-redis.ts";
import {
  ADMIN_TOKEN,
  startTestServer,
  type TestServer,
  withTwoServers,
} from "../testing/test-server.ts";
import { addressGroup } from "./auth-throttle.ts";

/** Well-formed keys that no tenant has (the lookup runs and finds nothing). */
const badKey = (i: number) => `egm_${String(i).padStart(43, "x")}`;
const WRONG_ADMIN = `${ADMIN_TOKEN}-wrong`;

function assertThrottled(r: Reply, windowSeconds: number) {
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.match(r.contentType, /^application\/problem\+json/);
  assert.equal(r.body.code, "rate_limited");
  assert.match(String(r.body.detail), /Too many failed authentication attempts from this address/);
  const retryAfter = Number(r.headers.get("retry-after"));
  assert.ok(retryAfter >= 1 && retryAfter <= windowSeconds, `Retry-After ${retryAfter}`);
  // Not a plan's quota: no RateLimit fields.
  assert.equal(r.headers.get("ratelimit"), null);
}

const assert401 = (r: Reply) => assert.equal(r.status, 401, JSON.stringify(r.body));

describe("failed-authentication throttle, embedded (in-memory)", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      ENGRAM_AUTH_FAILURE_LIMIT: "3",
      ENGRAM_AUTH_FAILURE_WINDOW_S: "60",
      // The proxy is this test (127.0.0.1): X-Forwarded-For names the client.
      ENGRAM_TRUST_PROXY: "127.0.0.1",
    });
  });
  after(() => srv.close());

  /** A request from `ip` (through the trusted proxy) with a bearer token. */
  const from = (ip: string, token: string, path = "/v1/memories") =>
    call(`${srv.url}${path}`, token, "GET", undefined, { "x-forwarded-for": ip });

  test("happy: successful authentications are not counted", async () => {
    const t = await srv.newTenant();
    for (let i = 0; i < 10; i++) assert.equal((await from("198.51.100.1", t.key)).status, 200);
    for (let i = 0; i < 10; i++) {
      assert.equal((await from("198.51.100.1", ADMIN_TOKEN, "/v1/admin/plans")).status, 200);
    }
    assert401(await from("198.51.100.1", badKey(1)));
    assert401(await from("198.51.100.1", badKey(2)));
    assert.equal((await from("198.51.100.1", t.key)).status, 200, "2 failures of 3: still allowed");
  });

  test("security: after N bad keys the address gets 429 with Retry-After before any lookup, for a valid key too", async () => {
    const t = await srv.newTenant();
    const before = srv.server.counters.snapshot();
    for (let i = 0; i < 3; i++) assert401(await from("198.51.100.2", badKey(i)));
    assertThrottled(await from("198.51.100.2", badKey(9)), 60);
    // The answer cannot tell a right credential from a wrong one: no lookup, no comparison.
    assertThrottled(await from("198.51.100.2", t.key), 60);
    assertThrottled(await from("198.51.100.2", ADMIN_TOKEN, "/v1/admin/plans"), 60);
    const now = srv.server.counters.snapshot();
    assert.equal(now.auth_failures_total - before.auth_failures_total, 3);
    assert.equal(now.auth_throttled_total - before.auth_throttled_total, 3);
    // Without a credential nothing is guessed: still 401, not counted.
    const none = await fetch(`${srv.url}/v1/memories`, {
      headers: { "x-forwarded-for": "198.51.100.2" },
    });
    assert.equal(none.status, 401);
    // Another address is not throttled, and the tenant's key works from it.
    assert.equal((await from("198.51.100.3", t.key)).status, 200);
  });

  test("security: bad admin tokens count too, on the same address count as bad keys", async () => {
    assert401(await from("198.51.100.4", WRONG_ADMIN, "/v1/admin/tenants"));
    assert401(await from("198.51.100.4", badKey(1)));
    assert401(await from("198.51.100.4", `${WRONG_ADMIN}2`, "/v1/admin/plans"));
    assertThrottled(await from("198.51.100.4", WRONG_ADMIN, "/v1/admin/tenants"), 60);
    // The right admin token is refused the same way while the address is throttled.
    assertThrottled(await from("198.51.100.4", ADMIN_TOKEN, "/v1/admin/tenants"), 60);
    assert.equal((await from("198.51.100.5", ADMIN_TOKEN, "/v1/admin/plans")).status, 200);
  });

  test("a valid tenant key on an admin route and a suspended tenant's key are not failures", async () => {
    const t = await srv.newTenant();
    const suspended = await srv.newTenant();
    await srv.admin.updateTenant(suspended.tenantId, { suspended: true });
    for (let i = 0; i < 4; i++) {
      assert.equal((await from("198.51.100.6", t.key, "/v1/admin/plans")).status, 403);
      assert.equal((await from("198.51.100.6", suspended.key)).status, 403);
    }
    assert.equal((await from("198.51.100.6", t.key)).status, 200);
  });

  test("IPv6 addresses count per /64: one host cannot rotate through its addresses", async () => {
    assert401(await from("2001:db8:0:7::1", badKey(1)));
    assert401(await from("2001:db8:0:7::2", badKey(2)));
    assert401(await from("2001:db8:0:7:ffff::3", badKey(3)));
    assertThrottled(await from("2001:db8:0:7::abcd", badKey(4)), 60);
    const t = await srv.newTenant();
    assert.equal((await from("2001:db8:0:8::1", t.key)).status, 200, "another /64");
  });
});

test("addressGroup: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64", () => {
  assert.equal(addressGroup("203.0.113.9"), "203.0.113.9");
  assert.equal(addressGroup("::ffff:203.0.113.9"), "203.0.113.9");
  assert.equal(addressGroup("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(addressGroup("2001:DB8:1:2::9"), "2001:db8:1:2::/64");
  assert.equal(addressGroup("::1"), "0:0:0:0::/64");
});

test("without ENGRAM_TRUST_PROXY, X-Forwarded-For is ignored: a throttled client cannot claim another address", async () => {
  const srv = await startTestServer({ ENGRAM_AUTH_FAILURE_LIMIT: "2" });
  try {
    const t = await srv.newTenant();
    for (let i = 0; i < 2; i++) assert401(await call(`${srv.url}/v1/memories`, badKey(i)));
    for (const ip of ["203.0.113.1", "203.0.113.2"]) {
      assertThrottled(
        await call(`${srv.url}/v1/memories`, t.key, "GET", undefined, { "x-forwarded-for": ip }),
        300,
      );
    }
  } finally {
    await srv.close();
  }
});

test("the address may try again once the window ends; ENGRAM_AUTH_FAILURE_LIMIT=0 turns the throttle off", async () => {
  const srv = await startTestServer({
    ENGRAM_AUTH_FAILURE_LIMIT: "2",
    ENGRAM_AUTH_FAILURE_WINDOW_S: "1",
  });
  const off = await startTestServer({ ENGRAM_AUTH_FAILURE_LIMIT: "0" });
  try {
    const t = await srv.newTenant();
    for (let i = 0; i < 2; i++) assert401(await call(`${srv.url}/v1/memories`, badKey(i)));
    assertThrottled(await call(`${srv.url}/v1/memories`, t.key), 1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal((await call(`${srv.url}/v1/memories`, t.key)).status, 200);

    for (let i = 0; i < 30; i++) assert401(await call(`${off.url}/v1/memories`, badKey(i)));
    assert.equal(off.server.counters.get("auth_throttled_total"), 0);
  } finally {
    await off.close();
    await srv.close();
  }
});

describe("failed-authentication throttle, cluster (Redis)", () => {
  let redis: TestRedis;
  before(async () => {
    redis = await createTestRedis();
  });
  after(() => redis.close());

  test("two servers share an address's failures: throttled on both, counted in Redis", async () => {
    await withTwoServers({ ...redis.env, ENGRAM_AUTH_FAILURE_LIMIT: "3" }, async (a, b) => {
      const t = await a.newTenant();
      assert401(await call(`${a.url}/v1/memories`, badKey(1)));
      assert401(await call(`${b.url}/v1/admin/plans`, WRONG_ADMIN));
      assert401(await call(`${a.url}/v1/memories`, badKey(2)));
      assertThrottled(await call(`${b.url}/v1/memories`, t.key), 300);
      assertThrottled(await call(`${a.url}/v1/admin/plans`, ADMIN_TOKEN), 300);
      const keys = await redis.keys();
      assert.ok(
        keys.some((k) => k.startsWith(`${redis.prefix}authfail:`)),
        keys.join(" "),
      );
      for (const s of [a, b]) assert.equal(s.server.counters.get("rate_limit_fallbacks_total"), 0);
    });
  });
});
