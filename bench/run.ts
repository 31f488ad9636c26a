// `npm run bench`: search, add and ingest latency/throughput through the real HTTP API (server in
// a child process), with the raw embedder and the raw pgvector query as same-run baselines, and
// retrieval quality on the LoCoMo dev split when ../shared/data is present, and what `infer: true`
// decides and costs (lib/inference.ts). Writes RESULTS.md.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { EngramClient } from "@engram/sdk";
import {
  createAuthCache,
  createKeyStore,
  hashSecret,
  vectorLiteral,
  vectorScanSettings,
} from "@engram/server";
import { type Database, openPGliteDatabase } from "@engram/server/db";
import { createLocalEmbedder } from "@engram/server/embeddings";
import { freePort, newTenant, spawnServer } from "@engram/server/testing";
import { describeCommit } from "./lib/commit.ts";
import {
  LOW_DIVERSITY_QUERY_SPACE,
  LOW_DIVERSITY_SPACE,
  lowDiversityQuery,
  lowDiversityText,
  memoryText,
  QUERY_SPACE,
  queryText,
} from "./lib/corpus.ts";
import { type InferenceResult, inferenceReport, runInferenceBench } from "./lib/inference.ts";
import {
  CATEGORIES,
  LOCOMO_PATH,
  locomoRecall,
  RECALL_KS,
  RECALL_MODES,
  type RecallResult,
} from "./lib/locomo.ts";
import { type LoadResult, ms, percentile, rate, runLoad } from "./lib/stats.ts";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "10000,100000" },
    queries: { type: "string", default: "300" },
    fresh: { type: "boolean", default: false },
    "skip-locomo": { type: "boolean", default: false },
    "skip-inference": { type: "boolean", default: false },
    /** Only these phases of the per-size section (comma-separated PHASES); prints, writes nothing. */
    only: { type: "string" },
    /**
     * The memories and queries: the bench's varied synthetic corpus, or the low-diversity one (the
     * same ~60 words throughout; writes RESULTS-low-diversity.md, sizes up to 15,000).
     */
    corpus: { type: "string", default: "synthetic" },
  },
});
const LOW_DIVERSITY = args.corpus === "low-diversity";
if (!LOW_DIVERSITY && args.corpus !== "synthetic") {
  throw new Error(`--corpus: synthetic or low-diversity, not ${args.corpus}`);
}
/** The corpus's i-th memory and query texts. */
const textOf = LOW_DIVERSITY ? lowDiversityText : memoryText;
const queryOf = LOW_DIVERSITY ? lowDiversityQuery : queryText;
const QUERIES = LOW_DIVERSITY ? LOW_DIVERSITY_QUERY_SPACE : QUERY_SPACE;
const PHASES = ["search", "previous", "c16", "cached", "scoped", "context", "add", "raw"] as const;
type Phase = (typeof PHASES)[number];
const ONLY = args.only === undefined ? undefined : new Set((args.only as string).split(","));
for (const p of ONLY ?? []) {
  if (!PHASES.includes(p as Phase))
    throw new Error(`--only: unknown phase ${p} (${PHASES.join(",")})`);
}
const runs = (phase: Phase) => ONLY === undefined || ONLY.has(phase);
const SIZES = (args.sizes as string).split(",").map(Number);
if (LOW_DIVERSITY && SIZES.some((n) => n > LOW_DIVERSITY_SPACE)) {
  throw new Error(
    `--corpus low-diversity has ${LOW_DIVERSITY_SPACE} distinct texts: lower --sizes`,
  );
}
const Q = Number(args.queries);
const DATA = new URL("./.data/", import.meta.url).pathname;
/** Bump when what a seeded data set holds or how it is stored changes: older ones are rebuilt. */
const CORPUS_VERSION = 2;
const BATCH = 500;

// The benchmark measures the API, not the per-key rate limiter.
process.env.ENGRAM_RATE_LIMITS = "off";
/** Seeding batches can take long on a loaded machine; the SDK's default 30 s is for interactive use. */
const client = (url: string, token: string) =>
  new EngramClient({ baseUrl: url, token, timeoutMs: 600_000 });

const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);
let queryCursor = 0;
/** A range of never-used query texts (fresh: no cache can hold them). */
function freshQueries(n: number): string[] {
  if (queryCursor + n > QUERIES) throw new Error("query space exhausted; lower --queries");
  const out = Array.from({ length: n }, (_, i) => queryOf(queryCursor + i));
  queryCursor += n;
  return out;
}

