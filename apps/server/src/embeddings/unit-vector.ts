/** Scales a vector to unit length; throws on a zero or non-finite vector, which cannot be ranked. */
export function toUnitVector(values: readonly number[]): Float32Array<ArrayBuffer> {
  let sum = 0;
  for (const x of values) sum += x * x;
  const norm = Math.sqrt(sum);
  if (!Number.isFinite(norm) || norm === 0) {
    throw new Error("embedding model returned a zero or non-finite vector");
  }
  return Float32Array.from(values, (x) => x / norm);
}

/** Cosine similarity of two vectors of one model (-1 when their lengths differ; 0 for a zero one). */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return -1;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
