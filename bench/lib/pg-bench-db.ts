// The cluster benchmark's data sets: one PostgreSQL database per size (engram_bench_100k, …),
// kept between runs and opened through the test harness (testing/test-postgres.ts), migrated by
// `engram migrate`, tenants and keys created through the admin API, memories seeded directly as
// the superuser (harness only; far faster than the API's embedder), indexes built once, and a
// manifest table that lets later runs reuse the database and only measure.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, freemem } from "node:os";
import { EngramAdminClient } from "@engram/sdk";
import { vectorIndexName } from "@engram/server/db";
import { createLocalEmbedder, LOCAL_MODEL } from "@engram/server/embeddings";
import {
  ADMIN_TOKEN,
  draftMemory,
  ENGRAM_CLI,
  findKeptPostgres,
  freePort,
  replaceKeptPostgres,
  runChecked,
  spawnServer,
  type TestPostgres,
  tempDir,
  withPgClient,
} from "@engram/server/testing";
import pg from "pg";
import { memoryText } from "./corpus.ts";

/** Bump when the seeded rows or vectors change: older databases are rebuilt. */
const SEED_VERSION = 5;
const POOL_DIR = new URL("../.data/", import.meta.url).pathname;
/** Per-dimension standard deviation of the noise added to each derived vector. */
export const NOISE_SIGMA = 0.01;
/** Weight of the second pool vector in each derived vector. */
export const MIX_WEIGHT = 0.5;
export const USERS_PER_TENANT = 10;
/**
 * Every BIG_EVERY-th row belongs to the first tenant, the big one (100,000 of 1M memories), so
 * that one tenant is large enough for the planner to search it through HNSW; the other rows are
 * spread over the other tenants in turn.
 */
export const BIG_EVERY = 10;
const MODEL = LOCAL_MODEL;

const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

function databaseName(size: number): string {
  const label =
    size % 1_000_000 === 0
      ? `${size / 1_000_000}m`
      : size % 1000 === 0
        ? `${size / 1000}k`
        : String(size);
  return `engram_bench_${label}`;
}

export interface BenchTenant {
  tenantId: string;
  key: string;
}

interface SeedInfo {
  version: number;
  size: number;
  tenants: number;
  pool: number;
  seededAt: string;
  poolEmbedSeconds: number;
  insertRowsPerSecond: number;
  insertSeconds: number;
  /** Building the keyword postings and term statistics (migration 0010's backfill). */
  termsSeconds: number;
  termRows: number;
  vacuumSeconds: number;
  ginSeconds: number;
  hnswSeconds: number;
  analyzeSeconds: number;
  maintenanceWorkMem: string;
  parallelMaintenanceWorkers: number;
  hnswNotices: string[];
}

export interface BenchDatabase extends TestPostgres {
  /** The tenants of ordinary size (all but the big one). */
  tenants: BenchTenant[];
  /** The tenant holding every BIG_EVERY-th row. */
  bigTenant: BenchTenant;
  seed: SeedInfo;
  reused: boolean;
}

/** The database for this size: reused when its manifest matches, else (re)built. */
export async function benchDatabase(opts: {
  size: number;
  tenants: number;
  pool: number;
  fresh: boolean;
  indexTimeoutMin: number;
}): Promise<BenchDatabase> {
  const name = databaseName(opts.size);
  const kept = opts.fresh ? undefined : await findKeptPostgres(name);
  if (kept) {
    const existing = await readManifest(kept);
    const m = existing?.seed;
    if (
      existing &&
      m &&
      m.version === SEED_VERSION &&
      m.size === opts.size &&
      m.tenants === opts.tenants &&
      m.pool === opts.pool &&
      existing.tenants.length === opts.tenants
    ) {
      log(`${name}: reusing (seeded ${m.seededAt})`);
      await migrate(kept.ownerUrl); // applies nothing unless the code has new migrations
      return { ...kept, ...split(existing.tenants), seed: m, reused: true };
    }
    if (existing) log(`${name}: manifest does not match this run's parameters: rebuilding`);
  }
  const built = await build(name, opts);
  return { ...built, ...split(built.tenants), reused: false };
}

/** The big tenant is the first; the rest are the ordinary ones. */
function split(all: BenchTenant[]) {
  const [bigTenant, ...tenants] = all;
  if (!bigTenant || tenants.length === 0) throw new Error("the bench needs at least 2 tenants");
  return { bigTenant, tenants };
}

