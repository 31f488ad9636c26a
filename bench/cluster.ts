// `npm run bench:cluster`: cluster mode (PostgreSQL + pgvector + Redis) at 100k and 1M memories
// over 1,000 tenants. API processes are real `engram serve` children (DATABASE_URL as engram_app);
// load comes over loopback HTTP through the SDK. Same-run baselines: the raw embedder and the raw
// pgvector query (same SQL and settings as the API's vector side, as engram_app with the tenant
// context, through pg directly). Writes bench/RESULTS-cluster.md.
import { rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { EngramClient } from "@engram/sdk";
import {
  createMemorySearchStore,
  createMemoryStore,
  embeddingQuery,
  hashSecret,
  keywordQuery,
  vectorLiteral,
  vectorScanSettings,
} from "@engram/server";
import { openPostgresDatabase } from "@engram/server/db";
import { createLocalEmbedder, LOCAL_MODEL } from "@engram/server/embeddings";
import {
  draftMemory,
  freePort,
  SHARED_POSTGRES,
  spawnServer,
  tempDir,
  withPgClient,
} from "@engram/server/testing";
import { Redis } from "ioredis";
import pg from "pg";
import { describeCommit } from "./lib/commit.ts";
import { memoryText, QUERY_SPACE, queryText } from "./lib/corpus.ts";
import { type CpuShare, cpuText, withCpu } from "./lib/cpu.ts";
import {
  type BenchDatabase,
  type BenchTenant,
  BIG_EVERY,
  benchDatabase,
  MIX_WEIGHT,
  NOISE_SIGMA,
  USERS_PER_TENANT,
} from "./lib/pg-bench-db.ts";
import { type LoadResult, ms, percentile, rate, runLoad } from "./lib/stats.ts";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "100000,1000000" },
    tenants: { type: "string", default: "1000" },
    queries: { type: "string", default: "300" },
    pool: { type: "string", default: "4000" },
    fresh: { type: "boolean", default: false },
    "index-timeout-min": { type: "string", default: "40" },
  },
});
const SIZES = (args.sizes as string).split(",").map(Number);
const TENANTS = Number(args.tenants);
const Q = Number(args.queries);
const POOL = Number(args.pool);
const INGEST = 3000; // memories per batch-ingest measurement
const BATCH = 500;
const ADD_USER = "bench-add";
const REDIS_URL = process.env.ENGRAM_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const MODEL = LOCAL_MODEL;
const HOT = 50;

const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

// ---------------------------------------------------------------------------------------------
// API processes

interface Api {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** `engram serve` in cluster mode as engram_app; every process of a size shares one Redis prefix. */
async function startApi(appUrl: string, redisPrefix: string): Promise<Api> {
  const dir = tempDir("engram-bench-");
  const srv = await spawnServer(dir, await freePort(), {
    DATABASE_URL: appUrl,
    REDIS_URL,
    ENGRAM_REDIS_PREFIX: redisPrefix,
    ENGRAM_RATE_LIMITS: "off",
    ENGRAM_DATABASE_OWNER_URL: undefined, // the API processes never get the owner's URL
  });
  return {
    url: srv.url,
    pid: srv.child.pid as number,
    async stop() {
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const clients = new Map<string, EngramClient>();
function client(api: Api, tenant: BenchTenant): EngramClient {
  const k = `${api.url} ${tenant.key}`;
  let c = clients.get(k);
  if (!c) {
    c = new EngramClient({ baseUrl: api.url, token: tenant.key, timeoutMs: 600_000 });
    clients.set(k, c);
  }
  return c;
}

let firstError: string | undefined;
/** runLoad counts failures; keep the first one's message for the log. */
const noted =
  (fn: (i: number) => Promise<unknown>) =>
  (i: number): Promise<unknown> =>
    fn(i).catch((err: unknown) => {
      if (!firstError) {
        firstError = String(err);
        log(`first request error: ${firstError}`);
      }
      throw err;
    });

type Measured = LoadResult & { cpu: CpuShare };

// ---------------------------------------------------------------------------------------------
// Raw baselines (same run, same queries)

interface RawTimes {
  p50: number;
  p99: number;
  perSecond?: number;
}
const summary = (t: number[], seconds?: number): RawTimes => ({
  p50: percentile(t, 50),
  p99: percentile(t, 99),
  ...(seconds ? { perSecond: t.length / seconds } : {}),
});

/** One text per call in this process (its own worker thread), timing each call. */
async function rawEmbed(texts: readonly string[]) {
  const embedder = await createLocalEmbedder();
  try {
    await embedder.embed(["warm up the model"]);
    const times: number[] = [];
    const vectors: string[] = [];
    for (const text of texts) {
      const t = performance.now();
      const [v] = await embedder.embed([embeddingQuery(text)]); // what the API embeds
      times.push(performance.now() - t);
      vectors.push(vectorLiteral(v as Float32Array));
    }
    return { ...summary(times), vectors };
  } finally {
    await embedder.close();
  }
}

/** The raw embedder's batch rate (500 texts per call), once per run. */
async function rawEmbedBatchRate() {
  const embedder = await createLocalEmbedder();
  try {
    const texts = Array.from({ length: 5000 }, (_, i) => memoryText(90_000_000 + i));
    await embedder.embed(texts.slice(0, 10));
    const t = performance.now();
    for (let i = 0; i < texts.length; i += BATCH) await embedder.embed(texts.slice(i, i + BATCH));
    return texts.length / ((performance.now() - t) / 1000);
  } finally {
    await embedder.close();
  }
}

/** The `vec` candidate list of memory-search-store.ts for an unscoped, unfiltered search. */
const VECTOR_SQL = `SELECT id, embedding::vector(${MODEL.dimension}) <=> $2::vector(${MODEL.dimension}) AS dist
  FROM memories WHERE tenant_id = $1 AND embedding_model = '${MODEL.id}' ORDER BY dist LIMIT $3`;
/** What the API sets for limit 10 (search/fusion.ts): 40 candidates, ef_search 40. */
const CANDIDATES = 40;
/** The API's own HNSW settings for those candidates (search/vector-scan.ts), as set_config calls. */
const HNSW_SETTINGS = Object.entries(vectorScanSettings(CANDIDATES))
  .map(([name, value]) => `set_config('${name}', '${value}', true)`)
  .join(", ");

interface Probe {
  tenantId: string;
  vector: string;
  query: string;
}

/**
 * The API's vector side alone through pg as engram_app: BEGIN with the tenant context and HNSW
 * settings (one script), the candidate query, COMMIT (the transaction is timed, and the statement
 * on its own).
 */
async function rawVector(appUrl: string, probes: readonly Probe[], concurrency: number) {
  const pool = new pg.Pool({
    connectionString: appUrl,
    max: concurrency,
    application_name: "engram-bench-raw",
  });
  const tx: number[] = [];
  const stmt: number[] = [];
  try {
    // Open the connections before timing.
    await Promise.all(
      Array.from({ length: concurrency }, async () => (await pool.connect()).release()),
    );
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < probes.length; i = next++) {
          const p = probes[i] as Probe;
          const t = performance.now();
          const c = await pool.connect();
          try {
            // One round trip for BEGIN, the tenant context and the HNSW settings, as the API sends.
            await c.query(
              `BEGIN; SELECT set_config('app.tenant_id', ${c.escapeLiteral(p.tenantId)}, true), ${HNSW_SETTINGS}`,
            );
            const s = performance.now();
            const r = await c.query(VECTOR_SQL, [p.tenantId, p.vector, CANDIDATES]);
            stmt.push(performance.now() - s);
            await c.query("COMMIT");
            if (r.rowCount === 0) throw new Error("raw query returned no rows");
          } finally {
            c.release();
          }
          tx.push(performance.now() - t);
        }
      }),
    );
    return { tx: summary(tx, (performance.now() - start) / 1000), statement: summary(stmt) };
  } finally {
    await pool.end();
  }
}