async function batchIngest(
  api: EngramClient,
  from: number,
  to: number,
  userCount: number,
  concurrency: number,
) {
  let next = from;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < to) {
        const lo = next;
        next = Math.min(next + BATCH, to);
        const memories = [];
        for (let i = lo; i < next; i++)
          memories.push({ text: textOf(i), user_id: `user-${i % userCount}` });
        await api.batchAddMemories({ memories });
      }
    }),
  );
  return (to - from) / ((performance.now() - start) / 1000);
}

interface SizeResult {
  size: number;
  seededNow: boolean;
  seedRate?: number;
  /** From spawning `engram serve` on the data set to its first answer (includes its warm-up). */
  startSeconds: number;
  /** The first COLD_N requests the new server process answers: fresh contexts, c=1. */
  cold?: LoadResult;
  search: Record<string, LoadResult>;
  /** POST /v1/context, default budget, fresh queries, c=1: compared with the plain search's p50. */
  context?: LoadResult;
  add?: LoadResult;
  rawQuery?: { p50: number; p99: number };
  /** The API-key lookup in-process on the data set: from the database, and remembered (ADR 0041). */
  rawAuth?: { database: { p50: number; p99: number }; remembered: { p50: number; p99: number } };
}

/** Requests of the cold-start measurement (the first ones a new server process answers). */
const COLD_N = 50;

