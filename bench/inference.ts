// `npm run bench:inference`: the inference section of `npm run bench` alone (reconciliation set,
// LoCoMo dev with infer: true next to verbatim, add latency infer vs verbatim), written into
// bench/RESULTS.md in place of that file's inference section (the other sections are kept).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { describeCommit } from "./lib/commit.ts";
import { caseDetails, inferenceReport, runInferenceBench } from "./lib/inference.ts";

const { values: args } = parseArgs({
  options: {
    "latency-n": { type: "string", default: "300" },
    "skip-locomo": { type: "boolean", default: false },
    "locomo-per": { type: "string", default: "session" },
    /** Also write every reconciliation case's outcome (events, texts, reasons) to this JSON file. */
    details: { type: "string" },
  },
});
const per = args["locomo-per"];
if (per !== "session" && per !== "turn") throw new Error("--locomo-per is session or turn");

// The benchmark measures the API, not the per-key rate limiter.
process.env.ENGRAM_RATE_LIMITS = "off";
const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

const result = await runInferenceBench(new URL("./.data/inference", import.meta.url).pathname, {
  latencyN: Number(args["latency-n"]),
  skipLocomo: args["skip-locomo"] as boolean,
  locomoPer: per,
  log,
});
const section = inferenceReport(result, {
  commit: await describeCommit(),
  command: `npm run bench:inference -- ${process.argv.slice(2).join(" ")}`.trim(),
}).join("\n");

const path = new URL("./RESULTS.md", import.meta.url);
const HEADING = "## Inference (";
const old = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmark results\n\n";
// The inference section is the file's last (run.ts writes it so): replace it, else append it.
const at = old.indexOf(HEADING);
writeFileSync(path, `${at < 0 ? `${old.trimEnd()}\n\n` : old.slice(0, at)}${section}\n`);
log("wrote the inference section of bench/RESULTS.md");
if (args.details) {
  writeFileSync(args.details, caseDetails(result));
  log(`wrote the reconciliation cases' outcomes to ${args.details}`);
}
