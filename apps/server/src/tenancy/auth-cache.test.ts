import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createAuthCache } from "./auth-cache.ts";
import type { AuthRow } from "./key-store.ts";

const row = (tenant: string): AuthRow => ({
  key_id: "key_1",
  tenant_id: tenant,
  project_id: "prj_1",
  scopes: ["memories:read"],
  expires_at: null,
  last_used_at: null,
  plan: "developer",
  overrides: {},
  suspended_at: null,
  suspended_reason: null,
});

describe("auth cache (embedded mode's remembered key lookups)", () => {
  test("a lookup is remembered until a change commits; then the database is read again", async () => {
    const cache = createAuthCache();
    let loads = 0;
    const load = async () => {
      loads += 1;
      return row(`ten_${loads}`);
    };
    assert.equal((await cache.lookup("h", load))?.tenant_id, "ten_1");
    assert.equal((await cache.lookup("h", load))?.tenant_id, "ten_1");
    assert.equal(loads, 1);
    cache.changed();
    assert.equal((await cache.lookup("h", load))?.tenant_id, "ten_2");
    assert.equal(loads, 2);
  });

  test("unknown keys are never remembered", async () => {
    const cache = createAuthCache();
    let loads = 0;
    const none = async () => {
      loads += 1;
      return undefined;
    };
    assert.equal(await cache.lookup("h", none), undefined);
    assert.equal(await cache.lookup("h", none), undefined);
    assert.equal(loads, 2);
  });

  test("a lookup that read before a change and returns after it answers but is not remembered", async () => {
    const cache = createAuthCache();
    let release: (r: AuthRow) => void = () => {};
    const slow = cache.lookup("h", () => new Promise<AuthRow>((resolve) => (release = resolve)));
    cache.changed(); // a revocation commits while the lookup is in flight
    release(row("ten_stale"));
    assert.equal((await slow)?.tenant_id, "ten_stale");
    let loads = 0;
    const fresh = await cache.lookup("h", async () => {
      loads += 1;
      return row("ten_fresh");
    });
    assert.equal(fresh?.tenant_id, "ten_fresh");
    assert.equal(loads, 1, "the stale row was not remembered");
  });
});