async function benchSize(size: number): Promise<SizeResult> {
  const dir = `${DATA}${LOW_DIVERSITY ? "low-diversity-" : ""}size-${size}`;
  const manifestPath = `${dir}/bench-manifest.json`;
  let manifest: { version: number; key: string; tenantId: string } | undefined;
  if (!args.fresh && existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, "utf8"));
    if (m.version === CORPUS_VERSION) manifest = m;
  }
  if (!manifest) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let seedRate: number | undefined;
  if (!manifest) {
    const seeder = await spawnServer(dir, await freePort());
    try {
      // Other tenants hold a tenth of the data each, so tenant filtering is part of every query.
      const users = Math.max(1, Math.floor(size / 1000));
      for (const [i, n] of [size / 10, size / 10].entries()) {
        const other = await newTenant(seeder.url);
        log(`size ${size}: seeding other tenant ${i + 1} with ${n}`);
        await batchIngest(
          client(seeder.url, other.key),
          10_000_000 * (i + 1),
          10_000_000 * (i + 1) + n,
          users,
          2,
        );
      }
      const main = await newTenant(seeder.url);
      log(`size ${size}: seeding main tenant with ${size}`);
      seedRate = await batchIngest(client(seeder.url, main.key), 0, size, users, 2);
      manifest = { version: CORPUS_VERSION, key: main.key, tenantId: main.tenantId };
      writeFileSync(manifestPath, JSON.stringify(manifest));
    } finally {
      // Measured on a server started afresh, as with a reused data set.
      await seeder.stop("SIGTERM", Number.POSITIVE_INFINITY);
    }
  }
  const spawned = performance.now();
  const srv = await spawnServer(dir, await freePort());
  const startSeconds = (performance.now() - spawned) / 1000;
  try {
    const api = client(srv.url, manifest.key);
    // This process's HTTP client warmed on an endpoint that does no search work, so the cold
    // numbers are the server's.
    for (let i = 0; i < 20; i++) await fetch(`${srv.url}/healthz`).then((r) => r.arrayBuffer());
    let cold: LoadResult | undefined;
    if (runs("context")) {
      log(`size ${size}: the first ${COLD_N} requests of the new server (fresh contexts, c=1)`);
      const coldQueries = freshQueries(COLD_N);
      cold = await runLoad(COLD_N, 1, (i) =>
        api.context({ query: coldQueries[i] as string, token_budget: 1_000 }),
      );
    }
    const search: Record<string, LoadResult> = {};
    await api.searchMemories({ query: "warm up", limit: 10 });
    const fresh1 = freshQueries(Q);
    if (runs("search")) {
      log(`size ${size}: search, fresh queries, concurrency 1`);
      search["fresh, c=1"] = await runLoad(Q, 1, (i) =>
        api.searchMemories({ query: fresh1[i] as string, limit: 10 }),
      );
    }
    if (runs("previous")) {
      // The previous release's ranking (two-list fusion, ADR 0033's signals off) on the same
      // kind of fresh queries, right after: the same-run baseline for the ranking's cost.
      const previous = freshQueries(Q);
      log(`size ${size}: search, previous hybrid, fresh queries, concurrency 1`);
      search["fresh, previous hybrid, c=1"] = await runLoad(Q, 1, (i) =>
        api.searchMemories({
          query: previous[i] as string,
          limit: 10,
          signals: { entities: false, time: false, context: false },
        }),
      );
    }
    if (runs("c16")) {
      const fresh16 = freshQueries(Q * 2);
      log(`size ${size}: search, fresh queries, concurrency 16`);
      search["fresh, c=16"] = await runLoad(Q * 2, 16, (i) =>
        api.searchMemories({ query: fresh16[i] as string, limit: 10 }),
      );
    }
    if (runs("cached")) {
      // Cached: the same 50 queries again and again (embedded by the first pass).
      const hot = fresh1.slice(0, 50);
      for (const q of hot) await api.searchMemories({ query: q, limit: 10 });
      log(`size ${size}: search, cached query embeddings`);
      search["cached, c=1"] = await runLoad(Q, 1, (i) =>
        api.searchMemories({ query: hot[i % 50] as string, limit: 10 }),
      );
      search["cached, c=16"] = await runLoad(Q * 2, 16, (i) =>
        api.searchMemories({ query: hot[i % 50] as string, limit: 10 }),
      );
    }
    if (runs("scoped")) {
      const scoped = freshQueries(Q);
      search["fresh, one user's scope, c=1"] = await runLoad(Q, 1, (i) =>
        api.searchMemories({ query: scoped[i] as string, user_id: `user-${i % 10}`, limit: 10 }),
      );
    }
    let context: LoadResult | undefined;
    if (runs("context")) {
      log(`size ${size}: context, fresh queries, concurrency 1`);
      const contextQueries = freshQueries(Q);
      context = await runLoad(Q, 1, (i) =>
        api.context({ query: contextQueries[i] as string, token_budget: 1_000 }),
      );
    }
    let add: LoadResult | undefined;
    if (runs("add")) {
      log(`size ${size}: single adds`);
      add = await runLoad(Q, 1, (i) =>
        api.addMemory({ text: textOf(50_000_000 + size + i), user_id: "user-add" }),
      );
      await api.deleteMemories({ user_id: "user-add" });
    }

    // Its PGlite directory is opened next: wait for a clean exit however long it takes.
    await srv.stop("SIGTERM", Number.POSITIVE_INFINITY);
    const { rawQuery, rawAuth } = runs("raw")
      ? await rawBaselines(`${dir}/pgdata`, manifest, fresh1)
      : {};
    return {
      size,
      seededNow: seedRate !== undefined,
      ...(seedRate ? { seedRate } : {}),
      startSeconds,
      ...(cold ? { cold } : {}),
      search,
      ...(context ? { context } : {}),
      ...(add ? { add } : {}),
      ...(rawQuery ? { rawQuery } : {}),
      ...(rawAuth ? { rawAuth } : {}),
    };
  } finally {
    await srv.stop();
  }
}

const p50p99 = (t: readonly number[]) => ({ p50: percentile(t, 50), p99: percentile(t, 99) });

/** The raw baselines on the data set, in-process once the server has stopped: one PGlite open. */
async function rawBaselines(
  pgdata: string,
  manifest: { tenantId: string; key: string },
  queries: string[],
) {
  const embedder = await createLocalEmbedder();
  const vectors = (await embedder.embed(queries)).map(vectorLiteral);
  await embedder.close();
  const db = await openPGliteDatabase(pgdata);
  try {
    return {
      rawQuery: await rawVectorQuery(db, manifest.tenantId, vectors),
      rawAuth: await rawKeyLookup(db, manifest.key),
    };
  } finally {
    await db.close();
  }
}

/**
 * The API-key lookup as the embedded server makes it, in-process: from the database (what every
 * request did before ADR 0041) and remembered by the auth cache, Q times each, in turn.
 */
async function rawKeyLookup(db: Database, key: string) {
  const times = { database: [] as number[], remembered: [] as number[] };
  const uncached = createKeyStore(db);
  const cached = createKeyStore(db, createAuthCache());
  const hash = hashSecret(key);
  for (let i = 0; i < Q; i++) {
    for (const [kind, store] of [
      ["database", uncached],
      ["remembered", cached],
    ] as const) {
      const t = performance.now();
      if (!(await store.authenticate(hash))) throw new Error("the bench key did not authenticate");
      times[kind].push(performance.now() - t);
    }
  }
  return { database: p50p99(times.database), remembered: p50p99(times.remembered) };
}

