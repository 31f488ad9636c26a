// `npm run bench`: search, add and ingest latency/throughput through the real HTTP API (server in
// a child process), with the raw embedder and the raw pgvector query as same-run baselines, and
// retrieval quality on the LoCoMo dev split when ../shared/data is present, and what `infer: true`
// decides and costs (lib/inference.ts). Writes RESULTS.md.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { EngramClient } from "@engram/sdk";
import { vectorLiteral } from "@engram/server";
import { openPGliteDatabase } from "@engram/server/db";
import { createLocalEmbedder } from "@engram/server/embeddings";
import { freePort, newTenant, spawnServer } from "@engram/server/testing";
import { describeCommit } from "./lib/commit.ts";
import { memoryText, QUERY_SPACE, queryText } from "./lib/corpus.ts";
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
  },
});
const SIZES = (args.sizes as string).split(",").map(Number);
const Q = Number(args.queries);
const DATA = new URL("./.data/", import.meta.url).pathname;
const CORPUS_VERSION = 1;
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
  if (queryCursor + n > QUERY_SPACE) throw new Error("query space exhausted; lower --queries");
  const out = Array.from({ length: n }, (_, i) => queryText(queryCursor + i));
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
          memories.push({ text: memoryText(i), user_id: `user-${i % userCount}` });
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
  search: Record<string, LoadResult>;
  /** POST /v1/context, default budget, fresh queries, c=1: compared with the plain search's p50. */
  context: LoadResult;
  add: LoadResult;
  rawQuery: { p50: number; p99: number };
}

async function benchSize(size: number): Promise<SizeResult> {
  const dir = `${DATA}size-${size}`;
  const manifestPath = `${dir}/bench-manifest.json`;
  let manifest: { version: number; key: string; tenantId: string } | undefined;
  if (!args.fresh && existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, "utf8"));
    if (m.version === CORPUS_VERSION) manifest = m;
  }
  if (!manifest) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const srv = await spawnServer(dir, await freePort());
  try {
    let seedRate: number | undefined;
    if (!manifest) {
      // Other tenants hold a tenth of the data each, so tenant filtering is part of every query.
      const users = Math.max(1, Math.floor(size / 1000));
      for (const [i, n] of [size / 10, size / 10].entries()) {
        const other = await newTenant(srv.url);
        log(`size ${size}: seeding other tenant ${i + 1} with ${n}`);
        await batchIngest(
          client(srv.url, other.key),
          10_000_000 * (i + 1),
          10_000_000 * (i + 1) + n,
          users,
          2,
        );
      }
      const main = await newTenant(srv.url);
      log(`size ${size}: seeding main tenant with ${size}`);
      seedRate = await batchIngest(client(srv.url, main.key), 0, size, users, 2);
      manifest = { version: CORPUS_VERSION, key: main.key, tenantId: main.tenantId };
      writeFileSync(manifestPath, JSON.stringify(manifest));
    }
    const api = client(srv.url, manifest.key);
    const search: Record<string, LoadResult> = {};
    const fresh1 = freshQueries(Q);
    log(`size ${size}: search, fresh queries, concurrency 1`);
    await api.searchMemories({ query: "warm up", limit: 10 });
    search["fresh, c=1"] = await runLoad(Q, 1, (i) =>
      api.searchMemories({ query: fresh1[i] as string, limit: 10 }),
    );
    // The previous release's ranking (two-list fusion, ADR 0033's signals off) on the same kind
    // of fresh queries, right after: the same-run baseline for the ranking's cost.
    const previous = freshQueries(Q);
    log(`size ${size}: search, previous hybrid, fresh queries, concurrency 1`);
    search["fresh, previous hybrid, c=1"] = await runLoad(Q, 1, (i) =>
      api.searchMemories({
        query: previous[i] as string,
        limit: 10,
        signals: { entities: false, time: false, context: false },
      }),
    );
    const fresh16 = freshQueries(Q * 2);
    log(`size ${size}: search, fresh queries, concurrency 16`);
    search["fresh, c=16"] = await runLoad(Q * 2, 16, (i) =>
      api.searchMemories({ query: fresh16[i] as string, limit: 10 }),
    );
    // Cached: the same 50 queries again and again (all already embedded above).
    const hot = fresh1.slice(0, 50);
    log(`size ${size}: search, cached query embeddings`);
    search["cached, c=1"] = await runLoad(Q, 1, (i) =>
      api.searchMemories({ query: hot[i % 50] as string, limit: 10 }),
    );
    search["cached, c=16"] = await runLoad(Q * 2, 16, (i) =>
      api.searchMemories({ query: hot[i % 50] as string, limit: 10 }),
    );
    const scoped = freshQueries(Q);
    search["fresh, one user's scope, c=1"] = await runLoad(Q, 1, (i) =>
      api.searchMemories({ query: scoped[i] as string, user_id: `user-${i % 10}`, limit: 10 }),
    );
    log(`size ${size}: context, fresh queries, concurrency 1`);
    const contextQueries = freshQueries(Q);
    const context = await runLoad(Q, 1, (i) =>
      api.context({ query: contextQueries[i] as string, token_budget: 1_000 }),
    );
    log(`size ${size}: single adds`);
    const add = await runLoad(Q, 1, (i) =>
      api.addMemory({ text: memoryText(50_000_000 + size + i), user_id: "user-add" }),
    );
    await api.deleteMemories({ user_id: "user-add" });

    // Its PGlite directory is opened next: wait for a clean exit however long it takes.
    await srv.stop("SIGTERM", Number.POSITIVE_INFINITY);
    const rawQuery = await rawVectorQuery(`${dir}/pgdata`, manifest.tenantId, fresh1);
    return {
      size,
      seededNow: seedRate !== undefined,
      ...(seedRate ? { seedRate } : {}),
      search,
      context,
      add,
      rawQuery,
    };
  } finally {
    await srv.stop();
  }
}