const AUTH_SQL = `SELECT key_id, tenant_id, project_id, scopes, expires_at, last_used_at, plan,
  overrides, suspended_at, suspended_reason FROM engram_authenticate($1)`;

/**
 * The API-key lookup as engram_app, c=1, both ways: as its own transaction (BEGIN, tenant context,
 * the lookup, COMMIT: what the API did before ADR 0041) and as one statement (what it does now).
 */
async function rawAuth(appUrl: string, keys: readonly string[]) {
  const pool = new pg.Pool({
    connectionString: appUrl,
    max: 1,
    application_name: "engram-bench-raw",
  });
  const tx: number[] = [];
  const statement: number[] = [];
  try {
    await (await pool.connect()).release();
    for (const key of keys) {
      const hash = hashSecret(key);
      let t = performance.now();
      const c = await pool.connect();
      try {
        await c.query("BEGIN");
        await c.query("SELECT set_config('app.tenant_id', '', true)");
        await c.query(AUTH_SQL, [hash]);
        await c.query("COMMIT");
      } finally {
        c.release();
      }
      tx.push(performance.now() - t);
      t = performance.now();
      const r = await pool.query(AUTH_SQL, [hash]);
      statement.push(performance.now() - t);
      if (r.rowCount !== 1) throw new Error("the bench key did not authenticate");
    }
    return { tx: summary(tx), statement: summary(statement) };
  } finally {
    await pool.end();
  }
}

/**
 * Single adds, one of each in turn: verbatim, and `infer: true` with the local engine (no LLM
 * configured), so both see the same machine and database state.
 */
async function pairedAdds(api: Api, tenantAt: (i: number) => BenchTenant, n: number) {
  const times = { verbatim: [] as number[], infer: [] as number[] };
  for (let i = 0; i < n; i++) {
    for (const kind of ["verbatim", "infer"] as const) {
      const text = memoryText(550_000_000 + 2 * i + (kind === "infer" ? 1 : 0));
      const t = performance.now();
      await client(api, tenantAt(i)).addMemory({
        text,
        user_id: ADD_USER,
        ...(kind === "infer" ? { infer: true } : {}),
      });
      times[kind].push(performance.now() - t);
    }
  }
  return { verbatim: summary(times.verbatim), infer: summary(times.infer) };
}

/** The server's own hybrid search statement (vector + keyword + fusion), in-process, no HTTP. */
async function inProcessHybrid(appUrl: string, probes: readonly Probe[]) {
  const db = openPostgresDatabase({
    url: appUrl,
    ownerUrl: undefined,
    poolMax: 10,
    statementTimeoutMs: 10_000,
  });
  const search = createMemorySearchStore(db, MODEL);
  const times: number[] = [];
  try {
    await db.ping();
    for (const p of probes) {
      const [project] = await db.withTenant(p.tenantId, (tx) =>
        tx.query<{ id: string }>("SELECT id FROM projects WHERE is_default"),
      );
      const t = performance.now();
      await search(p.tenantId, {
        scope: { projectId: project?.id as string },
        vector: p.vector,
        keywords: keywordQuery(p.query),
        limit: 10,
        mode: "hybrid",
      });
      times.push(performance.now() - t);
    }
  } finally {
    await db.close();
  }
  return summary(times);
}

/** The memory store's insert in-process as engram_app (row, postings, term statistics, history). */
async function inProcessInsert(
  appUrl: string,
  tenantAt: (i: number) => BenchTenant,
  vectors: readonly string[],
  n: number,
) {
  const db = openPostgresDatabase({
    url: appUrl,
    ownerUrl: undefined,
    poolMax: 10,
    statementTimeoutMs: 10_000,
  });
  const store = createMemoryStore(db, MODEL);
  const times: number[] = [];
  try {
    await db.ping();
    for (let i = 0; i < n; i++) {
      const text = memoryText(540_000_000 + i);
      const tenantId = tenantAt(i).tenantId;
      const [project] = await db.withTenant(tenantId, (tx) =>
        tx.query<{ id: string }>("SELECT id FROM projects WHERE is_default"),
      );
      const t = performance.now();
      await store.insertMemories(tenantId, project?.id as string, [
        draftMemory(text, vectors[i % vectors.length] as string, { userId: ADD_USER }),
      ]);
      times.push(performance.now() - t);
    }
  } finally {
    await db.close();
  }
  return summary(times);
}

/** Server-wide WAL and checkpoint counters (PostgreSQL 17 views; other databases' writes count too). */
interface WalCounters {
  bytes: number;
  fpi: number;
  checkpoints: number;
}
async function walCounters(url: string): Promise<WalCounters> {
  return withPgClient(url, async (c) => {
    const w = await c.query<{ b: string; f: string }>(
      "SELECT wal_bytes AS b, wal_fpi AS f FROM pg_stat_wal",
    );
    const cp = await c
      .query<{ n: string }>("SELECT num_timed + num_requested AS n FROM pg_stat_checkpointer")
      .catch(() => ({ rows: [{ n: "NaN" }] }));
    return {
      bytes: Number(w.rows[0]?.b),
      fpi: Number(w.rows[0]?.f),
      checkpoints: Number(cp.rows[0]?.n),
    };
  });
}
async function withWal<T>(url: string, fn: () => Promise<T>): Promise<T & { wal: WalCounters }> {
  const a = await walCounters(url);
  const result = await fn();
  const b = await walCounters(url);
  return {
    ...result,
    wal: {
      bytes: b.bytes - a.bytes,
      fpi: b.fpi - a.fpi,
      checkpoints: b.checkpoints - a.checkpoints,
    },
  };
}

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  "Relation Name"?: string;
  "Actual Rows"?: number;
  Plans?: PlanNode[];
}