/** The pgvector nearest-neighbour query alone (same SQL shape as the API's, same settings). */
async function rawVectorQuery(db: Database, tenantId: string, vectors: string[]) {
  const times: number[] = [];
  for (const v of vectors) {
    const t = performance.now();
    await db.withTenant(
      tenantId,
      (tx) =>
        tx.query(
          `SELECT id FROM memories WHERE tenant_id = $1 AND embedding_model = 'use-lite-512'
           ORDER BY embedding::vector(512) <=> $2::vector(512) LIMIT 40`,
          [tenantId, v],
        ),
      vectorScanSettings(40),
    );
    times.push(performance.now() - t);
  }
  return p50p99(times);
}

async function rawEmbedder() {
  const embedder = await createLocalEmbedder();
  try {
    const singles: number[] = [];
    for (let i = 0; i < Q; i++) {
      const t = performance.now();
      await embedder.embed([queryOf(QUERIES - 1 - i)]);
      singles.push(performance.now() - t);
    }
    const texts = Array.from({ length: 5000 }, (_, i) => textOf(90_000_000 + i));
    const t = performance.now();
    for (let i = 0; i < texts.length; i += BATCH) await embedder.embed(texts.slice(i, i + BATCH));
    const batchRate = texts.length / ((performance.now() - t) / 1000);
    return { single: { p50: percentile(singles, 50), p99: percentile(singles, 99) }, batchRate };
  } finally {
    await embedder.close();
  }
}

