import type { TxSettings } from "../db/database.ts";

/**
 * The transaction settings of a search that ranks `candidates` rows per side by HNSW scan:
 * ef_search at least that (within pgvector's 40–1000), and iterative scan, so filters applied
 * during the scan (scope, validity, metadata) still leave enough rows. The relaxed order is
 * restored by the ranking that follows (fusion orders each side by distance again). Given to
 * withTenant, which sets them with the tenant context (no round trip of their own).
 */
export function vectorScanSettings(candidates: number): TxSettings {
  return {
    "hnsw.ef_search": String(Math.min(Math.max(candidates, 40), 1000)),
    "hnsw.iterative_scan": "relaxed_order",
  };
}