function readManifest(database: TestPostgres) {
  return withPgClient(database.superuserUrl, async (c) => {
    try {
      const m = await c.query<{ info: SeedInfo }>("SELECT info FROM bench_manifest WHERE id = 1");
      const t = await c.query<{ tenant_id: string; api_key: string }>(
        "SELECT tenant_id, api_key FROM bench_tenants ORDER BY idx",
      );
      return {
        seed: m.rows[0]?.info,
        tenants: t.rows.map((r) => ({ tenantId: r.tenant_id, key: r.api_key })),
      };
    } catch {
      return undefined; // an interrupted build: no manifest yet
    }
  });
}

async function migrate(ownerUrl: string): Promise<string> {
  const { stdout } = await runChecked(process.execPath, [...ENGRAM_CLI, "migrate"], {
    env: {
      ...process.env,
      DATABASE_URL: undefined,
      ENGRAM_DATABASE_OWNER_URL: ownerUrl,
      ENGRAM_LOG_LEVEL: "warn",
    },
    timeoutMs: Number.POSITIVE_INFINITY, // a new migration's backfill over 1M rows takes long
  });
  return stdout.trim();
}

async function build(
  name: string,
  opts: { size: number; tenants: number; pool: number; indexTimeoutMin: number },
) {
  log(`${name}: creating the database`);
  const database = await replaceKeptPostgres(name);
  const migrated = await migrate(database.ownerUrl);
  log(`${name}: engram migrate ${migrated.replace(/\s+/g, " ")}`);

  const tenants = await createTenants(database.appUrl, opts.tenants);
  const pool = await embeddingPool(opts.pool);
  const hnswName = vectorIndexName(MODEL);

  return withPgClient(database.superuserUrl, async (c) => {
    // Bulk load without the HNSW and full-text indexes, then build each once.
    const defs = await c.query<{ indexname: string; indexdef: string }>(
      "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'memories' AND indexname = ANY($1)",
      [[hnswName, "memories_fts"]],
    );
    const hnswDef = defs.rows.find((r) => r.indexname === hnswName)?.indexdef;
    if (!hnswDef) throw new Error(`index ${hnswName} not found after migrate`);
    const ginDef = defs.rows.find((r) => r.indexname === "memories_fts")?.indexdef;
    await c.query(`DROP INDEX ${hnswName}`);
    if (ginDef) await c.query("DROP INDEX memories_fts");

    const insert = await seedRows(database.superuserUrl, opts.size, tenants, pool.vectors);
    const terms = await keywordPostings(c, name);

    let t = performance.now();
    log(`${name}: VACUUM (ANALYZE)`);
    await c.query("VACUUM (ANALYZE) memories, memory_terms, memory_term_stats");
    const vacuumSeconds = (performance.now() - t) / 1000;

    t = performance.now();
    log(`${name}: building memories_fts (GIN)`);
    await c.query("SET maintenance_work_mem = '1GB'");
    if (ginDef) await c.query(ginDef);
    const ginSeconds = (performance.now() - t) / 1000;

    let hnsw: Awaited<ReturnType<typeof buildHnsw>>;
    try {
      hnsw = await buildHnsw(c, database.superuserUrl, hnswDef, opts.size, opts.indexTimeoutMin);
    } catch (err) {
      throw new Error(
        `${(err as Error).message}. Before it: ${opts.size} rows inserted at ${insert.rowsPerSecond.toFixed(0)} rows/s (${insert.seconds.toFixed(0)} s), VACUUM ${vacuumSeconds.toFixed(0)} s, GIN build ${ginSeconds.toFixed(0)} s`,
      );
    }

    t = performance.now();
    await c.query("ANALYZE memories; ANALYZE tenants; ANALYZE api_keys");
    const analyzeSeconds = (performance.now() - t) / 1000;

    const seed: SeedInfo = {
      version: SEED_VERSION,
      size: opts.size,
      tenants: opts.tenants,
      pool: opts.pool,
      seededAt: new Date().toISOString(),
      poolEmbedSeconds: pool.seconds,
      insertRowsPerSecond: insert.rowsPerSecond,
      insertSeconds: insert.seconds,
      termsSeconds: terms.seconds,
      termRows: terms.rows,
      vacuumSeconds,
      ginSeconds,
      hnswSeconds: hnsw.seconds,
      analyzeSeconds,
      maintenanceWorkMem: hnsw.maintenanceWorkMem,
      parallelMaintenanceWorkers: hnsw.workers,
      hnswNotices: hnsw.notices,
    };
    // Written last: a database without it is an interrupted build and is rebuilt.
    await c.query(`
      CREATE TABLE bench_tenants (idx integer PRIMARY KEY, tenant_id text NOT NULL, api_key text NOT NULL);
      CREATE TABLE bench_manifest (id integer PRIMARY KEY, info jsonb NOT NULL);
      REVOKE ALL ON bench_tenants, bench_manifest FROM PUBLIC`);
    await c.query(
      "INSERT INTO bench_tenants SELECT i - 1, t, k FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(t, k, i)",
      [tenants.map((x) => x.tenantId), tenants.map((x) => x.key)],
    );
    await c.query("INSERT INTO bench_manifest VALUES (1, $1)", [JSON.stringify(seed)]);
    return { ...database, tenants, seed };
  });
}

