import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { EngramClient } from "@engram/sdk";
import { startTestServer } from "../testing/test-server.ts";

test("an embedded server searches its stored memories before taking requests, for ENGRAM_WARMUP_MS", {
  timeout: 180_000,
}, async () => {
  const first = await startTestServer();
  const { dataDir } = first;
  let key = "";
  let usage: unknown;
  try {
    try {
      assert.equal(first.server.warmUp.searches, 0, "nothing stored: no warm-up");
      const tenant = await first.newTenant();
      key = tenant.key;
      await tenant.client.batchAddMemories({
        memories: [
          { text: "Alice started learning pottery in Lisbon", user_id: "alice" },
          { text: "Bob gave up chess after work", user_id: "bob" },
          { text: "Carol is planning a kayaking trip near the lake" },
        ],
      });
      usage = (await tenant.client.getUsage()).metrics;
    } finally {
      await first.close(true);
    }

    const second = await startTestServer({ ENGRAM_DATA_DIR: dataDir, ENGRAM_WARMUP_MS: "1500" });
    try {
      const { searches, ms } = second.server.warmUp;
      // It searches until the budget is spent (each variant: ranked or plain, scoped or not).
      assert.ok(searches >= 4, `searches ${searches}`);
      assert.ok(ms >= 1500 && ms < 1500 + 15_000, `ms ${ms}`);
      // It only reads: the tenant's usage and memories are as they were; search answers.
      const api = new EngramClient({ baseUrl: second.url, token: key });
      assert.deepEqual((await api.getUsage()).metrics, usage);
      assert.equal((await api.listMemories()).results.length, 3);
      const found = await api.searchMemories({ query: "Who learns pottery?", limit: 1 });
      assert.match(found.results[0]?.memory ?? "", /pottery/);
    } finally {
      await second.close(true);
    }

    const off = await startTestServer({ ENGRAM_DATA_DIR: dataDir, ENGRAM_WARMUP_MS: "0" });
    try {
      assert.deepEqual(off.server.warmUp, { searches: 0, ms: 0 }, "turned off");
    } finally {
      await off.close(true);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
