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
