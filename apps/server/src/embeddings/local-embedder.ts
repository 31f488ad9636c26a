import { Worker } from "node:worker_threads";
import type { Embedder } from "./embedder.ts";
import type { EmbedRequest, WorkerInit, WorkerMessage } from "./local-embedder-worker.ts";

const MODEL_ID = "use-lite-512";
const DIMENSION = 512;
const LOAD_TIMEOUT_MS = 60_000;
const WORKER_URL = new URL("./local-embedder-worker.ts", import.meta.url);

type Job = {
  texts: string[];
  vectors: Float32Array[];
  left: number;
  resolve: (vectors: Float32Array[]) => void;
  reject: (err: Error) => void;
};
/** The texts [start, end) of one job. */
type Slice = { job: Job; start: number; end: number };

/** Embeds with the local USE-Lite model (512-d unit vectors) in one worker thread. */
export async function createLocalEmbedder(opts: { batchSize?: number } = {}): Promise<Embedder> {
  return createWorkerEmbedder(WORKER_URL, opts);
}

/** Same as createLocalEmbedder with another worker script speaking the same protocol (tests). */
export async function createWorkerEmbedder(
  workerUrl: URL,
  opts: { batchSize?: number } = {},
): Promise<Embedder> {
  const embedder = new WorkerEmbedder(workerUrl, opts.batchSize ?? 64);
  await embedder.start(); // fail fast: a model that cannot load is a startup error
  return embedder;
}

class WorkerEmbedder implements Embedder {
  readonly modelId = MODEL_ID;
  readonly dimension = DIMENSION;
  #worker: Worker | undefined;
  #ready: Promise<Worker> | undefined;
  #queue: Slice[] = [];
  #inFlight: { id: number; slices: Slice[] } | undefined;
  #busy = false;
  #nextId = 0;
  #closed = false;

  readonly #workerUrl: URL;
  readonly #batchSize: number;

  constructor(workerUrl: URL, batchSize: number) {
    this.#workerUrl = workerUrl;
    this.#batchSize = batchSize;
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.#closed) return Promise.reject(new Error("local embedder is closed"));
    if (texts.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const job = { texts: [...texts], vectors: [], left: texts.length, resolve, reject };
      this.#queue.push({ job, start: 0, end: texts.length });
      void this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#failAll(new Error("local embedder is closed"));
    const worker = this.#worker;
    this.#worker = undefined;
    this.#ready = undefined;
    await worker?.terminate();
  }

  /** Starts the worker if none is running; resolves once the model is loaded. */
  start(): Promise<Worker> {
    this.#ready ??= new Promise((resolve, reject) => {
      const init: WorkerInit = { dimension: DIMENSION };
      const worker = new Worker(this.#workerUrl, { workerData: init });
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
    if (this.#busy || this.#closed || this.#queue.length === 0) return;
    this.#busy = true;
    let worker: Worker;
    try {
      worker = await this.start();
    } catch (err) {
      this.#failAll(err as Error);
      return;
    }
    if (this.#closed || this.#worker !== worker) return;
    // Taken after the await so calls that arrived meanwhile join this batch.
    const slices = this.#takeBatch();
    const id = ++this.#nextId;
    this.#inFlight = { id, slices };
    const texts = slices.flatMap((s) => s.job.texts.slice(s.start, s.end));
    const request: EmbedRequest = { id, texts, groups: slices.map((s) => s.end - s.start) };
    worker.ref();
    worker.postMessage(request);
  }

  /** Fills one batch front to back, splitting a long job where the batch is full. */
  #takeBatch(): Slice[] {
    const batch: Slice[] = [];
    let room = this.#batchSize;
    while (room > 0 && this.#queue.length > 0) {
      const head = this.#queue.shift() as Slice;
      const n = Math.min(room, head.end - head.start);
      batch.push({ job: head.job, start: head.start, end: head.start + n });
      head.start += n;
      room -= n;
      // The rest of a long job goes to the back, so a search query waits at most one batch
      // behind a large ingestion call instead of all of it.
      if (head.start < head.end) this.#queue.push(head);
    }
    return batch;
  }

  #onResult(msg: Extract<WorkerMessage, { type: "result" }>): void {
    const inFlight = this.#inFlight;
    if (!inFlight || inFlight.id !== msg.id) return;
    this.#inFlight = undefined;
    this.#busy = false;
    inFlight.slices.forEach(({ job, start }, i) => {
      const result = msg.groups[i];
      if (job.left === 0) return; // already rejected by another slice
      if (!result?.ok) {
        this.#reject(job, new Error(`local embedding failed: ${result?.message ?? "no result"}`));
        return;
      }
      result.vectors.forEach((v, k) => {
        job.vectors[start + k] = v;
      });
      job.left -= result.vectors.length;
      if (job.left === 0) job.resolve(job.vectors);
    });
    if (this.#queue.length === 0) this.#worker?.unref();
    void this.#pump();
  }

  #reject(job: Job, err: Error): void {
    job.left = 0;
    this.#queue = this.#queue.filter((s) => s.job !== job);
    job.reject(err);
  }

  #failAll(err: Error): void {
    const jobs = new Set([...(this.#inFlight?.slices ?? []), ...this.#queue].map((s) => s.job));
    [this.#inFlight, this.#queue, this.#busy] = [undefined, [], false];
    for (const job of jobs) if (job.left > 0) this.#reject(job, err);
  }
}