/**
 * The keyword postings and term statistics that the memory store maintains on every write, built
 * for the seeded rows with migration 0010's backfill statements (the postings' primary key is
 * dropped for the bulk insert and rebuilt after).
 */
async function keywordPostings(c: pg.Client, name: string) {
  log(`${name}: keyword postings and term statistics`);
  const t = performance.now();
  const pk = await c.query<{ conname: string; def: string }>(
    `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
     WHERE conrelid = 'memory_terms'::regclass AND contype = 'p'`,
  );
  const key = pk.rows[0];
  await c.query("SET maintenance_work_mem = '1GB'");
  if (key) await c.query(`ALTER TABLE memory_terms DROP CONSTRAINT ${key.conname}`);
  const r = await c.query(
    `INSERT INTO memory_terms (tenant_id, project_id, lexeme, memory_id)
     SELECT m.tenant_id, m.project_id, l.lexeme, m.id
     FROM memories m, unnest(tsvector_to_array(m.fts)) AS l(lexeme)`,
  );
  if (key) await c.query(`ALTER TABLE memory_terms ADD CONSTRAINT ${key.conname} ${key.def}`);
  await c.query(
    `INSERT INTO memory_term_stats (tenant_id, project_id, lexeme, docs)
     SELECT tenant_id, project_id, lexeme, count(*) FROM memory_terms
     GROUP BY tenant_id, project_id, lexeme
     UNION ALL
     SELECT tenant_id, project_id, '', count(*) FROM memories GROUP BY tenant_id, project_id`,
  );
  const seconds = (performance.now() - t) / 1000;
  log(`  ${r.rowCount} postings in ${seconds.toFixed(0)} s`);
  return { seconds, rows: r.rowCount ?? 0 };
}

/** Tenants and keys through the real admin API (a cluster-mode server on the fresh database). */
async function createTenants(appUrl: string, n: number): Promise<BenchTenant[]> {
  const dir = tempDir("engram-bench-");
  const srv = await spawnServer(dir, await freePort(), {
    DATABASE_URL: appUrl,
    ENGRAM_DATABASE_OWNER_URL: undefined,
    REDIS_URL: undefined,
    ENGRAM_RATE_LIMITS: "off",
  });
  try {
    log(`creating ${n} tenants with one key each`);
    const admin = new EngramAdminClient({ baseUrl: srv.url, token: ADMIN_TOKEN });
    const out: BenchTenant[] = new Array(n);
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = next++; i < n; i = next++) {
          const tenant = await admin.createTenant({ name: `bench-${i}`, plan: "enterprise" });
          out[i] = { tenantId: tenant.id, key: tenant.key.key };
        }
      }),
    );
    return out;
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Real embeddings of `n` corpus texts (memoryText(0..n-1)), cached in bench/.data. */
async function embeddingPool(n: number): Promise<{ vectors: Float32Array[]; seconds: number }> {
  const dim = MODEL.dimension;
  const file = `${POOL_DIR}cluster-pool-v${SEED_VERSION}-${n}.f32`;
  if (existsSync(file)) {
    const buf = readFileSync(file);
    const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const meta = JSON.parse(readFileSync(`${file}.json`, "utf8")) as { seconds: number };
    log(`embedding pool: ${n} vectors from ${file}`);
    return {
      vectors: Array.from({ length: n }, (_, i) => all.slice(i * dim, (i + 1) * dim)),
      seconds: meta.seconds,
    };
  }
  log(`embedding pool: embedding ${n} corpus texts with the local model`);
  const embedder = await createLocalEmbedder();
  const t = performance.now();
  const vectors: Float32Array[] = [];
  try {
    for (let i = 0; i < n; i += 500) {
      const texts = Array.from({ length: Math.min(500, n - i) }, (_, k) => memoryText(i + k));
      vectors.push(...(await embedder.embed(texts)));
    }
  } finally {
    await embedder.close();
  }
  const seconds = (performance.now() - t) / 1000;
  mkdirSync(POOL_DIR, { recursive: true });
  const all = new Float32Array(n * dim);
  vectors.forEach((v, i) => {
    all.set(v, i * dim);
  });
  writeFileSync(file, Buffer.from(all.buffer));
  writeFileSync(`${file}.json`, JSON.stringify({ seconds }));
  return { vectors, seconds };
}

