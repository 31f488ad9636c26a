import {
  CONTEXT_BUDGET_DEFAULT,
  type ContextItem,
  type ContextResponse,
  type GetContextBody,
  type SearchKnowledgeResponse,
  type SearchMemoriesBody,
  type SearchMemoriesResponse,
} from "@engram/contract";
import type { KnowledgeNarrowing, KnowledgeSearchInput } from "../knowledge/knowledge-service.ts";
import { requireScope, type TenantContext } from "../tenancy/context.ts";
import { dropNearDuplicates } from "./context-dedupe.ts";
import { type Candidate, type Entry, oneLine, pack } from "./context-pack.ts";

/**
 * Tokens of budget per hit fetched from each search. A 1,000-token budget asks for 13 hits, and
 * each search then ranks exactly as many candidates as a plain search of 10 (40 a side,
 * search/fusion.ts): fetching 25 doubled the search's time at 10k memories. A memory line is
 * 20–40 tokens, so memories alone rarely fill a 1,000-token budget; knowledge chunks do.
 */
const TOKENS_PER_HIT = 80;

/** How many hits each search returns for a budget: at least 10, at most their limit (100). */
function candidateLimit(budget: number): number {
  return Math.min(100, Math.max(10, Math.ceil(budget / TOKENS_PER_HIT)));
}

/**
 * The sources a request draws from. Asked for explicitly, each needs its read scope (403 naming
 * it); by default, every source the key may read, and at least memories.
 */
function sourcesOf(ctx: TenantContext, include: GetContextBody["include"]) {
  if (include) {
    const memories = include.includes("memories");
    const knowledge = include.includes("knowledge");
    if (memories) requireScope(ctx, "memories:read");
    if (knowledge) requireScope(ctx, "knowledge:read");
    return { memories, knowledge };
  }
  const memories = ctx.scopes.has("memories:read");
  const knowledge = ctx.scopes.has("knowledge:read");
  if (!memories && !knowledge) requireScope(ctx, "memories:read");
  return { memories, knowledge };
}

function itemOf(e: Entry): ContextItem {
  const c = e.candidate;
  return {
    type: c.type,
    id: c.id,
    text: e.text,
    score: c.score,
    ...(c.validFrom ? { valid_from: c.validFrom } : {}),
    ...(c.citation ? { citation: c.citation } : {}),
    ...(e.truncated ? { truncated: true } : {}),
  };
}

/** What an internal caller (the chat engine) asks beyond the public body (POST /v1/context has none). */
export interface ContextNarrowing {
  /** Passed to the knowledge search: an agent's collections, shared documents only. */
  knowledge?: KnowledgeNarrowing | undefined;
  /**
   * Drops hits whose cosine similarity to the query is below this and that match no word of it:
   * fused scores are relative (the best hit always scores high), so "nothing relevant" needs an
   * absolute floor.
   */
  minSimilarity?: number | undefined;
}

type Scored = { scores: { vector: number | null; keyword: number | null } };

/** The context verb, over the memory and knowledge search verbs (it ranks nothing itself). */
export function createContextService(deps: {
  searchMemories: (
    ctx: TenantContext,
    input: SearchMemoriesBody,
  ) => Promise<SearchMemoriesResponse>;
  searchKnowledge?:
    | ((ctx: TenantContext, input: KnowledgeSearchInput) => Promise<SearchKnowledgeResponse>)
    | undefined;
}) {
  return {
    /**
     * The best memories and knowledge chunks for a query, near-duplicates dropped, packed into a
     * token budget as a prompt-ready text (or JSON) with each memory's date and each chunk's source.
     */
    async getContext(
      ctx: TenantContext,
      input: GetContextBody,
      narrowing: ContextNarrowing = {},
    ): Promise<ContextResponse> {
      const budget = input.token_budget ?? CONTEXT_BUDGET_DEFAULT;
      const sources = sourcesOf(ctx, input.include);
      const limit = candidateLimit(budget);
      const scope = {
        ...(input.user_id !== undefined ? { user_id: input.user_id } : {}),
        ...(input.agent_id !== undefined ? { agent_id: input.agent_id } : {}),
        ...(input.session_id !== undefined ? { session_id: input.session_id } : {}),
        ...(input.filters !== undefined ? { filters: input.filters } : {}),
      };
      // Both searches at once; the query is embedded once (the query cache joins the second
      // caller to the first one's embedding in flight).
      const [memories, knowledge] = await Promise.all([
        sources.memories
          ? deps.searchMemories(ctx, {
              query: input.query,
              ...scope,
              ...(input.as_of !== undefined ? { as_of: input.as_of } : {}),
              ...(input.reference_time !== undefined
                ? { reference_time: input.reference_time }
                : {}),
              limit,
            })
          : undefined,
        sources.knowledge && deps.searchKnowledge
          ? deps.searchKnowledge(ctx, {
              query: input.query,
              ...scope,
              limit,
              ...(narrowing.knowledge ? { narrowing: narrowing.knowledge } : {}),
            })
          : undefined,
      ]);
      const floor = narrowing.minSimilarity;
      const relevant = (h: Scored) =>
        floor === undefined || (h.scores.vector ?? 0) >= floor || (h.scores.keyword ?? 0) > 0;
      const candidates: Candidate[] = [
        ...(memories?.results ?? []).filter(relevant).map(
          (h): Candidate => ({
            type: "memory",
            id: h.id,
            text: oneLine(h.memory),
            score: h.score,
            validFrom: h.valid_from ?? undefined,
          }),
        ),
        ...(knowledge?.results ?? []).filter(relevant).map(
          (h): Candidate => ({
            type: "knowledge",
            id: h.id,
            text: oneLine(h.text),
            score: h.score,
            citation: h.citation,
          }),
        ),
      ];
      // A whitespace-only memory says nothing; it would only cost a line.
      const ranked = candidates.filter((c) => c.text !== "");
      // Stable: on equal scores memories come first, and each search's own order is kept.
      ranked.sort((a, b) => b.score - a.score);
      const packed = pack(dropNearDuplicates(ranked), budget, input.format ?? "text");
      return {
        context: packed.context,
        items: packed.entries.map(itemOf),
        tokens_used: packed.tokens,
        token_budget: budget,
      };
    },
  };
}
export type ContextService = ReturnType<typeof createContextService>;
