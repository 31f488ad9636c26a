// `npm run bench:import [-- --memories 1000 --batch 100 --rounds 2]`: `engram import` against the
// raw batch API it wraps, in the same run, on the same server: memories/s of sequential
// POST /v1/memories/batch calls from this process (the baseline) and of the CLI importing the
// same memories from a JSONL file in a child process (wall time of the whole command: Node start,
// the counting pass, checkpoints), with one and with two batches in flight. Each round uses fresh
// tenants; which path goes first rotates. Writes bench/RESULTS-import.md.
import { rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort, newTenant, runEngram, spawnServer, tempDir } from "@engram/server/testing";
import { describeCommit } from "./lib/commit.ts";
import { memoryText } from "./lib/corpus.ts";
import { rate } from "./lib/stats.ts";

const { values: args } = parseArgs({
  options: {
    memories: { type: "string", default: "1000" },
    batch: { type: "string", default: "100" },
    rounds: { type: "string", default: "2" },
  },
});
const N = Number(args.memories);
const BATCH = Number(args.batch);
const ROUNDS = Number(args.rounds);
for (const [name, v] of [
  ["memories", N],
  ["batch", BATCH],
  ["rounds", ROUNDS],
] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: a positive integer`);
}
const log = (msg: string) => process.stderr.write(`${msg}\n`);
const loadStart = loadavg()[0] ?? 0;

const dir = tempDir("engram-bench-import-");
const records = Array.from({ length: N }, (_, i) => ({
  text: memoryText(i),
  user_id: `user-${i % 20}`,
  metadata: { i },
}));
const file = join(dir, "memories.jsonl");
writeFileSync(file, `${records.map((r) => JSON.stringify(r)).join("\n")}\n`);

const server = await spawnServer(join(dir, "server"), await freePort(), {
  ENGRAM_RATE_LIMITS: "off",
});
const raw: number[] = [];
const cliOne: number[] = [];
const cliTwo: number[] = [];
let startup = Number.NaN;
try {
  // What a CLI command costs before it does anything (Node, tsx, commander, the SDK).
  const t = performance.now();
  await runEngram(["--help"], {});
  startup = performance.now() - t;

  const viaApi = async (round: number) => {
    const a = await newTenant(server.url);
    const t0 = performance.now();
    for (let i = 0; i < N; i += BATCH) {
      const memories = records.slice(i, i + BATCH).map((r) => ({ ...r, infer: false }));
      await a.client.batchAddMemories({ memories });
    }
    raw.push(N / ((performance.now() - t0) / 1000));
    log(`round ${round + 1}: raw batch API ${rate(raw.at(-1) as number)}/s`);
  };
  const viaCli = async (round: number, concurrency: number, into: number[]) => {
    const b = await newTenant(server.url);
    rmSync(`${file}.import-checkpoint.json`, { force: true });
    const t0 = performance.now();
    const r = await runEngram(
      ["import", file, "--batch-size", String(BATCH), "--concurrency", String(concurrency)],
      { ENGRAM_URL: server.url, ENGRAM_API_KEY: b.key },
    );
    if (r.code !== 0) throw new Error(`engram import failed: ${r.stderr}`);
    into.push(N / ((performance.now() - t0) / 1000));
    log(
      `round ${round + 1}: engram import, ${concurrency} in flight: ${rate(into.at(-1) as number)}/s`,
    );
  };
  for (let round = 0; round < ROUNDS; round++) {
    const paths = [
      () => viaApi(round),
      () => viaCli(round, 1, cliOne),
      () => viaCli(round, 2, cliTwo),
    ];
    // Rotated each round, so no path always runs first.
    for (let k = 0; k < paths.length; k++) await paths[(k + round) % paths.length]?.();
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const pct = (xs: number[]) => `${((median(xs) / median(raw)) * 100).toFixed(0)} %`;
const report = `# Import benchmark

\`npm run bench:import -- ${process.argv.slice(2).join(" ")}\` · commit ${await describeCommit()} ·
${new Date().toISOString()} · ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB ·
load average ${loadStart.toFixed(1)} at the start, ${(loadavg()[0] ?? 0).toFixed(1)} at the end.

${N} memories (text, user id, metadata; \`infer: false\`) in batches of ${BATCH}, ${ROUNDS} round(s),
each into fresh tenants of one \`engram serve\` (embedded mode, rate limits off).

| Path | memories/s per round | median | of the raw API |
| --- | --- | --- | --- |
| raw \`POST /v1/memories/batch\`, sequential, from this process | ${raw.map(rate).join(", ")} | ${rate(median(raw))} | 100 % |
| \`engram import\` (default: 1 batch in flight; child process, whole command) | ${cliOne.map(rate).join(", ")} | ${rate(median(cliOne))} | ${pct(cliOne)} |
| \`engram import --concurrency 2\` | ${cliTwo.map(rate).join(", ")} | ${rate(median(cliTwo))} | ${pct(cliTwo)} |

**engram import (default): ${pct(cliOne)} of the raw batch API** (aim ≥ 90 %). The CLI's time
includes starting the command (${(startup / 1000).toFixed(1)} s for \`engram --help\` in this run),
counting the file's lines for the ETA, and writing the checkpoint after each batch. Single rounds
vary with the machine's other load; compare the medians of several rounds.
`;
writeFileSync(new URL("./RESULTS-import.md", import.meta.url), report);
log(report);
