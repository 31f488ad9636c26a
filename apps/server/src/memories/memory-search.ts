import type { SearchHit, SearchMemoriesBody, SearchMemoriesResponse } from "@engram/contract";
import { bothReranked, rerankedSearch } from "../rerank/rerank-hits.ts";
import { checkFilter } from "../search/filter-sql.ts";
import { embeddingQuery, keywordQuery, vectorLiteral, withoutNames } from "../search/query-text.ts";
import { timeWindowOf } from "../search/query-time.ts";
import { requireScope, type TenantContext } from "../tenancy/context.ts";
import { checkTimestamp, scopeOf, validityOf } from "./memory-input.ts";
import { MEMORY_FILTER_OPTIONS, type SearchRequest } from "./memory-search-store.ts";
import type { MemoryServiceDeps } from "./memory-service.ts";

/**
 * Memory search (`POST /v1/memories/search`): the query read for the ranking's signals (the
 * entities it names, a time window, ADR 0033), the store's ranking, the optional re-ranker, and
 * knowledge chunks when `include` asks for them.
 */
export function createMemorySearch(
  deps: Pick<
    MemoryServiceDeps,
    "search" | "embedder" | "entitiesOfQuery" | "reranker" | "searchKnowledge"
  >,
) {
  const { embedder } = deps;

  /** The memory hits of a search in fused order, best first, at most `limit`. */
  async function searchHits(
    ctx: TenantContext,
    input: SearchMemoriesBody,
    limit: number,
  ): Promise<SearchHit[]> {
    const mode = input.mode ?? "hybrid";
    requireScope(ctx, "memories:read");
    checkFilter(input.filters, MEMORY_FILTER_OPTIONS);
    const validity = validityOf(input);
    checkTimestamp(input.reference_time, "reference_time");
    const scope = scopeOf(ctx, input);
    const signals = { entities: true, time: true, context: true, ...input.signals };
    const ranked =
      mode === "hybrid" &&
      (signals.entities || signals.time || signals.context || input.recency !== undefined);
    let embedded = embeddingQuery(input.query);
    let context: SearchRequest["context"];
    if (ranked) {
      const reference = input.reference_time ? new Date(input.reference_time) : new Date();
      const entities =
        signals.entities && deps.entitiesOfQuery
          ? await deps.entitiesOfQuery(ctx.tenantId, scope, input.query)
          : [];
      const people = entities.filter((e) => e.type === "person" && e.weight >= 1);
      embedded = withoutNames(
        embedded,
        people.map((e) => e.matched),
      );
      context = {
        entities: entities.map((e) => ({ id: e.id, weight: e.weight })),
        window: signals.time ? timeWindowOf(input.query, reference) : undefined,
        neighbours: signals.context,
        recency: input.recency && {
          halfLifeDays: input.recency.half_life_days,
          weight: input.recency.weight ?? 0.5,
          reference,
        },
      };
    }
    // Embedded in every mode: each hit reports its cosine similarity, keyword-ranked ones too.
    const vector = await embedder.embedQuery(embedded);
    return deps.search(ctx.tenantId, {
      scope,
      filter: input.filters,
      vector: vectorLiteral(vector),
      keywords: keywordQuery(input.query),
      limit,
      threshold: input.threshold,
      mode,
      validity,
      context,
    });
  }

  return {
    /**
     * Hybrid (vector + keyword) memory search, best first (`mode` can restrict it to one side),
     * re-ranked when a re-ranker is configured, plus knowledge chunks (labelled, in `knowledge`)
     * when `include` asks for them.
     */
    async searchMemories(
      ctx: TenantContext,
      input: SearchMemoriesBody,
    ): Promise<SearchMemoriesResponse> {
      const { hits: results, rerank } = await rerankedSearch({
        reranker: deps.reranker,
        requested: input.rerank,
        query: input.query,
        limit: input.limit ?? 10,
        search: (limit) => searchHits(ctx, input, limit),
        text: (hit) => hit.memory,
      });
      if (!input.include?.includes("knowledge") || !deps.searchKnowledge) {
        return rerank ? { results, rerank } : { results };
      }
      // The same scope (a session's chunks and the shared ones) and the same metadata filter, on
      // the documents' metadata; `categories` there is an ordinary metadata key.
      const knowledge = await deps.searchKnowledge(ctx, {
        query: input.query,
        ...(input.user_id !== undefined ? { user_id: input.user_id } : {}),
        ...(input.agent_id !== undefined ? { agent_id: input.agent_id } : {}),
        ...(input.session_id !== undefined ? { session_id: input.session_id } : {}),
        ...(input.filters !== undefined ? { filters: input.filters } : {}),
        limit: input.limit ?? 10,
        mode: input.mode ?? "hybrid",
        ...(input.rerank !== undefined ? { rerank: input.rerank } : {}),
      });
      const both = bothReranked(rerank, knowledge.rerank);
      return { results, knowledge: knowledge.results, ...(both ? { rerank: both } : {}) };
    },
  };
}