function hash32(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The vector of seeded row i: normalize(pool[a] + 0.5·pool[b] + noise), a and b picked by hashing
 * i, noise N(0, σ²) per dimension from a generator seeded by i. Deterministic.
 */
function derivedVector(i: number, pool: readonly Float32Array[], out: Float32Array) {
  const n = pool.length;
  const a = pool[hash32(2 * i + 1) % n] as Float32Array;
  let bi = hash32(2 * i + 2) % n;
  if (pool[bi] === a) bi = (bi + 1) % n;
  const b = pool[bi] as Float32Array;
  let state = hash32(i ^ 0x9e3779b9) || 1;
  const uniform = () => {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 0.5) / 4294967296;
  };
  let norm = 0;
  for (let k = 0; k < out.length; k += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform())) * NOISE_SIGMA;
    const th = 2 * Math.PI * uniform();
    for (const [j, g] of [
      [k, r * Math.cos(th)],
      [k + 1, r * Math.sin(th)],
    ] as const) {
      if (j >= out.length) break;
      const x = (a[j] as number) + MIX_WEIGHT * (b[j] as number) + g;
      out[j] = x;
      norm += x * x;
    }
  }
  norm = Math.sqrt(norm);
  for (let k = 0; k < out.length; k++) out[k] = (out[k] as number) / norm;
}

/**
 * Row i's tenant and user: every BIG_EVERY-th row is the big tenant's (index 0); the others go to
 * tenants 1 … T-1 in turn (tenants interleave in the heap, as they do when written over time).
 */
function ownerOf(i: number, tenants: number): { tenant: number; user: string } {
  if (i % BIG_EVERY === 0) {
    return { tenant: 0, user: `user-${Math.floor(i / BIG_EVERY) % USERS_PER_TENANT}` };
  }
  const j = i - Math.floor(i / BIG_EVERY) - 1; // index among the ordinary rows
  const others = tenants - 1;
  return { tenant: 1 + (j % others), user: `user-${Math.floor(j / others) % USERS_PER_TENANT}` };
}

