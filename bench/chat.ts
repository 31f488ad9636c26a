// `npm run bench:chat`: agent chat through the real HTTP API (server in a child process), with a
// local stand-in LLM that streams like OpenAI's API as the same-run baseline: time to first token
// (chat endpoint vs the raw stand-in), cache-hit answers, chats per second at 16 concurrent
// visitors (LLM and extractive), and the semantic cache's hit rate on a repeated-question workload.
// Writes RESULTS-chat.md.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EngramAdminClient, EngramClient } from "@engram/sdk";
import {
  ADMIN_TOKEN,
  type FakeOpenAI,
  freePort,
  spawnServer,
  startFakeOpenAI,
} from "@engram/server/testing";
import { describeCommit } from "./lib/commit.ts";
import { type LoadResult, ms, percentile, runLoad } from "./lib/stats.ts";

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "200" },
    workload: { type: "string", default: "500" },
  },
});
const N = Number(args.n);
const WORKLOAD = Number(args.workload);
const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

/** What the stand-in model "thinks" before its first token, and between tokens. */
const MODEL_FIRST_TOKEN_MS = 20;
const MODEL_TOKEN_MS = 2;
const ANSWER_WORDS = 40;

const TOPICS = [
  [
    "shipping",
    "We ship to 40 countries. Standard shipping takes 3 to 5 business days; express shipping takes 1 to 2 days and costs 12 euros.",
  ],
  [
    "returns",
    "You can return any item within 30 days of delivery for a full refund. Return labels are free for members.",
  ],
  [
    "warranty",
    "Every appliance has a two year warranty covering manufacturing defects. Batteries are covered for one year.",
  ],
  [
    "payment",
    "We accept credit cards, PayPal and bank transfers. Invoices are sent by email after the order ships.",
  ],
  [
    "accounts",
    "You can reset your password from the login page. Accounts without activity for two years are closed.",
  ],
  [
    "stores",
    "Our stores open from 9 to 19 on weekdays and from 10 to 17 on Saturdays. Sundays are closed.",
  ],
  [
    "gift cards",
    "Gift cards are valid for three years and can be used online and in stores, several per order.",
  ],
  [
    "repairs",
    "Repairs take about ten days. Book a repair online and drop the device at any store.",
  ],
] as const;

/** Canonical questions a help desk gets again and again, with the ways people phrase them. */
const QUESTIONS = [
  "How long does shipping take",
  "Can I return an item",
  "What does the warranty cover",
  "Which payment methods do you accept",
  "How do I reset my password",
  "When are your stores open",
  "How long are gift cards valid",
  "How long does a repair take",
  "Do you ship to Canada",
  "Are return labels free",
  "Is the battery covered by the warranty",
  "Can I pay with PayPal",
  "Are you open on Sundays",
  "Can I use two gift cards in one order",
  "How much is express shipping",
  "Where do I book a repair",
];
const PHRASINGS = [
  (q: string) => `${q}?`,
  (q: string) => `${q.toLowerCase()}?`,
  (q: string) => `${q}`,
  (q: string) => `Hi, ${q.charAt(0).toLowerCase()}${q.slice(1)}?`,
  (q: string) => `${q} ?`,
  (q: string) => `${q}??`,
];

/** A deterministic pseudo-random sequence (mulberry32). */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Zipf(1) pick among n (rank 0 is the most frequent): a help desk's question mix. */
function zipf(n: number, rnd: () => number): number {
  const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let r = rnd() * total;
  for (let i = 0; i < n; i++) {
    r -= weights[i] as number;
    if (r <= 0) return i;
  }
  return n - 1;
}

/** A never-asked question (no cache can hold it). */
const fresh = (i: number) =>
  `Question ${i}: can you tell me about ${TOPICS[i % TOPICS.length]?.[0]} for order ${1000 + i}?`;

/** Time to the first `delta` event of a streamed chat, and to its end. */
async function chatTimes(base: string, key: string, agentId: string, message: string) {
  const started = performance.now();
  const res = await fetch(`${base}/v1/agents/${agentId}/chat`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ message }),
  });
  if (!res.ok || !res.body) throw new Error(`chat answered ${res.status}`);
  let first = Number.NaN;
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    text += decoder.decode(chunk, { stream: true });
    if (Number.isNaN(first) && text.includes("event: delta")) first = performance.now() - started;
  }
  if (!text.includes("event: done")) throw new Error(`no done event: ${text.slice(-300)}`);
  return { first, total: performance.now() - started, cached: text.includes('"cached":true') };
}