/** EXPLAIN (ANALYZE, BUFFERS) of the raw vector query: the plan chosen and the work it did. */
async function explain(appUrl: string, p: Probe) {
  return withPgClient(appUrl, async (c) => {
    await c.query("BEGIN");
    try {
      await c.query("SELECT set_config('app.tenant_id', $1, true)", [p.tenantId]);
      await c.query(`SELECT ${HNSW_SETTINGS}`);
      const r = await c.query<{ "QUERY PLAN": [{ Plan: PlanNode; "Execution Time": number }] }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${VECTOR_SQL}`,
        [p.tenantId, p.vector, CANDIDATES],
      );
      const top = r.rows[0]?.["QUERY PLAN"][0];
      if (!top) return "no plan";
      const parts: string[] = [];
      const walk = (n: PlanNode) => {
        const on = n["Index Name"] ?? n["Relation Name"];
        parts.push(`${n["Node Type"]}${on ? ` (${on})` : ""} rows ${n["Actual Rows"]}`);
        for (const child of n.Plans ?? []) walk(child);
      };
      walk(top.Plan);
      const buffers = top.Plan as unknown as Record<string, number>;
      return `${parts.join(" → ")}; ${top["Execution Time"].toFixed(2)} ms; shared buffers hit ${buffers["Shared Hit Blocks"]}, read ${buffers["Shared Read Blocks"]}`;
    } finally {
      await c.query("ROLLBACK");
    }
  });
}

// ---------------------------------------------------------------------------------------------
// One size

interface SizeResult {
  size: number;
  db?: BenchDatabase;
  error?: string;
  dbBytes?: { table: number; hnsw: number };
  search: Record<string, Measured>;
  twoProcess: Record<string, Measured>;
  add?: Measured & { wal: WalCounters };
  /** The same single adds on a fresh API process with wal_compression = lz4 for this database. */
  addCompressed?: Measured & { wal: WalCounters };
  adds?: { verbatim: RawTimes; infer: RawTimes };
  context?: Measured;
  auth?: { tx: RawTimes; statement: RawTimes };
  big?: {
    tenant: number;
    search: Measured;
    embed: RawTimes;
    vector1: { tx: RawTimes; statement: RawTimes };
    hybrid: RawTimes;
    plan: string;
  };
  insert?: RawTimes;
  ingest: Record<string, { perSecond: number; cpu: CpuShare; wal: WalCounters }>;
  raw?: {
    embed: RawTimes;
    vector1: { tx: RawTimes; statement: RawTimes };
    vector16: { tx: RawTimes; statement: RawTimes };
    hybrid: RawTimes;
    plan: string;
  };
  cleanupSeconds?: number;
  /** Reading every relation of the database into the OS page cache before measuring. */
  prewarm?: { seconds: number; bytes: number };
}

/**
 * Reads every table and index of the bench database once (pg_prewarm's `read` mode: into the OS
 * page cache, not shared buffers), so that no phase pays for first reads from disk. This machine
 * reclaims cold page cache (a 1M-memory database built an hour before measured its cached
 * searches at p50 38.6 ms, its plans reading heap pages from disk, against 12.6 ms warm).
 */
async function prewarm(superuserUrl: string) {
  const t = performance.now();
  const bytes = await withPgClient(superuserUrl, async (c) => {
    await c.query("CREATE EXTENSION IF NOT EXISTS pg_prewarm");
    const r = await c.query<{ b: string }>(
      `SELECT coalesce(sum(pg_prewarm(c.oid, 'read') * current_setting('block_size')::bigint), 0) AS b
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 't') AND c.relpersistence = 'p'`,
    );
    return Number(r.rows[0]?.b);
  });
  return { seconds: (performance.now() - t) / 1000, bytes };
}

/**
 * Deletes the rows a run added through the API (user bench-add) the way the memory store deletes:
 * with their history, their keyword postings and their counts in the term statistics.
 */
async function cleanup(superuserUrl: string): Promise<number> {
  const t = performance.now();
  await withPgClient(superuserUrl, async (c) => {
    await c.query("BEGIN");
    await c.query(
      "DELETE FROM memory_history WHERE memory_id IN (SELECT id FROM memories WHERE user_id = $1)",
      [ADD_USER],
    );
    const deleted = await c.query(
      `WITH gone AS (
         DELETE FROM memories WHERE user_id = $1 RETURNING id, tenant_id, project_id, fts
       ), removed AS (
         DELETE FROM memory_terms t USING gone g, unnest(tsvector_to_array(g.fts)) AS l(lexeme)
         WHERE t.tenant_id = g.tenant_id AND t.project_id = g.project_id AND t.lexeme = l.lexeme
           AND t.memory_id = g.id
         RETURNING t.tenant_id, t.project_id, t.lexeme
       ), counts AS (
         SELECT tenant_id, project_id, lexeme, count(*) AS n FROM removed
         GROUP BY tenant_id, project_id, lexeme
         UNION ALL SELECT tenant_id, project_id, '', count(*) FROM gone GROUP BY tenant_id, project_id
       )
       UPDATE memory_term_stats s SET docs = s.docs - c.n
       FROM counts c
       WHERE s.tenant_id = c.tenant_id AND s.project_id = c.project_id AND s.lexeme = c.lexeme`,
      [ADD_USER],
    );
    await c.query("DELETE FROM memory_term_stats WHERE docs <= 0");
    await c.query("COMMIT");
    // The statement's count is of term-statistics rows updated: at least one per tenant with
    // deleted memories (its '' row), so 0 means nothing was deleted.
    if (!deleted.rowCount) return;
    // Vacuuming an HNSW index repairs the graph around deleted rows, which can take minutes on
    // a large one; autovacuum finishes the job later if this is cut short.
    await c.query("SET statement_timeout = '10min'");
    await c.query("VACUUM memories, memory_terms, memory_term_stats").catch((err: unknown) => {
      if ((err as { code?: string }).code !== "57014") throw err;
      log("VACUUM cut after 10 min; autovacuum will finish it");
    });
  });
  return (performance.now() - t) / 1000;
}

async function clearRedis(prefix: string) {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = "0";
    do {
      const [nextCursor, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = nextCursor;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

async function ingest(apis: Api[], tenants: BenchTenant[], clientsN: number, base: number) {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clientsN }, async (_, k) => {
      const api = apis[k % apis.length] as Api;
      const tenant = tenants[(tenants.length - 1 - k) % tenants.length] as BenchTenant;
      while (next < INGEST) {
        const lo = next;
        next = Math.min(next + BATCH, INGEST);
        const memories = [];
        for (let i = lo; i < next; i++)
          memories.push({ text: memoryText(base + i), user_id: ADD_USER });
        await client(api, tenant).batchAddMemories({ memories });
      }
    }),
  );
  return { perSecond: INGEST / ((performance.now() - start) / 1000) };
}

async function benchSize(size: number): Promise<SizeResult> {
  const result: SizeResult = { size, search: {}, twoProcess: {}, ingest: {} };
  let db: BenchDatabase;
  try {
    db = await benchDatabase({
      size,
      tenants: TENANTS,
      pool: POOL,
      fresh: Boolean(args.fresh),
      indexTimeoutMin: Number(args["index-timeout-min"]),
    });
  } catch (err) {
    log(`size ${size}: no data set: ${(err as Error).message}`);
    return { ...result, error: (err as Error).message };
  }
  result.db = db;
  const { name, tenants } = db;
  const T = tenants.length;
  await cleanup(db.superuserUrl); // rows left by an interrupted run
  result.prewarm = await prewarm(db.superuserUrl);
  result.dbBytes = await withPgClient(db.superuserUrl, async (c) => {
    const r = await c.query<{ t: string; h: string }>(
      `SELECT pg_total_relation_size('memories') AS t,
              coalesce((SELECT pg_relation_size(indexrelid) FROM pg_index
                        WHERE indrelid = 'memories'::regclass
                          AND indexrelid::regclass::text LIKE 'memories_hnsw_%' LIMIT 1), 0) AS h`,
    );
    return { table: Number(r.rows[0]?.t), hnsw: Number(r.rows[0]?.h) };
  });

  const prefix = `engram-bench-${process.pid}-${size}:`;
  let cursor = 0;
  const fresh = (n: number) => {
    if (cursor + n > QUERY_SPACE - 100) throw new Error("query space exhausted; lower --queries");
    const out = Array.from({ length: n }, (_, i) => queryText(cursor + i));
    cursor += n;
    return out;
  };
  // Each phase continues with the tenants after the previous phase's, so consecutive phases do
  // not re-read the same rows (until they have gone round all tenants).
  let tenantCursor = 0;
  const tenantFor = (n: number) => {
    const base = tenantCursor;
    tenantCursor += n;
    return (i: number) => tenants[(base + i) % T] as BenchTenant;
  };

  const apis: Api[] = [];
  try {
    apis.push(await startApi(db.appUrl, prefix));
    const a = apis[0] as Api;
    const pids = () => ({ apiPids: apis.map((x) => x.pid), database: name });
    const searchLoad = (on: Api[], texts: string[], n: number, c: number) => {
      const t = tenantFor(n);
      return withCpu(pids(), () =>
        runLoad(
          n,
          c,
          noted((i) =>
            client(on[i % on.length] as Api, t(i)).searchMemories({
              query: texts[i % texts.length] as string,
              limit: 10,
            }),
          ),
        ),
      );
    };

    log(`size ${size}: warm-up`);
    const warm = Array.from({ length: 20 }, (_, i) => queryText(QUERY_SPACE - 1 - i));
    await runLoad(
      20,
      1,
      noted((i) =>
        client(a, tenants[i * 37] ?? (tenants[0] as BenchTenant)).searchMemories({
          query: warm[i] as string,
          limit: 10,
        }),
      ),
    );

    // The fresh c=1 queries and their tenants are also the raw baselines' probes. Embed them here
    // first (the raw embedder, API idle), then run the server's own search statement over them
    // once untimed, so that the API and the raw queries both find these tenants' pages cached.
    const fresh1 = fresh(Q);
    const t1 = tenantFor(Q);
    log(`size ${size}: raw embedder on the fresh c=1 queries`);
    const embedded = await rawEmbed(fresh1);
    const probes: Probe[] = fresh1.map((query, i) => ({
      tenantId: t1(i).tenantId,
      vector: embedded.vectors[i] as string,
      query,
    }));
    await inProcessHybrid(db.appUrl, probes);

    log(`size ${size}: search, fresh queries, c=1`);
    result.search["fresh, c=1"] = await withCpu(pids(), () =>
      runLoad(
        Q,
        1,
        noted((i) => client(a, t1(i)).searchMemories({ query: fresh1[i] as string, limit: 10 })),
      ),
    );
    log(`size ${size}: raw vector query and in-process hybrid statement, same queries`);
    const { vectors: _, ...embedTimes } = embedded; // the vectors are reused for raw inserts
    result.raw = {
      embed: embedTimes,
      vector1: await rawVector(db.appUrl, probes, 1),
      vector16: await rawVector(db.appUrl, [...probes, ...probes], 16),
      hybrid: await inProcessHybrid(db.appUrl, probes),
      plan: await explain(db.appUrl, probes[0] as Probe),
    };

    log(`size ${size}: search, fresh queries, c=16`);
    result.search["fresh, c=16"] = await searchLoad([a], fresh(2 * Q), 2 * Q, 16);
    const hot = fresh1.slice(0, HOT);
    log(`size ${size}: search, cached query embeddings, c=1 and c=16`);
    result.search["cached, c=1"] = await searchLoad([a], hot, Q, 1);
    result.search["cached, c=16"] = await searchLoad([a], hot, 2 * Q, 16);

    log(`size ${size}: second API process`);
    apis.push(await startApi(db.appUrl, prefix));
    await runLoad(10, 1, (i) =>
      client(apis[1] as Api, tenants[i] as BenchTenant).searchMemories({
        query: hot[i] as string,
        limit: 10,
      }),
    );
    result.twoProcess["search fresh, c=16"] = await searchLoad(apis, fresh(2 * Q), 2 * Q, 16);
    result.twoProcess["search cached, c=16"] = await searchLoad(apis, hot, 2 * Q, 16);

    log(`size ${size}: context, fresh queries, c=1`);
    const contextTexts = fresh(Q);
    const tc = tenantFor(Q);
    result.context = await withCpu(pids(), () =>
      runLoad(
        Q,
        1,
        noted((i) =>
          client(a, tc(i)).context({ query: contextTexts[i] as string, token_budget: 1000 }),
        ),
      ),
    );

    const big = db.bigTenant;
    log(`size ${size}: the big tenant, fresh queries, c=1, with its raw baselines`);
    const bigTexts = fresh(Q);
    const bigEmbedded = await rawEmbed(bigTexts);
    const bigProbes: Probe[] = bigTexts.map((query, i) => ({
      tenantId: big.tenantId,
      vector: bigEmbedded.vectors[i] as string,
      query,
    }));
    await inProcessHybrid(db.appUrl, bigProbes); // untimed: the same page-cache footing as above
    const bigSearch = await withCpu(pids(), () =>
      runLoad(
        Q,
        1,
        noted((i) => client(a, big).searchMemories({ query: bigTexts[i] as string, limit: 10 })),
      ),
    );
    result.big = {
      tenant: await withPgClient(db.superuserUrl, async (c) =>
        Number(
          (
            await c.query<{ n: string }>(
              "SELECT count(*) AS n FROM memories WHERE tenant_id = $1",
              [big.tenantId],
            )
          ).rows[0]?.n,
        ),
      ),
      search: bigSearch,
      embed: { p50: bigEmbedded.p50, p99: bigEmbedded.p99 },
      vector1: await rawVector(db.appUrl, bigProbes, 1),
      hybrid: await inProcessHybrid(db.appUrl, bigProbes),
      plan: await explain(db.appUrl, bigProbes[0] as Probe),
    };

    log(`size ${size}: the API-key lookup, raw, as a transaction and as one statement`);
    result.auth = await rawAuth(
      db.appUrl,
      Array.from({ length: Q }, (_, i) => (tenants[i % T] as BenchTenant).key),
    );

    // Single adds, then the same with wal_compression on: each starts right after a checkpoint, so
    // both pay the full-page images of a fresh checkpoint cycle (the worst case, and a fair one).
    const checkpoint = () => withPgClient(db.superuserUrl, (c) => c.query("CHECKPOINT"));
    const singleAdds = (api: Api, base: number) => {
      const ta = tenantFor(Q);
      return withWal(db.superuserUrl, () =>
        withCpu(pids(), () =>
          runLoad(
            Q,
            1,
            noted((i) =>
              client(api, ta(i)).addMemory({ text: memoryText(base + i), user_id: ADD_USER }),
            ),
          ),
        ),
      );
    };
    log(`size ${size}: single adds, c=1`);
    await checkpoint();
    result.add = await singleAdds(a, 500_000_000);
    log(`size ${size}: single adds with wal_compression = lz4 (this database only), c=1`);
    await withPgClient(db.superuserUrl, (c) =>
      c.query(`ALTER DATABASE ${name} SET wal_compression = 'lz4'`),
    );
    try {
      const compressed = await startApi(db.appUrl, prefix); // new connections take the setting
      apis.push(compressed);
      await checkpoint();
      result.addCompressed = await singleAdds(compressed, 505_000_000);
      await compressed.stop();
      apis.pop();
    } finally {
      await withPgClient(db.superuserUrl, (c) =>
        c.query(`ALTER DATABASE ${name} RESET wal_compression`),
      );
    }
    log(`size ${size}: single adds, verbatim and infer: true (local engine), in turn, c=1`);
    result.adds = await pairedAdds(a, tenantFor(Q), Q);
    log(`size ${size}: the memory store's insert in-process, c=1`);
    result.insert = await inProcessInsert(db.appUrl, tenantFor(Q), embedded.vectors, Q);
    log(`size ${size}: batch ingest`);
    const measureIngest = (on: Api[], clientsN: number, base: number) =>
      withWal(db.superuserUrl, () => withCpu(pids(), () => ingest(on, tenants, clientsN, base)));
    result.ingest["1 process, 1 client"] = await measureIngest([a], 1, 510_000_000);
    result.ingest["1 process, 2 clients"] = await measureIngest([a], 2, 520_000_000);
    result.ingest["2 processes, 2 clients (one each)"] = await measureIngest(apis, 2, 530_000_000);
  } catch (err) {
    log(`size ${size}: measurement failed: ${(err as Error).stack}`);
    result.error = (err as Error).message;
  } finally {
    for (const api of apis) await api.stop();
    await clearRedis(prefix);
    log(`size ${size}: removing the rows this run added`);
    result.cleanupSeconds = await cleanup(db.superuserUrl);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------

async function serverInfo() {
  return withPgClient(SHARED_POSTGRES.superuserUrl, async (c) => {
    const v = await c.query<{ v: string }>(
      "SELECT current_setting('server_version') || ', pgvector ' || default_version AS v FROM pg_available_extensions WHERE name = 'vector'",
    );
    const s = await c.query<{ name: string; value: string }>(
      `SELECT name, current_setting(name) AS value FROM pg_settings WHERE name IN ('shared_buffers',
         'work_mem', 'effective_cache_size', 'jit', 'max_wal_size', 'random_page_cost',
         'max_connections', 'synchronous_commit') ORDER BY name`,
    );
    return {
      version: v.rows[0]?.v ?? "?",
      settings: s.rows.map((r) => `${r.name}=${r.value}`).join(", "),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Report

function mb(bytes: number) {
  return `${(bytes / 2 ** 20).toFixed(0)} MB`;
}
const k = (n: number) => n.toLocaleString("en");
const pp = (r: { p50: number; p99: number } | undefined) =>
  r ? `${ms(r.p50)} / ${ms(r.p99)}` : "–";

/** Memories per ordinary tenant: all but every BIG_EVERY-th row, over the other tenants. */
const perTenant = (size: number) => Math.round((size - size / BIG_EVERY) / (TENANTS - 1));

function bigOverhead(s: SizeResult) {
  const b = s.big;
  return b ? b.search.p50 / (b.embed.p50 + b.vector1.tx.p50) : Number.NaN;
}

function overhead(s: SizeResult) {
  const api = s.search["fresh, c=1"]?.p50 ?? Number.NaN;
  const base = (s.raw?.embed.p50 ?? Number.NaN) + (s.raw?.vector1.tx.p50 ?? Number.NaN);
  return api / base;
}

function report(commit: string): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    "# Cluster-mode benchmark results (PostgreSQL + pgvector + Redis)",
    "",
    `- Date: ${startedAt}; run took ${((performance.now() - started) / 60000).toFixed(1)} min`,
    `- Commit: ${commit}`,
    `- Command: \`${["npm run bench:cluster", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" ")}\` (sizes ${SIZES.map(k).join(", ")}; ${TENANTS} tenants; ${Q} queries per c=1 run, ${2 * Q} per c=16 run)`,
    `- Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}. PostgreSQL ${pgInfo.version} (${pgInfo.settings}), Redis, the API processes and this load generator all share these cores. Load average (1, 5, 15 min) at the start ${startLoad}, at the end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(", ")}; the CPU columns below show how much other work ran during each measurement.`,
    "- API: `engram serve` child processes, cluster mode, `DATABASE_URL` as `engram_app` (pool 10 per process), `REDIS_URL` set (shared query-embedding cache, a fresh key prefix per size), `ENGRAM_RATE_LIMITS=off`, tenants on the unlimited Enterprise plan (quotas and metering on), local USE-Lite embedder (one worker thread per process). Load over loopback HTTP through the SDK. Latencies in ms (p50 / p99, nearest rank).",
    "- Searches: limit 10, hybrid (the default), embedding included; each request goes to the next ordinary tenant in turn (round-robin, one tenant per search); the big tenant has its own row. *Fresh* queries were never seen by any process or by Redis, so each is embedded; *cached* repeats 50 queries embedded earlier in the run.",
    "",
    "## Data set",
    "",
    `Seeded directly into PostgreSQL as the superuser by the harness (not through the API: its embedder's batch rate on this machine is below, a few hundred texts/s at best, so 1M memories would take hours): memory texts are the real corpus texts \`memoryText(i)\` (bench/lib/corpus.ts); the vectors are **not** the embeddings of those texts but are derived from a pool of ${k(POOL)} real USE-Lite embeddings of corpus texts as normalize(pool[a] + ${MIX_WEIGHT}·pool[b] + noise), a and b picked by hashing i, noise N(0, ${NOISE_SIGMA}²) per dimension, so the vector distribution resembles real data (latency only: retrieval quality is not measured here). Every ${BIG_EVERY}th row belongs to the first tenant, the *big tenant* (a tenth of the memories: 100,000 at 1M); the others go to the other ${TENANTS - 1} tenants in turn (tenants interleave in the heap, as they do when written over time); each row belongs to one of a tenant's ${USERS_PER_TENANT} users. Rows are inserted with multi-row \`INSERT … SELECT unnest(…)\` without the HNSW and full-text indexes; the keyword postings and term statistics the memory store keeps on every write are then built with migration 0004's own backfill statements; then \`VACUUM (ANALYZE)\`, the GIN index and the HNSW index (the exact definitions \`engram migrate\` created) are built once, and the table is analyzed. Tenants and API keys were created through the admin API. Each database is kept (\`engram_bench_<size>\`, manifest table \`bench_manifest\`) and reused by later runs; \`--fresh\` rebuilds it. Rows a run adds are deleted at its end.`,
    "",
    "## Summary",
    "",
    "| memories (per ordinary tenant) | search fresh c=1 | fresh c=16 (req/s) | cached c=1 | cached c=16 (req/s) | raw embed | raw vector query (tx) | API overhead | single add | context c=1 | big tenant: search fresh c=1 (overhead) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const s of results) {
    if (s.error && !s.search["fresh, c=1"]) {
      lines.push(
        `| ${k(s.size)} | not measured: ${s.error.replace(/\|/g, "/").slice(0, 200)} |||||||||`,
      );
      continue;
    }
    const f16 = s.search["fresh, c=16"];
    const c16 = s.search["cached, c=16"];
    lines.push(
      `| ${k(s.size)} (${k(perTenant(s.size))}) | ${pp(s.search["fresh, c=1"])} | ${pp(f16)} (${rate(f16?.perSecond ?? Number.NaN)}) | ${pp(s.search["cached, c=1"])} | ${pp(c16)} (${rate(c16?.perSecond ?? Number.NaN)}) | ${pp(s.raw?.embed)} | ${pp(s.raw?.vector1.tx)} | ${overhead(s).toFixed(2)}× | ${pp(s.add)} | ${pp(s.context)} | ${pp(s.big?.search)} (${bigOverhead(s).toFixed(2)}×) |`,
    );
  }
  lines.push(
    "",
    "API overhead = API search p50 (fresh, c=1) / (raw single-embed p50 + raw vector-query p50), both measured in this run on the same queries and tenants. The big tenant holds every tenth memory (100,000 of 1M); its searches have their own raw baselines on its own queries.",
    "",
    ...aims(),

    `Raw embedder batch rate (500 texts per call, in this process, no server running): ${rate(batchRate)} texts/s.`,
    "",
  );
  for (const s of results) lines.push(...sizeSection(s));
  return `${lines.join("\n")}\n`;
}

function sizeSection(s: SizeResult): string[] {
  const out = [
    `## ${k(s.size)} memories over ${k(TENANTS)} tenants (${k(s.size / BIG_EVERY)} in the big tenant, about ${k(perTenant(s.size))} in each other)`,
    "",
  ];
  const d = s.db;
  if (d) {
    const m = d.seed;
    out.push(
      d.reused
        ? `Database \`${d.name}\` reused (seeded ${m.seededAt}; its build figures below are from then).`
        : `Database \`${d.name}\` built in this run.`,
      "",
      `- Embedding pool: ${k(m.pool)} texts in ${m.poolEmbedSeconds.toFixed(0)} s (cached in bench/.data after the first build)`,
      `- Insert (superuser, 2 connections, 1,000 rows per statement, B-tree indexes and the unique constraint in place): ${k(Math.round(m.insertRowsPerSecond))} rows/s, ${m.insertSeconds.toFixed(0)} s`,
      `- Keyword postings and term statistics (migration 0004's backfill statements): ${k(m.termRows)} postings in ${m.termsSeconds.toFixed(0)} s`,
      `- VACUUM (ANALYZE) ${m.vacuumSeconds.toFixed(0)} s; GIN (full text) build ${m.ginSeconds.toFixed(0)} s; ANALYZE ${m.analyzeSeconds.toFixed(1)} s`,
      `- **HNSW build: ${m.hnswSeconds.toFixed(0)} s** (m=16, ef_construction=64 defaults; maintenance_work_mem ${m.maintenanceWorkMem}, max_parallel_maintenance_workers ${m.parallelMaintenanceWorkers}${m.hnswNotices.length ? `; notices: ${m.hnswNotices.join("; ")}` : "; the graph fit in memory"})`,
    );
    if (s.dbBytes)
      out.push(
        `- Size: memories ${mb(s.dbBytes.table)} with its indexes and TOAST, of which the HNSW index ${mb(s.dbBytes.hnsw)} (RAM ${(totalmem() / 2 ** 30).toFixed(0)} GiB, so after the first touches everything is in the OS page cache; shared_buffers is smaller)`,
      );
    out.push("");
  }
  if (s.prewarm) {
    out.push(
      `Before measuring, every table and index of the database (${mb(s.prewarm.bytes)}) was read once into the OS page cache with pg_prewarm (${s.prewarm.seconds.toFixed(0)} s): this machine reclaims cold page cache, and a search that reads its tenant's rows from disk measures the disk.`,
      "",
    );
  }
  if (s.error) out.push(`**Incomplete: ${s.error}**`, "");
  if (Object.keys(s.search).length > 0) {
    out.push(
      "| search (limit 10, embedding included) | n | p50 | p99 | req/s | errors | CPU cores used (of all) |",
      "|---|---|---|---|---|---|---|",
      ...Object.entries(s.search).map(
        ([name, r]) =>
          `| ${name} | ${r.n} | ${ms(r.p50)} | ${ms(r.p99)} | ${rate(r.perSecond)} | ${r.errors} | ${cpuText(r.cpu)} |`,
      ),
      "",
    );
  }
  const r = s.raw;
  if (r) {
    const api = s.search["fresh, c=1"];
    const cached = s.search["cached, c=1"];
    const rest = (api?.p50 ?? Number.NaN) - r.embed.p50 - r.hybrid.p50;
    const embedInApi = (api?.p50 ?? Number.NaN) - (cached?.p50 ?? Number.NaN);
    const fixed = (cached?.p50 ?? Number.NaN) - r.hybrid.p50;
    out.push(
      "Baselines on the same queries and tenants as *fresh, c=1* (API processes idle; before the timed runs the server's search statement ran once, untimed, over these pairs, so the API and the raw queries alike found their pages cached):",
      "",
      `- Raw embedder, one query per call (this process): p50 ${ms(r.embed.p50)}, p99 ${ms(r.embed.p99)}`,
      `- Raw vector query through pg as \`engram_app\` (BEGIN with the tenant context, ef_search 40 and iterative scan in one script, the API's candidate query with LIMIT 40, COMMIT: three round trips, as the API's transaction), c=1: transaction p50 ${ms(r.vector1.tx.p50)}, p99 ${ms(r.vector1.tx.p99)}; the statement alone p50 ${ms(r.vector1.statement.p50)}, p99 ${ms(r.vector1.statement.p99)}`,
      `- Same at c=16 (16 connections): transaction p50 ${ms(r.vector16.tx.p50)}, p99 ${ms(r.vector16.tx.p99)}, ${rate(r.vector16.tx.perSecond ?? Number.NaN)} queries/s`,
      `- The server's full hybrid search (its term-statistics lookup, then the one statement with the vector and keyword candidates, fusion and row fetch), in-process through its own store code as \`engram_app\`, c=1: p50 ${ms(r.hybrid.p50)}, p99 ${ms(r.hybrid.p99)}`,
      "",
      `**API overhead: ${ms(api?.p50 ?? Number.NaN)} / (${ms(r.embed.p50)} + ${ms(r.vector1.tx.p50)}) = ${overhead(s).toFixed(2)}×** (aim ≤ 1.3×).`,
      "",
      "What bounds the search numbers:",
      "",
      `- *fresh, c=1* (p50 ${ms(api?.p50 ?? Number.NaN)}): the embedding (raw ${ms(r.embed.p50)}), the database side of the hybrid search (${ms(r.hybrid.p50)}; the vector candidates alone take ${ms(r.vector1.statement.p50)} of it, the rest is the term statistics, the keyword candidates, fusion and fetching the rows), and ${rest > 0 ? `${ms(rest)} ms` : "no measurable remainder (the parts were measured separately; their noise exceeds it)"} for everything else. Fresh minus cached p50 (${ms(embedInApi)}) is what the embedding costs inside the API against ${ms(r.embed.p50)} raw: the worker-thread hand-off and queue, the Redis lookup that misses before the model runs, and the model sharing the cores with PostgreSQL and the HTTP thread.`,
      `- *cached, c=1* (p50 ${ms(cached?.p50 ?? Number.NaN)}): no model call: the database side (${ms(r.hybrid.p50)}) plus ${ms(fixed)} ms of per-request cost (HTTP and JSON at both ends, the API-key lookup (one statement), and the search's transaction set-up).`,
      `- *The vector candidates* (${ms(r.vector1.statement.p50)} at p50): ${vectorBound(r.plan, s.size)}`,
      `- *c=16* measures throughput; p99 there is queueing. Cached: ${bottleneck(s.search["cached, c=16"]?.cpu)}. Fresh: ${bottleneck(s.search["fresh, c=16"]?.cpu)}; fresh queries also wait for the one embedding worker per process (it batches whatever queries are waiting).`,
      "",
    );
  }
  if (s.add) {
    out.push(
      `Single add (POST /v1/memories, c=1, n=${s.add.n}, round-robin over tenants): **p50 ${ms(s.add.p50)}, p99 ${ms(s.add.p99)}**, ${s.add.errors} errors. Bounded by the embedding of one text (raw p50 ${ms(r?.embed.p50 ?? Number.NaN)}) plus one write transaction: the memory store's insert alone, in-process as \`engram_app\` on other tenants (row with its HNSW, GIN and B-tree entries, keyword postings, term-statistics upserts, history; synchronous commit), takes p50 ${ms(s.insert?.p50 ?? Number.NaN)}, p99 ${ms(s.insert?.p99 ?? Number.NaN)}. During the API adds PostgreSQL wrote ${walText(s.add.wal, s.add.n)}: with fsync on, the commit's WAL flush and the full-page images after each checkpoint are much of the insert's cost, and checkpoints (triggered by WAL volume, max_wal_size 1GB, so by earlier phases too) are what varies between runs.`,
      "",
    );
  }
  if (s.addCompressed && s.add) {
    const c = s.addCompressed;
    out.push(
      `Single adds with \`wal_compression = lz4\` (set for this database only; a fresh API process, so its connections take it; each of the two runs starts right after a CHECKPOINT): **p50 ${ms(c.p50)}, p99 ${ms(c.p99)}** against ${pp(s.add)} without, p50 ${(c.p50 / s.add.p50).toFixed(2)}×, p99 ${(c.p99 / s.add.p99).toFixed(2)}×. WAL: ${walText(c.wal, c.n)}, against ${walText(s.add.wal, s.add.n)}. Durability is unchanged (full-page images are still written, compressed; fsync and synchronous commit stay on). docs/cluster.md recommends it.`,
      "",
    );
  }
  if (s.adds) {
    out.push(
      `Single adds in turn, verbatim and \`infer: true\` with the local inference engine (no LLM configured; n=${Q} each): verbatim ${pp(s.adds.verbatim)}, infer ${pp(s.adds.infer)}; p99 ratio ${(s.adds.infer.p99 / s.adds.verbatim.p99).toFixed(2)}× (aim < 2×). The local engine's extraction runs on the API's event loop and can write several memories; it embeds its texts like a verbatim add.`,
      "",
    );
  }
  if (s.context) {
    out.push(
      `Context (POST /v1/context, token budget 1,000, fresh queries, c=1, round-robin over the ordinary tenants): **p50 ${ms(s.context.p50)}, p99 ${ms(s.context.p99)}**, ${s.context.errors} errors; it embeds the query once and searches memories and knowledge, then packs the budget.`,
      "",
    );
  }
  if (s.big) {
    const b = s.big;
    out.push(
      `The big tenant (${k(b.tenant)} memories, fresh queries, c=1): search **p50 ${ms(b.search.p50)}, p99 ${ms(b.search.p99)}**; raw embed p50 ${ms(b.embed.p50)}, raw vector transaction p50 ${ms(b.vector1.tx.p50)} (statement ${ms(b.vector1.statement.p50)}), the server's hybrid statement in-process p50 ${ms(b.hybrid.p50)}: overhead ${bigOverhead(s).toFixed(2)}×. Vector candidates: ${/hnsw/i.test(b.plan) ? "the planner walks the HNSW index" : "the planner does not use the HNSW index"}. Plan: ${b.plan}.`,
      "",
    );
  }
  if (s.auth) {
    out.push(
      `The API-key lookup, raw, as \`engram_app\`, c=1 (n=${Q}): as its own transaction (BEGIN, tenant context, the definer function, COMMIT; what every request did before ADR 0041) p50 ${ms(s.auth.tx.p50)}, p99 ${ms(s.auth.tx.p99)}; as one statement (what a cluster process does now) p50 ${ms(s.auth.statement.p50)}, p99 ${ms(s.auth.statement.p99)}. Every tenant transaction also sends BEGIN and its tenant context in one round trip now.`,
      "",
    );
  }
  if (Object.keys(s.ingest).length > 0) {
    out.push(
      `| batch ingest (POST /v1/memories/batch, ${BATCH} per call, ${k(INGEST)} memories) | memories/s | vs raw embedder batch rate | CPU cores used | WAL |`,
      "|---|---|---|---|---|",
      ...Object.entries(s.ingest).map(
        ([name, x]) =>
          `| ${name} | ${rate(x.perSecond)} | ${((100 * x.perSecond) / batchRate).toFixed(0)} % | ${cpuText(x.cpu)} | ${walText(x.wal, INGEST)} |`,
      ),
      "",
      "Batch ingest is bounded by the embedding model (one worker thread per API process): compare with the raw batch rate; a second process adds a second model worker, which helps only if a core is free.",
      "",
    );
  }
  if (Object.keys(s.twoProcess).length > 0) {
    const one = (name: string) => s.search[name];
    out.push(
      "Throughput with one and with two API processes (same database, same Redis; requests alternate between the processes):",
      "",
      "| load | 1 process req/s (p50 / p99) | 2 processes req/s (p50 / p99) | CPU with 2 processes |",
      "|---|---|---|---|",
      ...(
        [
          ["search fresh, c=16", "fresh, c=16"],
          ["search cached, c=16", "cached, c=16"],
        ] as const
      ).map(([two, single]) => {
        const a = one(single);
        const b = s.twoProcess[two];
        return `| ${two} | ${rate(a?.perSecond ?? Number.NaN)} (${pp(a)}) | ${rate(b?.perSecond ?? Number.NaN)} (${pp(b)}) | ${b ? cpuText(b.cpu) : "–"} |`;
      }),
      `| batch ingest, 2 clients | ${rate(s.ingest["1 process, 2 clients"]?.perSecond ?? Number.NaN)} memories/s | ${rate(s.ingest["2 processes, 2 clients (one each)"]?.perSecond ?? Number.NaN)} memories/s | ${s.ingest["2 processes, 2 clients (one each)"] ? cpuText((s.ingest["2 processes, 2 clients (one each)"] as { cpu: CpuShare }).cpu) : "–"} |`,
      "",
    );
  }
  if (s.cleanupSeconds !== undefined)
    out.push(
      `Removing this run's added rows and vacuuming took ${s.cleanupSeconds.toFixed(0)} s (not measured above).`,
      "",
    );
  return out;
}

function walText(w: WalCounters, rows: number): string {
  return `${(w.bytes / 2 ** 20).toFixed(0)} MB of WAL (${(w.bytes / rows / 1024).toFixed(0)} kB per memory, ${k(w.fpi)} full-page images) with ${Number.isFinite(w.checkpoints) ? w.checkpoints : "?"} checkpoint(s)`;
}

/** The issue's aims against this run's numbers (at 1M memories when measured). */
function aims(): string[] {
  const s = results.find((x) => x.size === 1_000_000 && x.search["fresh, c=1"]);
  if (!s) return ["Aims not checked: 1M memories were not measured in this run.", ""];
  const verdict = (ok: boolean) => (ok ? "met" : "**not met**");
  const fresh = s.search["fresh, c=1"] as Measured;
  const cached = s.search["cached, c=1"];
  const rawTx = s.raw?.vector1.tx.p50 ?? Number.NaN;
  const cachedAim = 1.3 * rawTx + 1;
  const add = s.add;
  const ctx = s.context;
  const adds = s.adds;
  const small = results.find((x) => x.size === 10_000)?.search["fresh, c=1"];
  const growth = small ? fresh.p50 / small.p50 : Number.NaN;
  const b = s.big;
  return [
    "Issue 16's aims at 1M memories, against this run:",
    "",
    `- Fresh search p99 ≤ 25 ms: ${ms(fresh.p99)} (${verdict(fresh.p99 <= 25)}); API overhead ≤ 1.3× at p50: ${overhead(s).toFixed(2)}× (${verdict(overhead(s) <= 1.3)})`,
    `- Cached search p50 ≤ 1.3 × raw vector transaction + 1 ms (${ms(cachedAim)}): ${ms(cached?.p50 ?? Number.NaN)} (${verdict((cached?.p50 ?? Number.NaN) <= cachedAim)})`,
    `- Single add p50 < 30 ms and p99 < 60 ms (synchronous commit on): ${pp(add)} (${verdict((add?.p50 ?? Number.NaN) < 30 && (add?.p99 ?? Number.NaN) < 60)})`,
    `- Context p50 < 100 ms, p99 < 200 ms: ${pp(ctx)} (${verdict((ctx?.p50 ?? Number.NaN) < 100 && (ctx?.p99 ?? Number.NaN) < 200)})`,
    `- \`infer: true\` add (local engine) p99 < 2× the verbatim add's, in turn: ${ms(adds?.infer.p99 ?? Number.NaN)} vs ${ms(adds?.verbatim.p99 ?? Number.NaN)} = ${((adds?.infer.p99 ?? Number.NaN) / (adds?.verbatim.p99 ?? Number.NaN)).toFixed(2)}× (${verdict((adds?.infer.p99 ?? Number.NaN) < 2 * (adds?.verbatim.p99 ?? Number.NaN))})`,
    `- Growth, fresh search p50 from 10k to 1M ≤ 1.5×: ${small ? `${ms(small.p50)} → ${ms(fresh.p50)} = ${growth.toFixed(2)}× (${verdict(growth <= 1.5)})` : "10k not measured in this run"}`,
    `- The big tenant (${k(b?.tenant ?? Number.NaN)} memories), same search aims: p99 ${ms(b?.search.p99 ?? Number.NaN)} (${verdict((b?.search.p99 ?? Number.NaN) <= 25)}), overhead ${bigOverhead(s).toFixed(2)}× (${verdict(bigOverhead(s) <= 1.3)})`,
    `- Fresh c=16 throughput per core: ${rate((s.search["fresh, c=16"]?.perSecond ?? Number.NaN) / cpus().length)} req/s per core (aim: 1.5× the 45 req/s per core of bench/RESULTS-cluster.md at commit 8d6ffc9, i.e. ≥ 67.5: ${verdict((s.search["fresh, c=16"]?.perSecond ?? Number.NaN) / cpus().length >= 67.5)})`,
    "",
  ];
}

/** Which consumer of the machine's cores limits a concurrent phase. */
function bottleneck(cpu: CpuShare | undefined): string {
  if (!cpu) return "not measured";
  const busy = cpu.api + cpu.postgres + cpu.bench + cpu.other;
  const parts: [string, number][] = [
    ["PostgreSQL", cpu.postgres],
    ["the API processes", cpu.api],
    ["the load generator", cpu.bench],
    ["other work on the machine", cpu.other],
  ];
  const [top, used] = parts.sort((a, b) => b[1] - a[1])[0] as [string, number];
  const state =
    busy >= 0.85 * cpu.cores
      ? `CPU-bound: ${busy.toFixed(2)} of ${cpu.cores} cores busy`
      : `${busy.toFixed(2)} of ${cpu.cores} cores busy`;
  return `${state}, most of it ${top} (${used.toFixed(2)}; ${cpuText(cpu)})`;
}

/** What the vector side's plan does, in words. */
function vectorBound(plan: string, size: number): string {
  if (/hnsw/i.test(plan)) {
    return "an HNSW graph walk (ef_search 40, iterative scan) filtered to the tenant; its cost grows with how many other tenants' neighbours the walk has to skip.";
  }
  const each = k(perTenant(size));
  return `PostgreSQL does not use the HNSW index here: the tenant condition is selective (${each} of ${k(size)} rows), so it reads the tenant's rows through a B-tree on tenant_id and sorts all ${each} by exact distance. Each 512-d vector (2 kB) is stored in its row (STORAGE MAIN, migration 0007; before it, every vector sat out of line in two TOAST chunks and this step took about twice as long at 1M), so this is ${each} heap fetches (tenants interleave in the heap: about one page each) and distance computations: exact results, cost linear in the tenant's size, independent of the total. Plan: ${plan}.`;
}

// ---------------------------------------------------------------------------------------------
// Main (last: the report helpers above must be initialised)

const started = performance.now();
const startedAt = new Date().toISOString();
const startLoad = loadavg()
  .map((x) => x.toFixed(2))
  .join(", ");
const pgInfo = await serverInfo();
log("raw embedder batch rate");
const batchRate = await rawEmbedBatchRate();
const results: SizeResult[] = [];
for (const size of SIZES) results.push(await benchSize(size));
writeFileSync(new URL("./RESULTS-cluster.md", import.meta.url), report(await describeCommit()));
log(`wrote bench/RESULTS-cluster.md (${((performance.now() - started) / 60000).toFixed(1)} min)`);