/** The pgvector nearest-neighbour query alone (same SQL shape as the API's, same settings). */
async function rawVectorQuery(pgdata: string, tenantId: string, queries: string[]) {
  const embedder = await createLocalEmbedder();
  const vectors = (await embedder.embed(queries)).map(vectorLiteral);
  await embedder.close();
  const db = await openPGliteDatabase(pgdata);
  const times: number[] = [];
  try {
    for (const v of vectors) {
      const t = performance.now();
      await db.withTenant(tenantId, async (tx) => {
        await tx.query(
          "SELECT set_config('hnsw.ef_search', '40', true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
        );
        await tx.query(
          `SELECT id FROM memories WHERE tenant_id = $1 AND embedding_model = 'use-lite-512'
           ORDER BY embedding::vector(512) <=> $2::vector(512) LIMIT 40`,
          [tenantId, v],
        );
      });
      times.push(performance.now() - t);
    }
  } finally {
    await db.close();
  }
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function rawEmbedder() {
  const embedder = await createLocalEmbedder();
  try {
    const singles: number[] = [];
    for (let i = 0; i < Q; i++) {
      const t = performance.now();
      await embedder.embed([queryText(QUERY_SPACE - 1 - i)]);
      singles.push(performance.now() - t);
    }
    const texts = Array.from({ length: 5000 }, (_, i) => memoryText(90_000_000 + i));
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
writeFileSync(new URL("./RESULTS.md", import.meta.url), report(await describeCommit()));
log("wrote bench/RESULTS.md");

/** a / b as "1.07×", or "n/a" when either is missing. */
function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined ? "n/a" : `${(a / b).toFixed(2)}×`;
}

function report(commit: string): string {
  const command = `npm run bench -- ${process.argv.slice(2).join(" ")}`;
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    "# Benchmark results",
    "",
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
    lines.push(
      `## ${s.size.toLocaleString("en")} memories in the searched tenant (+ 2 other tenants with ${(s.size / 10).toLocaleString("en")} each)`,
      "",
      s.seededNow
        ? `Seeded in this run through the batch API at ${rate(s.seedRate ?? Number.NaN)} memories/s (2 clients, into a growing HNSW index).`
        : "Data set reused from an earlier run of the same corpus version (bench/.data; `--fresh` reseeds).",
      "",
      "| search (limit 10, embedding included) | n | p50 | p99 | req/s | errors |",
      "|---|---|---|---|---|---|",
      ...Object.entries(s.search).map(
        ([k, r]) =>
          `| ${k} | ${r.n} | ${ms(r.p50)} | ${ms(r.p99)} | ${rate(r.perSecond)} | ${r.errors} |`,
      ),
      "",
      `- Ranking with entities, time and context vs the previous hybrid, fresh, c=1: p50 ${ratio(s.search["fresh, c=1"]?.p50, s.search["fresh, previous hybrid, c=1"]?.p50)}, p99 ${ratio(s.search["fresh, c=1"]?.p99, s.search["fresh, previous hybrid, c=1"]?.p99)}`,
      `- Raw pgvector query alone (same SQL shape, 40 candidates, in-process PGlite): p50 ${ms(s.rawQuery.p50)} ms, p99 ${ms(s.rawQuery.p99)} ms`,
      `- API overhead at c=1, fresh: p50 ${ms(s.search["fresh, c=1"]?.p50 ?? Number.NaN)} ms vs raw embed + raw query ${ms(raw.single.p50 + s.rawQuery.p50)} ms = ${((s.search["fresh, c=1"]?.p50 ?? Number.NaN) / (raw.single.p50 + s.rawQuery.p50)).toFixed(2)}×`,
      `- Context (POST /v1/context, budget 1,000, memories and knowledge, fresh, c=1, n=${s.context.n}, errors ${s.context.errors}): p50 ${ms(s.context.p50)} ms, p99 ${ms(s.context.p99)} ms = ${(s.context.p50 / (s.search["fresh, c=1"]?.p50 ?? Number.NaN)).toFixed(2)}× the plain search's p50`,
      `- Single add (POST /v1/memories, c=1, n=${s.add.n}): p50 ${ms(s.add.p50)} ms, p99 ${ms(s.add.p99)} ms (raw single embed p50 ${ms(raw.single.p50)} ms)`,
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