async function seedRows(
  url: string,
  size: number,
  tenants: readonly BenchTenant[],
  pool: readonly Float32Array[],
) {
  const BATCH = 1000;
  const T = tenants.length;
  let next = 0;
  let done = 0;
  let reported = 0;
  const t0 = performance.now();
  log(`seeding ${size} memories over ${T} tenants (2 connections, ${BATCH} rows per INSERT)`);
  await Promise.all(
    Array.from({ length: 2 }, () =>
      withPgClient(url, async (c) => {
        await c.query("SET synchronous_commit = off");
        const v = new Float32Array(MODEL.dimension);
        for (let lo = next; lo < size; lo = next) {
          const hi = Math.min(lo + BATCH, size);
          next = hi;
          const cols = {
            id: [] as string[],
            tenant: [] as string[],
            text: [] as string[],
            user: [] as string[],
            hash: [] as string[],
            vec: [] as string[],
          };
          for (let i = lo; i < hi; i++) {
            derivedVector(i, pool, v);
            // Six decimals: an absolute error ≤ 5e-7, far below the added noise (σ 0.01).
            const vector = `[${Array.from(v, (x) => Math.round(x * 1e6) / 1e6).join(",")}]`;
            const { tenant, user } = ownerOf(i, T);
            const row = draftMemory(memoryText(i), vector, { userId: user });
            cols.id.push(row.id);
            cols.tenant.push((tenants[tenant] as BenchTenant).tenantId);
            cols.text.push(row.memory);
            cols.user.push(user);
            cols.hash.push(row.contentHash);
            cols.vec.push(row.embedding);
          }
          await c.query(
            `INSERT INTO memories (id, tenant_id, project_id, memory, user_id, content_hash,
                                   embedding, embedding_model, embedding_dim)
             SELECT d.id, d.t, p.id, d.m, d.u, decode(d.h, 'hex'), d.v::vector, $7, $8
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                  AS d(id, t, m, u, h, v)
             JOIN projects p ON p.tenant_id = d.t AND p.is_default`,
            [
              cols.id,
              cols.tenant,
              cols.text,
              cols.user,
              cols.hash,
              cols.vec,
              MODEL.id,
              MODEL.dimension,
            ],
          );
          done += hi - lo;
          if (done - reported >= size / 10) {
            reported = done;
            const s = (performance.now() - t0) / 1000;
            log(`  ${done} rows in ${s.toFixed(0)} s (${(done / s).toFixed(0)} rows/s)`);
          }
        }
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, rowsPerSecond: size / seconds };
}

/**
 * CREATE INDEX … USING hnsw exactly as `engram migrate` defines it, with enough
 * maintenance_work_mem for the graph to stay in memory (pgvector's fast path) and one parallel
 * worker per spare core. Progress is logged from pg_stat_progress_create_index.
 */
async function buildHnsw(c: pg.Client, url: string, def: string, rows: number, timeoutMin: number) {
  // ~2.1 kB of vector plus neighbour lists per element; leave headroom, never over half the free RAM.
  const wantMb = Math.ceil((rows * 3.2 * 1024) / 2 ** 20);
  const capMb = Math.floor(freemem() / 2 ** 20 / 2);
  const mb = Math.max(256, Math.min(wantMb, capMb, 8192));
  const maintenanceWorkMem = `${mb}MB`;
  const workers = Math.max(0, cpus().length - 1);
  const notices: string[] = [];
  const onNotice = (n: { message?: string }) => {
    notices.push(n.message ?? String(n));
    log(`  notice: ${n.message}`);
  };
  c.on("notice", onNotice);
  await c.query(`SET maintenance_work_mem = '${maintenanceWorkMem}'`);
  await c.query(`SET max_parallel_maintenance_workers = ${workers}`);
  await c.query(`SET statement_timeout = '${timeoutMin}min'`);
  log(
    `building the HNSW index over ${rows} rows (maintenance_work_mem ${maintenanceWorkMem}, ${workers} parallel worker(s), timeout ${timeoutMin} min)`,
  );
  const monitor = new pg.Client({
    connectionString: url,
    application_name: "engram-bench-monitor",
  });
  await monitor.connect();
  let progress = "no progress reported yet";
  const t = performance.now();
  const timer = setInterval(() => {
    monitor
      .query<{ phase: string; tuples: string; blocks: string; total: string }>(
        `SELECT phase, tuples_done AS tuples, blocks_done AS blocks, blocks_total AS total
         FROM pg_stat_progress_create_index WHERE relid = 'memories'::regclass`,
      )
      .then((r) => {
        const p = r.rows[0];
        if (!p) return;
        const min = ((performance.now() - t) / 60_000).toFixed(1);
        progress = `after ${min} min: ${p.phase}, ${p.tuples} of ${rows} tuples, heap blocks ${p.blocks} of ${p.total}`;
        log(`  ${progress}`);
      })
      .catch(() => {});
  }, 30_000);
  try {
    await c.query(def);
  } catch (err) {
    if ((err as { code?: string }).code === "57014") {
      throw new Error(
        `HNSW build over ${rows} rows did not finish within ${timeoutMin} min (last progress ${progress}; maintenance_work_mem ${maintenanceWorkMem}, ${workers} parallel worker(s))`,
      );
    }
    throw err;
  } finally {
    clearInterval(timer);
    await monitor.end();
    c.off("notice", onNotice);
    await c.query("RESET statement_timeout");
  }
  const seconds = (performance.now() - t) / 1000;
  log(`  HNSW index built in ${seconds.toFixed(0)} s`);
  return { seconds, maintenanceWorkMem, workers, notices };
}
