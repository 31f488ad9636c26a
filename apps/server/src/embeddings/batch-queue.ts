import type { GroupResult } from "./local-embedder-worker.ts";

type Call = {
  texts: string[];
  vectors: Float32Array[];
  left: number;
  resolve: (vectors: Float32Array[]) => void;
  reject: (err: Error) => void;
};
/** The texts [start, end) of one embed() call. */
export type Slice = { call: Call; start: number; end: number };

/** Pending embed() calls, cut into batches of up to `batchSize` texts taken across calls. */
export class BatchQueue {
  #slices: Slice[] = [];
  readonly #batchSize: number;

  constructor(batchSize: number) {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    }
    this.#batchSize = batchSize;
  }

  get isEmpty(): boolean {
    return this.#slices.length === 0;
  }

  /** Queues one call; resolves with exactly its vectors, in order, once all have come back. */
  add(texts: readonly string[]): Promise<Float32Array[]> {
    return new Promise((resolve, reject) => {
      const call = { texts: [...texts], vectors: [], left: texts.length, resolve, reject };
      this.#slices.push({ call, start: 0, end: texts.length });
    });
  }

  /** Takes the next batch, front to back, splitting a long call where the batch is full. */
  take(): Slice[] {
    const batch: Slice[] = [];
    let room = this.#batchSize;
    while (room > 0 && this.#slices.length > 0) {
      const head = this.#slices.shift() as Slice;
      const n = Math.min(room, head.end - head.start);
      batch.push({ call: head.call, start: head.start, end: head.start + n });
      head.start += n;
      room -= n;
      // The rest of a long call goes to the back, so a search query waits at most one batch
      // behind a large ingestion call instead of all of it.
      if (head.start < head.end) this.#slices.push(head);
    }
    return batch;
  }

  /** Hands each slice of a finished batch its vectors, or rejects its call. */
  settle(batch: Slice[], results: GroupResult[]): void {
    batch.forEach(({ call, start }, i) => {
      const result = results[i];
      if (call.left === 0) return; // already rejected through another slice
      if (!result?.ok) {
        this.#reject(call, new Error(`local embedding failed: ${result?.message ?? "no result"}`));
        return;
      }
      result.vectors.forEach((v, k) => {
        call.vectors[start + k] = v;
      });
      call.left -= result.vectors.length;
      if (call.left === 0) call.resolve(call.vectors);
    });
  }

  /** Rejects every queued call and every call with a slice in `inFlight`. */
  failAll(err: Error, inFlight: Slice[] = []): void {
    const calls = new Set([...inFlight, ...this.#slices].map((s) => s.call));
    this.#slices = [];
    for (const call of calls) if (call.left > 0) this.#reject(call, err);
  }

  #reject(call: Call, err: Error): void {
    call.left = 0;
    this.#slices = this.#slices.filter((s) => s.call !== call);
    call.reject(err);
  }
}

/** The request texts of a batch, in slice order. */
export const textsOf = (batch: Slice[]) => batch.flatMap((s) => s.call.texts.slice(s.start, s.end));