/** Time to the first content token straight from the stand-in LLM, as the server would see it. */
async function rawFirstToken(llm: FakeOpenAI, message: string) {
  const started = performance.now();
  const res = await fetch(`${llm.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "bench-model",
      stream: true,
      messages: [{ role: "user", content: message }],
    }),
  });
  if (!res.body) throw new Error("no body");
  let first = Number.NaN;
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    text += decoder.decode(chunk, { stream: true });
    if (Number.isNaN(first) && /"content":"[^"]/.test(text)) first = performance.now() - started;
  }
  return first;
}

async function seed(url: string) {
  const admin = new EngramAdminClient({ baseUrl: url, token: ADMIN_TOKEN });
  const t = await admin.createTenant({ name: "chat-bench" });
  const client = new EngramClient({ baseUrl: url, token: t.key.key, timeoutMs: 120_000 });
  for (const [topic, text] of TOPICS) {
    const doc = await client.knowledge.createDocument({
      filename: `${topic}.md`,
      text: `# ${topic}\n\n${text}\n`,
    });
    await client.knowledge.waitForJob(doc.job_id, { timeoutMs: 120_000 });
  }
  const agent = await client.agents.createAgent({
    name: "Help desk",
    instructions: "Answer from the help center. Be brief.",
    memory: { read: false, write: false },
  });
  return { client, key: t.key.key, agentId: agent.id };
}

async function startServer(dir: string, env: Record<string, string>) {
  const port = await freePort();
  return spawnServer(dir, port, {
    ENGRAM_RATE_LIMITS: "off",
    ENGRAM_WIDGET_VISITOR_REQUESTS: "1000000",
    ...env,
  });
}

