/** Percentile by nearest rank over a copy of the samples (ms). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export interface LoadResult {
  n: number;
  concurrency: number;
  p50: number;
  p99: number;
  max: number;
  perSecond: number;
  errors: number;
}

/** Runs `n` calls of `fn(i)` with `concurrency` in flight, timing each call. */
export async function runLoad(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t = performance.now();
        try {
          await fn(i);
          latencies.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return {
    n,
    concurrency,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.length > 0 ? Math.max(...latencies) : Number.NaN,
    perSecond: latencies.length / seconds,
    errors,
  };
}

export const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");
export const rate = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "–");