async function ingestAndQuality() {
  const dir = `${DATA}ingest`;
  rmSync(dir, { recursive: true, force: true });
  const srv = await spawnServer(dir, await freePort());
  try {
    const one = await newTenant(srv.url);
    const oneApi = client(srv.url, one.key);
    log("batch ingest, 1 client");
    const rate1 = await batchIngest(oneApi, 80_000_000, 80_005_000, 10, 1);
    const two = await newTenant(srv.url);
    const twoApi = client(srv.url, two.key);
    log("batch ingest, 2 concurrent clients");
    const rate2 = await batchIngest(twoApi, 81_000_000, 81_005_000, 10, 2);
    let recall: RecallResult | undefined;
    if (!args["skip-locomo"]) {
      log("LoCoMo dev retrieval quality");
      recall = await locomoRecall(client(srv.url, (await newTenant(srv.url)).key));
    }
    return { rate1, rate2, recall };
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const loadAtStart = loadavg()[0] ?? 0;
if (ONLY) {
  // A focused run: the chosen phases of each size, printed; RESULTS.md is left as it is.
  for (const size of SIZES) {
    const s = await benchSize(size);
    const row = (k: string, r: LoadResult | undefined) =>
      r &&
      console.log(
        `${size} ${k}: n ${r.n} p50 ${ms(r.p50)} p99 ${ms(r.p99)} max ${ms(r.max)} errors ${r.errors}`,
      );
    console.log(`${size} start: ${s.startSeconds.toFixed(1)} s`);
    row(`first ${COLD_N} requests after start (context)`, s.cold);
    for (const [k, r] of Object.entries(s.search)) row(`search ${k}`, r);
    row("context", s.context);
    row("add", s.add);
    if (s.rawQuery)
      console.log(`${size} raw vector query: p50 ${ms(s.rawQuery.p50)} p99 ${ms(s.rawQuery.p99)}`);
    if (s.rawAuth) {
      const { database: d, remembered: r } = s.rawAuth;
      console.log(
        `${size} key lookup: database p50 ${ms(d.p50)} p99 ${ms(d.p99)}; remembered p50 ${ms(r.p50)} p99 ${ms(r.p99)}`,
      );
    }
    const plain = s.search["fresh, c=1"];
    if (s.context && plain)
      console.log(`${size} context p50 / search p50: ${ratio(s.context.p50, plain.p50)}`);
  }
  process.exit(0);
}
log("raw embedder baseline");
const raw = await rawEmbedder();
const quality = await ingestAndQuality();
const inference: InferenceResult | undefined = args["skip-inference"]
  ? undefined
  : await runInferenceBench(`${DATA}inference`, {
      latencyN: Q,
      skipLocomo: args["skip-locomo"] as boolean,
      locomoPer: "session",
      verbatimRecall: quality.recall,
      log,
    });
const sizes: SizeResult[] = [];
for (const size of SIZES) sizes.push(await benchSize(size));
const RESULTS = LOW_DIVERSITY ? "RESULTS-low-diversity.md" : "RESULTS.md";
writeFileSync(new URL(`./${RESULTS}`, import.meta.url), report(await describeCommit()));
log(`wrote bench/${RESULTS}`);

/** a / b as "1.07×", or "n/a" when either is missing. */
function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined ? "n/a" : `${(a / b).toFixed(2)}×`;
}

function report(commit: string): string {
  const command = `npm run bench -- ${process.argv.slice(2).join(" ")}`;
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    LOW_DIVERSITY ? "# Benchmark results: the low-diversity corpus" : "# Benchmark results",
    "",
    ...(LOW_DIVERSITY
      ? [
          "Every memory and query is made of the same ~60 words (10 names, 10 verbs, 15 activities, 10 places: `lowDiversityText` in bench/lib/corpus.ts), as one user's memories are in practice: each keyword matches a large share of the tenant, and the vectors crowd together. Same phases as bench/RESULTS.md.",
          "",
        ]
      : []),
    `- Date: ${new Date().toISOString()}`,
    `- Commit: ${commit}`,
    `- Command: \`${command}\`  (sizes ${SIZES.join(", ")}, ${Q} queries per run)`,
    `- Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, embedded mode (PGlite + pgvector), local USE-Lite embedder`,
    `- Machine load (1-minute load average) at start ${loadAtStart.toFixed(1)}, at end ${(loadavg()[0] ?? 0).toFixed(1)}: on 2 cores, anything above ~2 means other work competed with this run and absolute times are inflated; same-run ratios are the figures to compare.`,
    "- Server in a child process; load generated over loopback HTTP by this process with the SDK. Latencies in ms, nearest-rank percentiles.",
    "",
    "## Baselines measured in this run",
    "",
    `- Raw embedder, one text per call (in-process worker thread): p50 ${ms(raw.single.p50)} ms, p99 ${ms(raw.single.p99)} ms`,
    `- Raw embedder, batches of ${BATCH}: ${rate(raw.batchRate)} texts/s`,
    "",
    "## Batch ingest (POST /v1/memories/batch, 500 per call, 5,000 memories, new tenant)",
    "",
    "| clients | memories/s | vs raw embedder |",
    "|---|---|---|",
    `| 1 | ${rate(quality.rate1)} | ${((100 * quality.rate1) / raw.batchRate).toFixed(0)} % |`,
    `| 2 concurrent | ${rate(quality.rate2)} | ${((100 * quality.rate2) / raw.batchRate).toFixed(0)} % |`,
    "",
  ];
  for (const s of sizes) {
    const plain = s.search["fresh, c=1"];
    lines.push(
      `## ${s.size.toLocaleString("en")} memories in the searched tenant (+ 2 other tenants with ${(s.size / 10).toLocaleString("en")} each)`,
      "",
      s.seededNow
        ? `Seeded in this run through the batch API at ${rate(s.seedRate ?? Number.NaN)} memories/s (2 clients, into a growing HNSW index); measured on a server started afresh on it, as a reused data set is.`
        : "Data set reused from an earlier run of the same corpus version (bench/.data; `--fresh` reseeds).",
      "",
      `Server start (spawn to first answer, its search warm-up included): ${s.startSeconds.toFixed(1)} s. The rows below except the first are the warmed steady state; the first row is the first ${COLD_N} requests the new process answers.`,
      "",
      "| request (search: limit 10; embedding included) | n | p50 | p99 | max | req/s | errors |",
      "|---|---|---|---|---|---|---|",
      ...(s.cold
        ? [
            `| context, the first ${COLD_N} requests after start (fresh, c=1) | ${s.cold.n} | ${ms(s.cold.p50)} | ${ms(s.cold.p99)} | ${ms(s.cold.max)} | ${rate(s.cold.perSecond)} | ${s.cold.errors} |`,
          ]
        : []),
      ...Object.entries(s.search).map(
        ([k, r]) =>
          `| search, ${k} | ${r.n} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${rate(r.perSecond)} | ${r.errors} |`,
      ),
      ...(s.context
        ? [
            `| context, budget 1,000, memories and knowledge (fresh, c=1) | ${s.context.n} | ${ms(s.context.p50)} | ${ms(s.context.p99)} | ${ms(s.context.max)} | ${rate(s.context.perSecond)} | ${s.context.errors} |`,
          ]
        : []),
      "",
      `- Ranking with entities, time and context vs the previous hybrid, fresh, c=1: p50 ${ratio(plain?.p50, s.search["fresh, previous hybrid, c=1"]?.p50)}, p99 ${ratio(plain?.p99, s.search["fresh, previous hybrid, c=1"]?.p99)}`,
      ...(s.rawQuery
        ? [
            `- Raw pgvector query alone (same SQL shape, 40 candidates, in-process PGlite): p50 ${ms(s.rawQuery.p50)} ms, p99 ${ms(s.rawQuery.p99)} ms`,
            ...(s.rawAuth
              ? [
                  `- API-key lookup in-process on this data set (${Q} each, in turn): from the database p50 ${ms(s.rawAuth.database.p50)} ms, p99 ${ms(s.rawAuth.database.p99)} ms; remembered by the embedded server's auth cache (ADR 0041) p50 ${ms(s.rawAuth.remembered.p50)} ms, p99 ${ms(s.rawAuth.remembered.p99)} ms: what each request saves`,
                ]
              : []),
            `- API overhead at c=1, fresh: p50 ${ms(plain?.p50 ?? Number.NaN)} ms vs raw embed + raw query ${ms(raw.single.p50 + s.rawQuery.p50)} ms = ${((plain?.p50 ?? Number.NaN) / (raw.single.p50 + s.rawQuery.p50)).toFixed(2)}×`,
          ]
        : []),
      ...(s.context
        ? [
            `- Context (POST /v1/context) vs the plain search, fresh, c=1: p50 ${ratio(s.context.p50, plain?.p50)}, p99 ${ratio(s.context.p99, plain?.p99)}`,
          ]
        : []),
      ...(s.add
        ? [
            `- Single add (POST /v1/memories, c=1, n=${s.add.n}): p50 ${ms(s.add.p50)} ms, p99 ${ms(s.add.p99)} ms (raw single embed p50 ${ms(raw.single.p50)} ms)`,
          ]
        : []),
      "",
    );
  }
  lines.push("## Retrieval quality: LoCoMo dev split", "");
  if (!quality.recall) {
    lines.push(
      existsSync(LOCOMO_PATH)
        ? "Skipped (--skip-locomo)."
        : "Not measured: ../shared/data/locomo-dev.json is not present on this machine.",
    );
  } else {
    const r = quality.recall;
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
    lines.push(
      `${r.memories} memories (every dialog turn as \`speaker: text\` plus its image caption, scoped by conversation, one session_id per conversation session, dia_id in metadata); ${r.questions} questions of categories 1–4 with evidence, each searched in its conversation's user scope. Turn-level evidence recall@k, averaged over questions. "previous hybrid" is the two-list fusion of the previous release (every signal of ADR 0033 off); the last two rows turn one signal off. Bounded by the question sample: with ${r.questions} questions, a difference under about 2 points is within noise.`,
      "",
      "| ranking | recall@5 | recall@10 | recall@25 |",
      "|---|---|---|---|",
      ...RECALL_MODES.map(
        (m) => `| ${m} | ${RECALL_KS.map((k) => pct(r.recall[m][k])).join(" | ")} |`,
      ),
      "",
      "Per category (LoCoMo's categories 4, 1, 2, 3; questions per category in the header), recall@10 / recall@25:",
      "",
      `| ranking | ${Object.values(CATEGORIES)
        .map((c) => `${c} (${r.byCategory.hybrid[c]?.questions ?? 0})`)
        .join(" | ")} |`,
      `|---|${Object.values(CATEGORIES)
        .map(() => "---|")
        .join("")}`,
      ...RECALL_MODES.map(
        (m) =>
          `| ${m} | ${Object.values(CATEGORIES)
            .map((c) => {
              const cat = r.byCategory[m][c];
              return cat ? `${pct(cat[10])} / ${pct(cat[25])}` : "–";
            })
            .join(" | ")} |`,
      ),
      "",
    );
  }
  lines.push(
    ...(inference
      ? inferenceReport(inference, { commit, command })
      : ["## Inference (`infer: true`, local engine)", "", "Skipped (--skip-inference).", ""]),
  );
  return `${lines.join("\n")}\n`;
}