interface Results {
  firstToken: { chat: number[]; raw: number[] };
  cacheHit: LoadResult;
  llmC16: LoadResult;
  extractiveC16: LoadResult;
  extractiveFirstToken: number[];
  workload: { requests: number; cached: number; distinct: number; firstAsks: number };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "engram-chat-bench-"));
  const llm = await startFakeOpenAI({
    handler: () => ({
      stream: [
        { waitMs: MODEL_FIRST_TOKEN_MS },
        ...Array.from({ length: ANSWER_WORDS }, (_, i) => `word${i} `),
      ],
      chunkDelayMs: MODEL_TOKEN_MS,
      usage: { prompt_tokens: 400, completion_tokens: ANSWER_WORDS },
    }),
  });
  const results = {} as Results;
  try {
    log("llm mode: starting the server with the stand-in LLM");
    const server = await startServer(join(dir, "llm"), {
      ENGRAM_LLM_BASE_URL: llm.baseUrl,
      ENGRAM_LLM_MODEL: "bench-model",
    });
    try {
      const { client, key, agentId } = await seed(server.url);
      // Warm-up: model, query cache, connections.
      for (let i = 0; i < 10; i++) await chatTimes(server.url, key, agentId, fresh(1_000_000 + i));

      log(`time to first token: ${N} fresh questions, chat endpoint and raw LLM interleaved`);
      const chat: number[] = [];
      const raw: number[] = [];
      for (let i = 0; i < N; i++) {
        chat.push((await chatTimes(server.url, key, agentId, fresh(i))).first);
        raw.push(await rawFirstToken(llm, fresh(i)));
      }
      results.firstToken = { chat, raw };

      log("cache hits: one question asked again and again");
      const repeated = "How long does shipping take?";
      await client.agents.chat(agentId, { message: repeated });
      results.cacheHit = await runLoad(N, 1, async () => {
        const r = await chatTimes(server.url, key, agentId, repeated);
        if (!r.cached) throw new Error("not served from the cache");
      });

      log("16 concurrent visitors, fresh questions (LLM)");
      results.llmC16 = await runLoad(N * 2, 16, (i) =>
        chatTimes(server.url, key, agentId, fresh(10_000 + i)),
      );

      log(
        `repeated-question workload: ${WORKLOAD} questions (Zipf over ${QUESTIONS.length}, ${PHRASINGS.length} phrasings)`,
      );
      const rnd = random(42);
      let cached = 0;
      const asked = new Set<number>();
      const texts = new Set<string>();
      for (let i = 0; i < WORKLOAD; i++) {
        const q = zipf(QUESTIONS.length, rnd);
        const text = (PHRASINGS[Math.floor(rnd() * PHRASINGS.length)] as (q: string) => string)(
          QUESTIONS[q] as string,
        );
        asked.add(q);
        texts.add(text);
        if ((await chatTimes(server.url, key, agentId, text)).cached) cached++;
      }
      results.workload = {
        requests: WORKLOAD,
        cached,
        distinct: texts.size,
        firstAsks: asked.size,
      };
    } finally {
      await server.stop();
    }

    log("extractive mode: the server without an LLM");
    const plain = await startServer(join(dir, "extractive"), {});
    try {
      const { key, agentId } = await seed(plain.url);
      for (let i = 0; i < 10; i++) await chatTimes(plain.url, key, agentId, fresh(2_000_000 + i));
      const first: number[] = [];
      for (let i = 0; i < N; i++)
        first.push((await chatTimes(plain.url, key, agentId, fresh(20_000 + i))).first);
      results.extractiveFirstToken = first;
      results.extractiveC16 = await runLoad(N * 2, 16, (i) =>
        chatTimes(plain.url, key, agentId, fresh(30_000 + i)),
      );
    } finally {
      await plain.stop();
    }
  } finally {
    await llm.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

function report(r: Results, commit: string): string {
  const p = (xs: number[], q: number) => ms(percentile(xs, q));
  const added = r.firstToken.chat.map((c, i) => c - (r.firstToken.raw[i] as number));
  const hitRate = r.workload.cached / r.workload.requests;
  const ceiling = (r.workload.requests - r.workload.firstAsks) / r.workload.requests;
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return [
    "# Chat benchmark",
    "",
    `Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        " ",
      )} at the end. Commit ${commit}. Command: \`npm run bench:chat -- --n ${N} --workload ${WORKLOAD}\`.`,
    "",
    "Engram runs embedded (PGlite, local embedding model) in a child process; the LLM is a local",
    `stand-in speaking OpenAI's streaming protocol, which waits ${MODEL_FIRST_TOKEN_MS} ms before its first`,
    `token and ${MODEL_TOKEN_MS} ms between its ${ANSWER_WORDS} tokens. The agent answers from 8 help-center documents.`,
    "",
    "## Time to first token",
    "",
    "| Path | n | p50 ms | p99 ms |",
    "|---|---|---|---|",
    `| Raw stand-in LLM (POST /chat/completions, stream) | ${r.firstToken.raw.length} | ${p(r.firstToken.raw, 50)} | ${p(r.firstToken.raw, 99)} |`,
    `| Chat endpoint, LLM mode, fresh questions | ${r.firstToken.chat.length} | ${p(r.firstToken.chat, 50)} | ${p(r.firstToken.chat, 99)} |`,
    `| Added by Engram (per pair, interleaved) | ${added.length} | ${p(added, 50)} | ${p(added, 99)} |`,
    `| Chat endpoint, extractive mode (no LLM) | ${r.extractiveFirstToken.length} | ${p(r.extractiveFirstToken, 50)} | ${p(r.extractiveFirstToken, 99)} |`,
    "",
    "What Engram adds before the first token is retrieval (the question embedded by the local model, memory",
    "and knowledge searched), the semantic-cache lookup, the prompt, and the hop to the LLM; the aim is at",
    "most 30 ms at p50.",
    "",
    "## Cached answers and throughput",
    "",
    "| Case | n | concurrency | p50 ms | p99 ms | per second | errors |",
    "|---|---|---|---|---|---|---|",
    ...(
      [
        ["Cache hit (same question), whole answer", r.cacheHit],
        ["Fresh questions, LLM mode, whole answer", r.llmC16],
        ["Fresh questions, extractive mode, whole answer", r.extractiveC16],
      ] as const
    ).map(
      ([name, l]) =>
        `| ${name} | ${l.n} | ${l.concurrency} | ${ms(l.p50)} | ${ms(l.p99)} | ${l.perSecond.toFixed(1)} | ${l.errors} |`,
    ),
    "",
    "## Semantic cache hit rate",
    "",
    `${r.workload.requests} standalone questions drawn (Zipf) from ${QUESTIONS.length} help-desk questions, each in one of`,
    `${PHRASINGS.length} phrasings (case, a greeting, punctuation): ${r.workload.distinct} distinct texts. Answered from the cache:`,
    `**${r.workload.cached} (${(hitRate * 100).toFixed(1)} %)**. The first ask of each question cannot be cached, so the`,
    `ceiling is ${(ceiling * 100).toFixed(1)} %. The requirement's KPI is above 80 %.`,
    "",
  ].join("\n");
}

const commit = await describeCommit();
const results = await main();
writeFileSync(new URL("./RESULTS-chat.md", import.meta.url), report(results, commit));
log("wrote bench/RESULTS-chat.md");
