// `npm run bench:peers`: Engram next to mem0's open-source engine on the same LoCoMo dev data, in
// one run. mem0 (the mem0ai package's OSS `Memory`, pinned) runs in this process with Engram's
// local USE-Lite embedder plugged in, on its default store (SQLite files) and, when PostgreSQL is
// up, on its pgvector store; Engram runs as `engram serve` children (embedded, and on PostgreSQL
// when it is up) and is called over HTTP through the SDK. Infer is off on both: every turn is kept
// verbatim, no LLM is involved. Per engine: ingest rate, single add p50/p99, search p50/p99 and
// turn-level evidence recall@5/10/25. Writes bench/RESULTS-peers.md.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { EngramClient } from "@engram/sdk";
import { loadConfig, migrateCommand } from "@engram/server";
import { createLocalEmbedder } from "@engram/server/embeddings";
import {
  createTestPostgres,
  freePort,
  newTenant,
  spawnServer,
  type TestPostgres,
  tempDir,
} from "@engram/server/testing";
import { describeCommit } from "./lib/commit.ts";
import {
  type Conversation,
  engramTurnSearch,
  ingestTurns,
  isRecallQuestion,
  LOCOMO_PATH,
  loadLocomo,
  RECALL_KS,
  type Recall,
  type TurnSearch,
  turnRecall,
  turnsOf,
} from "./lib/locomo.ts";
import { openMem0, sqliteBinding } from "./lib/mem0-oss.ts";
import { type LoadResult, ms, percentile, runLoad } from "./lib/stats.ts";

const { values: args } = parseArgs({
  options: {
    conversations: { type: "string", default: "2" },
    questions: { type: "string", default: "150" },
    adds: { type: "string", default: "100" },
    "skip-postgres": { type: "boolean", default: false },
  },
});
const CONVERSATIONS = Number(args.conversations);
const MAX_QUESTIONS = Number(args.questions);
const ADDS = Number(args.adds);
const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

const all = loadLocomo();
if (!all) {
  console.error(
    `bench:peers needs the LoCoMo dev split at ${LOCOMO_PATH.pathname} (recall is measured on its questions); it is not on this machine.`,
  );
  process.exit(2);
}
/**
 * The first CONVERSATIONS conversations, each keeping an even spread of its recall questions (every
 * k-th, so the categories keep their mix) for MAX_QUESTIONS in all.
 */
const data: Conversation[] = (() => {
  const convs = all.slice(0, CONVERSATIONS);
  const total = convs.reduce((n, c) => n + c.qa.filter(isRecallQuestion).length, 0);
  const keep = Math.min(1, MAX_QUESTIONS / Math.max(total, 1));
  return convs.map((c) => {
    const qa = c.qa.filter(isRecallQuestion);
    const n = Math.round(qa.length * keep);
    return {
      ...c,
      qa: Array.from(
        { length: n },
        (_, i) => qa[Math.floor((i * qa.length) / n)] as (typeof qa)[number],
      ),
    };
  });
})();
const turns = data.reduce((n, c) => n + turnsOf(c).length, 0);
/** The single-add probe: ADDS turn texts spread over the data, added in a scope of their own. */
const probeTexts = (() => {
  const texts = data.flatMap((c) => turnsOf(c).map((b) => b.text as string));
  const step = Math.max(1, Math.floor(texts.length / ADDS));
  return Array.from({ length: Math.min(ADDS, texts.length) }, (_, i) => texts[i * step] as string);
})();
const PROBE_USER = "single-add-probe";

/** What a measured engine offers the harness. */
interface Engine {
  /** Ingests every turn of `data`; the memories kept. */
  ingest(): Promise<number>;
  /** One add of `text` (c=1), in the probe scope. */
  add(text: string): Promise<void>;
  /** Its rankings, the default first, each searched for every question. */
  rankings: readonly string[];
  search: TurnSearch<string>;
  close(): Promise<void>;
}

interface Ranking {
  ranking: string;
  p50: number;
  p99: number;
  recall: Recall<string>[string];
}

interface EngineResult {
  name: string;
  ingestPath: string;
  memories: number;
  ingestRate: number;
  rankings: Ranking[];
  add: LoadResult;
  questions: number;
}

