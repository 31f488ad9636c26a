// `npm run bench:tenancy`: tenant provisioning latency, and what quotas + metering + rate limiting
// cost on one add, each measured with and without them in the same run, on PGlite (embedded) and
// PostgreSQL + Redis (cluster; needs scripts/services.sh). Writes bench/RESULTS-tenancy.md.
import { writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import {
  applyUsage,
  createCounters,
  createLimiterSet,
  createMemoryStore,
  createRateLimiter,
  createRedisConnection,
  loadPlans,
  newId,
} from "@engram/server";
import type { Database } from "@engram/server/db";
import {
  ADMIN_TOKEN,
  call,
  createTestRedis,
  draftMemory,
  openTestDatabase,
  projectOf,
  seedTenant,
  startPostgresTestServer,
  startTestServer,
  type TestServer,
} from "@engram/server/testing";
import { describeCommit } from "./lib/commit.ts";
import { memoryText } from "./lib/corpus.ts";
import { ms, percentile } from "./lib/stats.ts";

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "600" },
    "skip-postgres": { type: "boolean", default: false },
  },
});
const N = Number(args.n);
const MODEL = { id: "bench-512", dimension: 512 };
const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

interface Stat {
  p50: number;
  p99: number;
  n: number;
}
const stat = (xs: number[]): Stat => ({
  p50: percentile(xs, 50),
  p99: percentile(xs, 99),
  n: xs.length,
});
const fmt = (s: Stat) => `${ms(s.p50)} / ${ms(s.p99)}`;

function randomVector(seed: number): string {
  let x = seed * 2654435761 + 1;
  const v = Array.from({ length: MODEL.dimension }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
  const n = Math.hypot(...v);
  return `[${v.map((a) => (a / n).toFixed(6)).join(",")}]`;
}

/** Times `fn` n times, alternating A and B (A first on even i) so drift hits both alike. */
async function interleaved(
  n: number,
  a: (i: number) => Promise<unknown>,
  b: (i: number) => Promise<unknown>,
) {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < n; i++) {
    for (const [fn, out] of (i % 2
      ? [
          [b, tb],
          [a, ta],
        ]
      : [
          [a, ta],
          [b, tb],
        ]) as [typeof a, number[]][]) {
      const t = performance.now();
      await fn(i);
      out.push(performance.now() - t);
    }
  }
  return { a: stat(ta), b: stat(tb), diffs: ta.map((x, i) => x - (tb[i] as number)) };
}

interface BackendResult {
  name: string;
  provision: Stat;
  adminRead: Stat;
  httpAdd: { metered: Stat; unmetered: Stat; medianDiff: number };
  store: { metered: Stat; unmetered: Stat; medianDiff: number };
  limiter: Stat;
}

async function measure(
  name: string,
  start: (env: Record<string, string>) => Promise<TestServer>,
  openDb: () => Promise<Database>,
  redisEnv: Record<string, string> | undefined,
): Promise<BackendResult> {
  log(`${name}: servers`);
  const metered = await start({ ...redisEnv });
  const unmetered = await start({ ...redisEnv, ENGRAM_METERING: "off", ENGRAM_RATE_LIMITS: "off" });
  try {
    log(`${name}: adds through HTTP ×${N} each, interleaved`);
    // Growth, with a rate limit so high it never refuses: the limiter still counts every request.
    const m = await metered.newTenant(undefined, {
      plan: "growth",
      overrides: { requests_per_window: 1_000_000_000, window_seconds: 3600 },
    });
    const u = await unmetered.newTenant(undefined, { plan: "growth" });
    const add = (srv: TestServer, key: string, text: string) =>
      call(`${srv.url}/v1/memories`, key, "POST", { text, user_id: "u" }).then((r) => {
        if (r.status !== 201) throw new Error(`add: ${r.status} ${JSON.stringify(r.body)}`);
      });
    const http = await interleaved(
      N,
      (i) => add(metered, m.key, memoryText(700_000_000 + i)),
      (i) => add(unmetered, u.key, memoryText(700_000_000 + i)),
    );

    // After the adds, so both servers' databases were alike while they were compared.
    log(`${name}: provisioning ×${N}`);
    const provisionTimes: number[] = [];
    const readTimes: number[] = [];
    for (let i = 0; i < N; i++) {
      let t = performance.now();
      const r = await call(`${metered.url}/v1/admin/tenants`, ADMIN_TOKEN, "POST", {
        name: `bench-${i}`,
        plan: "growth",
      });
      provisionTimes.push(performance.now() - t);
      if (r.status !== 201) throw new Error(`provisioning: ${r.status} ${JSON.stringify(r.body)}`);
      t = performance.now();
      const g = await call(`${metered.url}/v1/admin/tenants/${r.body.id}`, ADMIN_TOKEN);
      readTimes.push(performance.now() - t);
      if (g.status !== 200) throw new Error(`read: ${g.status}`);
    }

    log(`${name}: store inserts in-process ×${N} each, interleaved`);
    const db = await openDb();
    let storeResult: BackendResult["store"];
    try {
      const store = createMemoryStore(db, MODEL);
      const tm = await seedTenant(db, "metered");
      const tu = await seedTenant(db, "unmetered");
      const plan = loadPlans().effective("growth", {});
      const row = (i: number, tag: string) =>
        draftMemory(`${tag} ${memoryText(800_000_000 + i)}`, randomVector(i), { userId: "u" });
      const s = await interleaved(
        N,
        (i) =>
          store.insertMemories(tm, projectOf(tm), [row(i, "m")], undefined, (tx, d) =>
            applyUsage(
              tx,
              {
                tenantId: tm,
                projectId: projectOf(tm),
                keyId: null,
                requestId: newId("req"),
                plan,
              },
              "memory.add",
              d,
            ),
          ),
        (i) => store.insertMemories(tu, projectOf(tu), [row(i, "u")]),
      );
      storeResult = { metered: s.a, unmetered: s.b, medianDiff: percentile(s.diffs, 50) };
    } finally {
      await db.close();
    }

    log(`${name}: rate limiter ×${N}`);
    const counters = createCounters();
    const redis = redisEnv
      ? createRedisConnection({
          url: redisEnv.REDIS_URL as string,
          prefix: `${redisEnv.ENGRAM_REDIS_PREFIX}bench:`,
          counters,
        })
      : undefined;
    await redis?.connect({ warn() {}, info() {} });
    const limiter = createRateLimiter(createLimiterSet({ redis, counters }), counters);
    const limiterTimes: number[] = [];
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      await limiter.consume("key_bench", { name: "growth", points: 1e9, windowSeconds: 3600 });
      limiterTimes.push(performance.now() - t);
    }
    await redis?.close();

    return {
      name,
      provision: stat(provisionTimes),
      adminRead: stat(readTimes),
      httpAdd: { metered: http.a, unmetered: http.b, medianDiff: percentile(http.diffs, 50) },
      store: storeResult,
      limiter: stat(limiterTimes),
    };
  } finally {
    await unmetered.close();
    await metered.close();
  }
}

