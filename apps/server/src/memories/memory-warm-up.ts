import type { Database } from "../db/database.ts";
import type { EmbeddingModel } from "../db/vector-index.ts";
import type { Embedder } from "../embeddings/embedder.ts";
import { embeddingQuery, keywordQuery, vectorLiteral } from "../search/query-text.ts";
import type { MemorySearchStore } from "./memory-search-store.ts";
import type { MemoryServiceDeps } from "./memory-service.ts";

/** Stored memories the warm-up searches with (any tenant's: the highest ids). */
const SAMPLES = 16;
/** The longest sample text used as a query. */
const QUERY_CHARS = 200;

export interface WarmUpResult {
  searches: number;
  ms: number;
}

/**
 * Runs memory searches before the server takes requests, so the first requests after a start do
 * not pay for cold code: in embedded mode the first searches of a new process ran several times
 * slower than later ones (PGlite's WebAssembly still compiling its hot paths to optimised code,
 * empty buffer cache, the embedder's first inferences), up to a second each at 100k memories.
 * Each search is a stored memory's text as the query, through the same steps a search request
 * takes (its entities, the embedder, the store's SQL), in turn with and without the ranking's
 * signals and with and without the memory's user as scope. It stops when `budgetMs` is spent;
 * with no memories stored it does nothing. It reads only: nothing is cached, logged or counted.
 */
export async function warmUpSearch(deps: {
  db: Database;
  model: EmbeddingModel;
  embedder: Embedder;
  search: MemorySearchStore;
  entitiesOfQuery: NonNullable<MemoryServiceDeps["entitiesOfQuery"]>;
  budgetMs: number;
}): Promise<WarmUpResult> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  if (deps.budgetMs <= 0) return { searches: 0, ms: 0 };
  const samples = await deps.db.asOwner((tx) =>
    tx.query<{ tenant_id: string; project_id: string; user_id: string | null; memory: string }>(
      `SELECT tenant_id, project_id, user_id, memory FROM memories
       WHERE embedding_model = $1 ORDER BY id DESC LIMIT ${SAMPLES}`,
      [deps.model.id],
    ),
  );
  let searches = 0;
  while (samples.length > 0 && elapsed() < deps.budgetMs) {
    const s = samples[searches % samples.length] as (typeof samples)[number];
    const query = s.memory.slice(0, QUERY_CHARS);
    const scoped = Math.floor(searches / 2) % 2 === 1 && s.user_id !== null;
    const scope = {
      projectId: s.project_id,
      ...(scoped && s.user_id !== null ? { userId: s.user_id } : {}),
    };
    const entities = await deps.entitiesOfQuery(s.tenant_id, scope, query);
    const [vector] = await deps.embedder.embed([embeddingQuery(query)]);
    if (!vector) break;
    await deps.search(s.tenant_id, {
      scope,
      vector: vectorLiteral(vector),
      keywords: keywordQuery(query),
      limit: 10,
      mode: "hybrid",
      context:
        searches % 2 === 0
          ? { entities: entities.map((e) => ({ id: e.id, weight: e.weight })), neighbours: true }
          : undefined,
    });
    searches++;
  }
  return { searches, ms: elapsed() };
}