async function measure(name: string, ingestPath: string, open: () => Promise<Engine>) {
  log(`${name}: starting`);
  const engine = await open();
  try {
    // Warm: the first add and search initialise lazily (model workers, stores, connections).
    await engine.add("warm up: the harness says hello");
    for (const ranking of engine.rankings) await engine.search("hello", PROBE_USER, ranking);
    log(`${name}: ingesting ${turns} turns (${ingestPath})`);
    const t0 = performance.now();
    const memories = await engine.ingest();
    const ingestRate = memories / ((performance.now() - t0) / 1000);
    log(`${name}: ${memories} memories at ${ingestRate.toFixed(1)}/s; questions`);
    const times = new Map(engine.rankings.map((m) => [m, [] as number[]]));
    const timed: TurnSearch<string> = async (query, userId, mode) => {
      const t = performance.now();
      const hits = await engine.search(query, userId, mode);
      times.get(mode)?.push(performance.now() - t);
      return hits;
    };
    // Rankings alternate question by question, so load from elsewhere falls on each alike.
    const r = await turnRecall(data, timed, engine.rankings);
    log(`${name}: ${ADDS} single adds`);
    const add = await runLoad(probeTexts.length, 1, (i) => engine.add(probeTexts[i] as string));
    const result: EngineResult = {
      name,
      ingestPath,
      memories,
      ingestRate,
      rankings: engine.rankings.map((ranking) => ({
        ranking,
        p50: percentile(times.get(ranking) ?? [], 50),
        p99: percentile(times.get(ranking) ?? [], 99),
        recall: r.recall[ranking] as Ranking["recall"],
      })),
      add,
      questions: r.questions,
    };
    log(`${name}: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await engine.close();
  }
}

/** Engram's default ranking, and the same with ADR 0033's signals (entities, time, context) off. */
const ENGRAM_RANKINGS = ["hybrid (default)", "hybrid, signals off"] as const;

/** Engram as an `engram serve` child: embedded (PGlite), or on `database` (migrated first). */
async function engram(database?: TestPostgres): Promise<Engine> {
  const dir = tempDir("engram-peers-");
  const env: NodeJS.ProcessEnv = { ENGRAM_RATE_LIMITS: "off", REDIS_URL: undefined };
  if (database) {
    await migrateCommand(
      loadConfig({ ENGRAM_DATABASE_OWNER_URL: database.ownerUrl, ENGRAM_LOG_LEVEL: "warn" }),
    );
    Object.assign(env, { DATABASE_URL: database.appUrl, ENGRAM_DATABASE_OWNER_URL: undefined });
  }
  const server = await spawnServer(dir, await freePort(), env);
  const tenant = await newTenant(server.url);
  const client = new EngramClient({ baseUrl: server.url, token: tenant.key, timeoutMs: 600_000 });
  const search = engramTurnSearch(client, (hit) => [String(hit.metadata.dia_id)]);
  return {
    rankings: ENGRAM_RANKINGS,
    ingest: () => ingestTurns(client, data),
    add: async (text) => {
      await client.addMemory({ text, user_id: PROBE_USER });
    },
    search: (query, userId, ranking) =>
      search(query, userId, ranking === ENGRAM_RANKINGS[0] ? "hybrid" : "previous hybrid"),
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh PostgreSQL database, or why there is none. */
async function postgres(): Promise<TestPostgres | string> {
  if (args["skip-postgres"]) return "skipped (--skip-postgres)";
  try {
    return await createTestPostgres();
  } catch (err) {
    return `not reachable (${(err as Error).message.split("\n")[0]})`;
  }
}

const loadAtStart = loadavg()[0] ?? 0;
const embedder = await createLocalEmbedder();
const results: EngineResult[] = [];
let raw: { add: { p50: number; p99: number }; query: { p50: number; p99: number } };
let pgNote = "";
try {
  log("raw embedder: one text per call, the probe turns and the questions");
  await embedder.embed(["warm up"]);
  const single = async (texts: readonly string[]) => {
    const times: number[] = [];
    for (const text of texts) {
      const t = performance.now();
      await embedder.embed([text]);
      times.push(performance.now() - t);
    }
    return { p50: percentile(times, 50), p99: percentile(times, 99) };
  };
  const questions = data.flatMap((c) => c.qa.map((q) => q.question)).slice(0, ADDS);
  raw = { add: await single(probeTexts), query: await single(questions) };

  const mem0Ingest = (m: Awaited<ReturnType<typeof openMem0>>) => async () => {
    let n = 0;
    // The same bodies Engram's batch ingest sends: text, conversation scope, dia_id.
    for (const body of data.flatMap(turnsOf)) {
      await m.add(body.text as string, body.user_id as string, String(body.metadata?.dia_id));
      n++;
    }
    return n;
  };
  const mem0Engine = async (store: Parameters<typeof openMem0>[1]): Promise<Engine> => {
    const m = await openMem0(embedder, store);
    return {
      ingest: mem0Ingest(m),
      add: (text) => m.add(text, PROBE_USER, "probe"),
      rankings: ["default"],
      search: m.search,
      close: m.close,
    };
  };
  const MEM0_PATH = "one `add(text, {infer: false})` per turn, c=1 (mem0 OSS has no batch add)";
  const ENGRAM_PATH = "`POST /v1/memories/batch`, 500 per call, c=1";
  results.push(
    await measure("mem0 OSS, default store (SQLite)", MEM0_PATH, () =>
      mem0Engine({ kind: "default" }),
    ),
  );
  results.push(await measure("Engram, embedded (PGlite)", ENGRAM_PATH, () => engram()));
  const pg = await postgres();
  if (typeof pg === "string") {
    pgNote = `PostgreSQL ${pg}: the pgvector rows are missing.`;
    log(pgNote);
  } else {
    try {
      results.push(
        await measure("mem0 OSS, pgvector store", MEM0_PATH, () =>
          mem0Engine({ kind: "pgvector", url: pg.ownerUrl }),
        ),
      );
    } finally {
      await pg.drop();
    }
    const pg2 = await createTestPostgres();
    try {
      results.push(await measure("Engram, cluster (PostgreSQL)", ENGRAM_PATH, () => engram(pg2)));
    } finally {
      await pg2.drop();
    }
  }
} finally {
  await embedder.close();
}

writeFileSync(new URL("./RESULTS-peers.md", import.meta.url), report(await describeCommit()));
log("wrote bench/RESULTS-peers.md");

function report(commit: string): string {
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  const times = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const questions = results[0]?.questions ?? 0;
  const lines = [
    "# Engram and mem0 OSS side by side (`npm run bench:peers`)",
    "",
    `- Date: ${new Date().toISOString()}; commit ${commit}`,
    `- Command: \`npm run bench:peers${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}\` (conversations ${CONVERSATIONS}, questions ${MAX_QUESTIONS}, single adds ${ADDS})`,
    `- Machine: ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; 1-minute load ${loadAtStart.toFixed(1)} at start, ${(loadavg()[0] ?? 0).toFixed(1)} at the end (above ~2 on 2 cores, other work competed and absolute times are inflated: compare the same-run ratios)`,
    "- **Infer is off on both**: every dialog turn is kept verbatim (mem0: `infer: false`; Engram: its default, `infer: false`). No LLM runs; mem0's required LLM config is a dummy pointed at a closed local port and is never called.",
    `- Data: LoCoMo dev split, first ${data.length} conversation(s), ${turns} turns, each stored as \`speaker: text\` (plus its image caption) in its conversation's user scope with its dia_id in metadata; ${questions} questions of categories 1–4 with evidence (an even spread of each conversation's), each searched once per engine and ranking in its conversation's scope, 25 results; turn-level evidence recall@k averaged over the questions.`,
    `- mem0: mem0ai ${mem0Version()} (Apache-2.0), its OSS \`Memory\` in this process, embedding with Engram's local USE-Lite model (the same \`createLocalEmbedder()\` the server uses, plugged in as mem0's \`langchain\` embedder); its default history store (SQLite) on; SQLite binding: ${sqliteBinding} (ADR 0042); search with \`topK: 25, threshold: 0\` (its semantic + BM25 + entity-boost ranking; its optional NLP peers, natural and compromise, are not installed, and its ESM build could not load them anyway). The pgvector store is mem0's defaults (no index: exact scan) on a fresh database of its own, dropped after.`,
    "- Engram: `engram serve` child processes (embedded: PGlite in a temporary directory; cluster: a fresh PostgreSQL database migrated by `engram migrate`, dropped after), called over loopback HTTP with the SDK, one new tenant each, rate limits off.",
    ...(pgNote ? [`- ${pgNote}`] : []),
    "",
    `Raw embedder in this process, one text per call: the probe turns p50 ${ms(raw.add.p50)} / p99 ${ms(raw.add.p99)} ms, questions p50 ${ms(raw.query.p50)} / p99 ${ms(raw.query.p99)} ms: the floor of a single add and of a search on either engine (one text at a time, nothing else, caps an ingest at ${(1000 / raw.add.p50).toFixed(0)} turns/s).`,
    "",
    "| engine | ranking | ingest path | memories | ingest memories/s | single add p50 / p99 (ms) | search p50 / p99 (ms) | recall@5 | recall@10 | recall@25 |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...results.flatMap((r) =>
      r.rankings.map((k, i) =>
        i === 0
          ? `| ${r.name} | ${k.ranking} | ${r.ingestPath} | ${r.memories} | ${r.ingestRate.toFixed(1)} | ${ms(r.add.p50)} / ${ms(r.add.p99)} | ${ms(k.p50)} / ${ms(k.p99)} | ${RECALL_KS.map((n) => pct(k.recall[n])).join(" | ")} |`
          : `| ${r.name} | ${k.ranking} | | | | | ${ms(k.p50)} / ${ms(k.p99)} | ${RECALL_KS.map((n) => pct(k.recall[n])).join(" | ")} |`,
      ),
    ),
    "",
    ...results.flatMap((r) => {
      const [on, off] = r.rankings;
      return r.name.startsWith("Engram") && on && off
        ? [
            `${r.name}: the default ranking's search p50 is ${times(on.p50, off.p50)} (p99 ${times(on.p99, off.p99)}) the same search with its signals off, for ${((on.recall[10] - off.recall[10]) * 100).toFixed(1)} points of recall@10.`,
            "",
          ]
        : [];
    }),
    `Single adds: ${ADDS} turns spread over the data, one call at a time, into a scope of their own after the questions (errors: ${results.map((r) => r.add.errors).join(", ")}). Search latency: each question's search (${questions} per engine and ranking, one at a time, the rankings alternating), embedding of the question included.`,
    "",
    "## Engram / mem0, same run",
    "",
    "Ingest rate: above 1 is Engram faster; latencies: below 1 is Engram faster; recall: Engram minus mem0, in points.",
    "",
    "| Engram | mem0 | ingest rate | add p50 | add p99 | search p50 | search p99 | recall@5 | recall@10 | recall@25 |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  const pairs = [
    ["Engram, embedded (PGlite)", "mem0 OSS, default store (SQLite)"],
    ["Engram, cluster (PostgreSQL)", "mem0 OSS, pgvector store"],
  ] as const;
  for (const [e, m] of pairs) {
    const a = results.find((r) => r.name === e);
    const b = results.find((r) => r.name === m);
    const mem0 = b?.rankings[0];
    if (!a || !b || !mem0) continue;
    for (const k of a.rankings) {
      lines.push(
        `| ${e}, ${k.ranking} | ${m} | ${times(a.ingestRate, b.ingestRate)} | ${times(a.add.p50, b.add.p50)} | ${times(a.add.p99, b.add.p99)} | ${times(k.p50, mem0.p50)} | ${times(k.p99, mem0.p99)} | ${RECALL_KS.map((n) => `${((k.recall[n] - mem0.recall[n]) * 100).toFixed(1)}`).join(" | ")} |`,
      );
    }
  }
  lines.push(
    "",
    "## What bounds each number",
    "",
    "- **mem0 ingest**: one model call per turn. mem0 OSS has no batch add, and with `infer: false` even a list of messages is embedded one message per call, so its rate is bounded by the single-text embedding time (the raw floor above) plus, per add, a vector-store insert and a history row. On its default store each add commits two SQLite files (vectors, history) with SQLite's defaults (rollback journal, `synchronous=FULL`), each commit an fsync (about 15 ms a committed insert on this machine's disk); on pgvector, one PostgreSQL insert plus the SQLite history commit.",
    "- **Engram ingest**: the batch API embeds up to 64 texts per model call, in runs of similar length (the embedding worker's default; `npm run bench:conversations` measures the raw batch rate on the same turns), then writes each batch in one transaction with its keyword postings, entity links and history. Bounded by the model's batch rate on chat-length text.",
    "- **Single add**: both are one embedding (the raw floor) plus a write. Engram adds HTTP, authentication, and a durable PostgreSQL/PGlite transaction with keyword postings, entity links and history; mem0 adds a SQLite insert and history row in-process (or one PostgreSQL insert per add).",
    "- **Search**: both embed the question (the raw floor). mem0's default store keeps vectors and payloads in one SQLite table and, per search, reads every row of the whole store (every user), parses each JSON payload and scores it in JavaScript, twice (vectors, then BM25 on its stemmed text); it grows linearly with the store. When the question names entities, mem0 also embeds them (one more model call) and searches its entity store (empty with infer off). Its pgvector store, by default without an index, scans the table with a `payload->>'user_id'` filter and builds each row's tsvector at query time. Engram's default ranking adds the entity, time and session-context signals of ADR 0033 to the two-list fusion; the `hybrid, signals off` row is the same search without them, which shows what they cost on this data.",
    `- **Recall**: bounded by the question sample: with ${questions} questions a difference of a few points is within noise. The rankings differ: mem0 ranks its 100 nearest vectors by cosine + BM25 + entity boost (no entities are stored with infer off, so no boost applies); on pgvector its keyword side is \`plainto_tsquery\` (every stemmed word must match) over a \`simple\` tsvector, with \`ts_rank_cd\` scores put through the sigmoid meant for BM25 scores, so it adds little and that ranking is close to vector-only (USE-Lite vector-only recall on the whole split in bench/RESULTS.md: 35 / 47 / 62 %). Engram's hybrid fuses a vector and a keyword list over the whole scope, then (default) its signals.`,
  );
  return `${lines.join("\n")}\n`;
}

function mem0Version(): string {
  const pkg = new URL("../node_modules/mem0ai/package.json", import.meta.url);
  return existsSync(pkg)
    ? (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version
    : "?";
}
