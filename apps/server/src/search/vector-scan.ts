import type { Queryable } from "../db/database.ts";

/**
 * Tunes the HNSW scans of this transaction for a search that ranks `candidates` rows per side:
 * ef_search at least that (within pgvector's 40–1000), and iterative scan, so filters applied
 * during the scan (scope, validity, metadata) still leave enough rows. The relaxed order is
 * restored by the ranking that follows (fusion orders each side by distance again).
 */
export async function tuneVectorScan(tx: Queryable, candidates: number): Promise<void> {
  await tx.query(
    "SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
    [String(Math.min(Math.max(candidates, 40), 1000))],
  );
}