async function main() {
  const started = Date.now();
  const load0 = loadavg();
  const results: BackendResult[] = [];
  results.push(
    await measure(
      "embedded (PGlite, in-memory limiter)",
      (env) => startTestServer(env),
      () => openTestDatabase("pglite", MODEL),
      undefined,
    ),
  );
  if (!args["skip-postgres"]) {
    const redis = await createTestRedis();
    try {
      results.push(
        await measure(
          "cluster (PostgreSQL 17 + pgvector, Redis limiter)",
          (env) => startPostgresTestServer(env),
          () => openTestDatabase("postgres", MODEL),
          redis.env,
        ),
      );
    } finally {
      await redis.close();
    }
  }
  const load1 = loadavg();
  const commit = await describeCommit();
  const lines = [
    "# Tenancy benchmark: provisioning, and the cost of quotas + metering + rate limiting",
    "",
    `- Date: ${new Date().toISOString()}; run took ${((Date.now() - started) / 60000).toFixed(1)} min`,
    `- Commit: ${commit}`,
    `- Command: \`npm run bench:tenancy -- --n ${N}\``,
    `- Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}. Load average (1, 5, 15 min) at the start ${load0.map((x) => x.toFixed(2)).join(", ")}, at the end ${load1.map((x) => x.toFixed(2)).join(", ")}. The servers run in this process (one event loop with the load generator); everything shares 2 cores.`,
    "- Latencies in ms, p50 / p99 (nearest rank), sequential (c=1). *With and without* runs alternate request by request (A B, B A, …) so drift on a noisy machine hits both alike; *median difference* is the median of the per-pair differences.",
    "",
    "| backend | provisioning (POST /v1/admin/tenants) | baseline: admin read of a tenant | add via HTTP, with quotas + metering + rate limit | add via HTTP, without | median difference | store insert, with quota + metering | store insert, without | median difference | rate limiter alone |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.name} | ${fmt(r.provision)} | ${fmt(r.adminRead)} | ${fmt(r.httpAdd.metered)} | ${fmt(r.httpAdd.unmetered)} | ${ms(r.httpAdd.medianDiff)} | ${fmt(r.store.metered)} | ${fmt(r.store.unmetered)} | ${ms(r.store.medianDiff)} | ${fmt(r.limiter)} |`,
    ),
    "",
    `n = ${N} per cell. Aims (issue 4): provisioning under 50 ms (the seeds ask < 500 ms p50 / 1 s p99); quotas + metering + rate limiting under 2 ms at p50 on one add.`,
    "",
    "What the cells are and what bounds them:",
    "",
    "- *Provisioning* is one HTTP request whose transaction inserts the tenant, its default project, its usage row, its first key (a random secret, SHA-256) and the audit row. The baseline is the cheapest admin call (admin-token check, one read transaction), so the difference is the write transaction and its commit (an fsync on PostgreSQL; embedded, PGlite writes to a temporary data directory from this process).",
    "- *Add via HTTP* includes embedding the text (about 10 ms of CPU with the local model), so its difference is the end-to-end cost but noisy; the two servers are separate processes' worth of state in one process (each its own database).",
    "- *Store insert* is the memory store's insert transaction in-process with a precomputed vector: with the usage hook (conditional upsert of the month's operation counter, one usage event, the gauges update) against without. This is the database cost of quotas and metering, free of embedding noise.",
    "- *Rate limiter alone*: one `consume` of the per-plan limiter (rate-limiter-flexible; in memory embedded, a Redis round trip in cluster mode).",
    "",
  ];
  writeFileSync(new URL("./RESULTS-tenancy.md", import.meta.url), lines.join("\n"));
  log("wrote bench/RESULTS-tenancy.md");
}

await main();
process.exit(0);
