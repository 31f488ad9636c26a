import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

// Test harness, not app code: it may read the environment. The default is what
// scripts/services.sh starts and prints.
const REDIS_URL = process.env.ENGRAM_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export interface TestRedis {
  url: string;
  /** A key prefix unique to this run, so concurrent runs never see each other's keys. */
  prefix: string;
  /** REDIS_URL and ENGRAM_REDIS_PREFIX for startTestServer. */
  env: { REDIS_URL: string; ENGRAM_REDIS_PREFIX: string };
  /** A plain client on the same Redis, for assertions. */
  client: Redis;
  /** Every key under this run's prefix. */
  keys(): Promise<string[]>;
  /** Deletes this run's keys (and only those) and disconnects. */
  close(): Promise<void>;
}

/** The Redis that scripts/services.sh runs, under a fresh prefix. Unreachable fails loudly. */
export async function createTestRedis(): Promise<TestRedis> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  client.on("error", () => {}); // connect() reports the failure below
  try {
    await client.connect();
  } catch (err) {
    // Never skip: a missing Redis must fail the run.
    throw new Error(
      `Redis for the cluster-mode tests is not reachable at ${new URL(REDIS_URL).host} ` +
        `(${(err as Error).message}): start it with \`bash scripts/services.sh\``,
    );
  }
  const prefix = `engram-test:${Date.now()}-${randomBytes(4).toString("hex")}:`;
  async function keys(): Promise<string[]> {
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== "0");
    return found;
  }
  return {
    url: REDIS_URL,
    prefix,
    env: { REDIS_URL, ENGRAM_REDIS_PREFIX: prefix },
    client,
    keys,
    async close() {
      const mine = await keys();
      if (mine.length > 0) await client.del(...mine);
      await client.quit();
    },
  };
}
