import { Worker } from "node:worker_threads";
import { BatchQueue, type Slice, smallCallMax, textsOf } from "./batch-queue.ts";
import type { Embedder } from "./embedder.ts";
import type { EmbedRequest, WorkerInit, WorkerMessage } from "./local-embedder-worker.ts";

/** The local model's id and dimension, known without loading it. */
export const LOCAL_MODEL = { id: "use-lite-512", dimension: 512 } as const;
const MODEL_ID = LOCAL_MODEL.id;
const DIMENSION = LOCAL_MODEL.dimension;
const LOAD_TIMEOUT_MS = 60_000;
const WORKER_URL = new URL("./local-embedder-worker.ts", import.meta.url);

/** Embeds with the local USE-Lite model (512-d unit vectors) in worker threads. */
export async function createLocalEmbedder(
  opts: { batchSize?: number; lengthBuckets?: boolean } = {},
): Promise<Embedder> {
  return createWorkerEmbedder(WORKER_URL, opts);
}

/**
 * Same as createLocalEmbedder with another worker script speaking the same protocol (tests).
 *
 * Two workers, each with its own copy of the model: small calls (search queries, single adds)
 * go to one, large calls (document chunks, batch adds) to the other. The model cannot be
 * interrupted and its time grows with the text, not the batch (about 66 ms a 340-character
 * chunk on one core here, batched or not), so with one worker a search or an add waited for the
 * whole batch of document chunks in flight: up to 4 s at 64 chunks, and ~0.5 s even at a few.
 * With two, interactive calls never queue behind bulk work; the bulk worker starts on first use.
 */
export async function createWorkerEmbedder(
  workerUrl: URL,
  opts: { batchSize?: number; lengthBuckets?: boolean } = {},
): Promise<Embedder> {
  const batchSize = opts.batchSize ?? 64;
  const init: WorkerInit = {
    dimension: DIMENSION,
    ...(opts.lengthBuckets === false ? { lengthBuckets: false } : {}),
  };
  const interactive = new WorkerEmbedder(workerUrl, new BatchQueue(batchSize), init);
  const bulk = new WorkerEmbedder(workerUrl, new BatchQueue(batchSize), init);
  await interactive.start(); // fail fast: a model that cannot load is a startup error
  const smallMax = smallCallMax(batchSize);
  return {
    modelId: MODEL_ID,
    dimension: DIMENSION,
    embed: (texts) => (texts.length <= smallMax ? interactive : bulk).embed(texts),
    async close() {
      await Promise.all([interactive.close(), bulk.close()]);
    },
  };
}

/** One worker, one batch in flight; calls made meanwhile are coalesced into the next batch. */
class WorkerEmbedder implements Embedder {
  readonly modelId = MODEL_ID;
  readonly dimension = DIMENSION;
  readonly #workerUrl: URL;
  readonly #queue: BatchQueue;
  readonly #init: WorkerInit;
  #worker: Worker | undefined;
  #ready: Promise<Worker> | undefined;
  #inFlight: { id: number; batch: Slice[] } | undefined;
  #busy = false;
  #nextId = 0;
  #closed = false;

  constructor(workerUrl: URL, queue: BatchQueue, init: WorkerInit) {
    this.#workerUrl = workerUrl;
    this.#queue = queue;
    this.#init = init;
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.#closed) return Promise.reject(new Error("local embedder is closed"));
    if (texts.length === 0) return Promise.resolve([]);
    const vectors = this.#queue.add(texts);
    void this.#pump();
    return vectors;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#failAll(new Error("local embedder is closed"));
    const worker = this.#worker;
    [this.#worker, this.#ready] = [undefined, undefined];
    await worker?.terminate();
  }

  /** Starts the worker if none is running; resolves once its model is loaded. */
  start(): Promise<Worker> {
    this.#ready ??= new Promise((resolve, reject) => {
      const worker = new Worker(this.#workerUrl, { workerData: this.#init });
      this.#worker = worker;
      let loaded = false;
      let crash: Error | undefined;
      const failLoad = (reason: string) => {
        clearTimeout(timer);
        if (this.#worker === worker) [this.#worker, this.#ready] = [undefined, undefined];
        void worker.terminate();
        reject(new Error(`local embedding model ${MODEL_ID} failed to load: ${reason}`));
      };
      const timer = setTimeout(
        () => failLoad(`no answer in ${LOAD_TIMEOUT_MS} ms`),
        LOAD_TIMEOUT_MS,
      );
      worker.on("message", (msg: WorkerMessage) => {
        if (msg.type === "ready") {
          loaded = true;
          clearTimeout(timer);
          if (!this.#busy) worker.unref(); // an idle worker must not keep the process alive
          resolve(worker);
        } else if (msg.type === "load-error") failLoad(msg.message);
        else this.#onResult(msg);
      });
      worker.on("error", (err) => {
        crash = err;
      });
      worker.on("exit", (code) => {
        const reason = crash?.message ?? `worker exited with code ${code}`;
        if (!loaded) return failLoad(reason);
        if (this.#worker !== worker) return; // terminated on purpose by close()
        // A crash fails what was sent or queued; the next embed() starts a fresh worker.
        [this.#worker, this.#ready] = [undefined, undefined];
        this.#failAll(new Error(`local embedding worker crashed: ${reason}`));
      });
    });
    return this.#ready;
  }

  async #pump(): Promise<void> {
    if (this.#busy || this.#closed || this.#queue.isEmpty) return;
    this.#busy = true;
    let worker: Worker;
    try {
      worker = await this.start();
    } catch (err) {
      this.#failAll(err as Error);
      return;
    }
    if (this.#closed || this.#worker !== worker) return; // close() or a crash already settled all
    // Taken after the await, so calls made while the model (re)loads join this batch.
    const batch = this.#queue.take();
    const id = ++this.#nextId;
    this.#inFlight = { id, batch };
    const request: EmbedRequest = {
      id,
      texts: textsOf(batch),
      groups: batch.map((s) => s.end - s.start),
    };
    worker.ref();
    worker.postMessage(request);
  }

  #onResult(msg: Extract<WorkerMessage, { type: "result" }>): void {
    if (this.#inFlight?.id !== msg.id) return;
    const { batch } = this.#inFlight;
    [this.#inFlight, this.#busy] = [undefined, false];
    this.#queue.settle(batch, msg.groups);
    if (this.#queue.isEmpty) this.#worker?.unref();
    void this.#pump();
  }

  #failAll(err: Error): void {
    this.#queue.failAll(err, this.#inFlight?.batch);
    [this.#inFlight, this.#busy] = [undefined, false];
  }
}
