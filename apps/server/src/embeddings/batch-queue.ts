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

/**
 * Pending embed() calls of one worker, cut into batches of up to `batchSize` texts taken across
 * calls, first come first served: many small calls share one batch, and a long call is served
 * whole before the next, so one finishes and moves on to its database insert while the next one
 * embeds, instead of all of them finishing together. (Small and large calls go to different
 * workers, each with its own queue: local-embedder.ts.)
 */
export class BatchQueue {
  #queue: Slice[] = [];
  readonly #batchSize: number;

  constructor(batchSize: number) {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    }
    this.#batchSize = batchSize;
  }

  get isEmpty(): boolean {
    return this.#queue.length === 0;
  }

  /** Queues one call; resolves with exactly its vectors, in order, once all have come back. */
  add(texts: readonly string[]): Promise<Float32Array[]> {
    return new Promise((resolve, reject) => {
      const call = { texts: [...texts], vectors: [], left: texts.length, resolve, reject };
      this.#queue.push({ call, start: 0, end: texts.length });
    });
  }

  /** Takes the next batch: the oldest calls first, the last one split where the batch is full. */
  take(): Slice[] {
    const batch: Slice[] = [];
    let room = this.#batchSize;
    while (room > 0 && this.#queue.length > 0) {
      const head = this.#queue[0] as Slice;
      const n = Math.min(room, head.end - head.start);
      batch.push({ call: head.call, start: head.start, end: head.start + n });
      head.start += n;
      room -= n;
      if (head.start === head.end) this.#queue.shift(); // the rest of a long call stays at the head
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
    const calls = new Set([...inFlight, ...this.#queue].map((s) => s.call));
    this.#queue = [];
    for (const call of calls) if (call.left > 0) this.#reject(call, err);
  }

  #reject(call: Call, err: Error): void {
    call.left = 0;
    this.#queue = this.#queue.filter((s) => s.call !== call);
    call.reject(err);
  }
}

/** Most texts of a "small" call (a search query, a single add) for a batch size. */
export const smallCallMax = (batchSize: number) => Math.max(1, Math.floor(batchSize / 8));

/** The request texts of a batch, in slice order. */
export const textsOf = (batch: Slice[]) => batch.flatMap((s) => s.call.texts.slice(s.start, s.end));
