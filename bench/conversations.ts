// `npm run bench:conversations`: ingesting real conversation text. The local model pads every
// text of a call to the call's longest, so the mix of lengths in chat (a "ha, nice" next to a long
// story) costs more than short synthetic sentences. Measured in one run: the raw embedder on
// LoCoMo dev turns (../shared/data; synthetic chat messages when it is absent, and the report says
// so) in batches of 50, as one call per batch and in runs of similar length (what the embedding
// worker does by default), and the batch API (`POST /v1/memories/batch`, 500 per call) on the
// same turns, against the raw rate. Writes bench/RESULTS-conversations.md.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EngramAdminClient, EngramClient } from "@engram/sdk";
import { createLocalEmbedder } from "@engram/server/embeddings";
import { ADMIN_TOKEN, freePort, spawnServer } from "@engram/server/testing";
import { chatMessage } from "./lib/chat-messages.ts";
import { describeCommit } from "./lib/commit.ts";
import { loadLocomo, turnsOf } from "./lib/locomo.ts";

const { values: args } = parseArgs({
  options: {
    texts: { type: "string", default: "1500" },
    rounds: { type: "string", default: "3" },
  },
});
const N = Number(args.texts);
const ROUNDS = Number(args.rounds);
const BATCH = 50;
const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

const locomo = loadLocomo();
const texts = locomo
  ? locomo.flatMap((c) => turnsOf(c).map((b) => b.text as string)).slice(0, N)
  : Array.from({ length: N }, (_, i) => chatMessage(i));
const source = locomo
  ? `LoCoMo dev turns (${texts.length}, "Speaker: text" as the LoCoMo bench stores them)`
  : `synthetic chat messages (${texts.length}; ../shared/data/locomo-dev.json is not on this machine)`;
const lengths = texts.map((t) => t.length).sort((a, b) => a - b);

/** Texts per second embedding `texts` in calls of BATCH with this embedder. */
async function rawRate(embed: (t: string[]) => Promise<unknown>) {
  const started = performance.now();
  for (let i = 0; i < texts.length; i += BATCH) await embed(texts.slice(i, i + BATCH));
  return texts.length / ((performance.now() - started) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

log(`raw embedder on ${source}: ${ROUNDS} rounds, whole batches and length runs in turn`);
const whole = await createLocalEmbedder({ batchSize: 64, lengthBuckets: false });
const runs = await createLocalEmbedder({ batchSize: 64 });
const rates = { whole: [] as number[], runs: [] as number[] };
try {
  await whole.embed(["warm up"]);
  await runs.embed(["warm up"]);
  for (let r = 0; r < ROUNDS; r++) {
    rates.whole.push(await rawRate((t) => whole.embed(t)));
    rates.runs.push(await rawRate((t) => runs.embed(t)));
    log(
      `round ${r}: whole ${rates.whole.at(-1)?.toFixed(1)}/s, runs ${rates.runs.at(-1)?.toFixed(1)}/s`,
    );
  }
} finally {
  await whole.close();
  await runs.close();
}

log("the batch API on the same texts (embedded server, 500 per call)");
const dir = mkdtempSync(join(tmpdir(), "engram-conv-bench-"));
let apiRate = Number.NaN;
try {
  const server = await spawnServer(dir, await freePort(), { ENGRAM_RATE_LIMITS: "off" });
  try {
    const admin = new EngramAdminClient({ baseUrl: server.url, token: ADMIN_TOKEN });
    const t = await admin.createTenant({ name: "conversations" });
    const client = new EngramClient({ baseUrl: server.url, token: t.key.key, timeoutMs: 600_000 });
    await client.addMemory({ text: "warm up", user_id: "warm" });
    const started = performance.now();
    for (let i = 0; i < texts.length; i += 500) {
      await client.batchAddMemories({
        memories: texts.slice(i, i + 500).map((text, k) => ({ text, user_id: `u${(i + k) % 10}` })),
      });
    }
    apiRate = texts.length / ((performance.now() - started) / 1000);
  } finally {
    await server.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const w = median(rates.whole);
const r = median(rates.runs);
const report = [
  "# Conversation ingest (`npm run bench:conversations`)",
  "",
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(
      " ",
    )} at the end. Commit ${await describeCommit()}. Command: \`npm run bench:conversations -- --texts ${N} --rounds ${ROUNDS}\`.`,
  "",
  `Texts: ${source}; length in characters p10 ${lengths[Math.floor(lengths.length * 0.1)]}, median ${median(lengths)}, p90 ${lengths[Math.floor(lengths.length * 0.9)]}, max ${lengths.at(-1)}.`,
  "",
  "| Path | texts/s (median of rounds) | rounds |",
  "|---|---|---|",
  `| Raw embedder, calls of ${BATCH}, each call one model call (before) | ${w.toFixed(1)} | ${rates.whole.map((x) => x.toFixed(1)).join(", ")} |`,
  `| Raw embedder, calls of ${BATCH}, in runs of similar length (default) | ${r.toFixed(1)} | ${rates.runs.map((x) => x.toFixed(1)).join(", ")} |`,
  `| Batch API, 500 per call, through HTTP into PGlite | ${apiRate.toFixed(1)} | 1 |`,
  "",
  `Length runs: **${(r / w).toFixed(2)}×** the whole-batch rate in the same run. The batch API ingests at ${((apiRate / r) * 100).toFixed(0)} % of the raw embedder's rate (length runs) in the same run; the rest is the database (inserts, keyword postings, entity links) and HTTP.`,
  "",
].join("\n");
writeFileSync(new URL("./RESULTS-conversations.md", import.meta.url), report);
log("wrote bench/RESULTS-conversations.md");
