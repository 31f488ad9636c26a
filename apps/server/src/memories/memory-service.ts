import type {
  AddMemoryBody,
  AddMemoryResponse,
  BatchAddMemoriesBody,
  DeleteMemoriesQuery,
  DeleteMemoriesResponse,
  DeleteMemoryResponse,
  ListMemoriesQuery,
  ListMemoriesResponse,
  Memory,
  MemoryHistoryResponse,
  MessageSource,
  SearchHit,
  SearchKnowledgeBody,
  SearchKnowledgeResponse,
  SearchMemoriesBody,
  SearchMemoriesResponse,
  UpdateMemoryBody,
} from "@engram/contract";
import { type MemoryCache, noMemoryCache } from "../cache/memory-cache.ts";
import { type IdempotencyKey, IdempotencyRace, scopedIdempotency } from "../db/idempotency.ts";
import type { Embedder } from "../embeddings/embedder.ts";
import { extractEntities } from "../entities/entity-extraction.ts";
import { decodeIdCursor, nextIdCursor } from "../lib/cursor.ts";
import { AppError, notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import { checkMetadataSize } from "../lib/metadata.ts";
import { bothReranked, rerankedSearch } from "../rerank/rerank-hits.ts";
import type { Reranker } from "../rerank/reranker.ts";
import { checkFilter } from "../search/filter-sql.ts";
import { embeddingQuery, keywordQuery, vectorLiteral, withoutNames } from "../search/query-text.ts";
import { timeWindowOf } from "../search/query-time.ts";
import { appendAudit } from "../tenancy/audit.ts";
import { actorName, requireScope, type TenantContext } from "../tenancy/context.ts";
import { type UsageHook, usageHook } from "../usage/metering.ts";
import { contentHash } from "./content-hash.ts";
import { type Infer, messageSource } from "./memory-inference.ts";
import type { MemorySearchStore, SearchRequest } from "./memory-search-store.ts";
import { MEMORY_FILTER_OPTIONS } from "./memory-search-store.ts";
import type { MemoryScope, MemoryStore, NewMemory } from "./memory-store.ts";
import type { Validity } from "./memory-validity.ts";

export interface MemoryServiceDeps {
  store: MemoryStore;
  search: MemorySearchStore;
  embedder: Embedder & { embedQuery(text: string): Promise<Float32Array> };
  /** `infer: true`: extraction and reconciliation (memory-inference.ts). */
  infer: Infer;
  /** Hot-memory cache for getMemory; invalidated here after every committed update or delete. */
  cache?: MemoryCache;
  /** Seconds an Idempotency-Key is remembered (ENGRAM_IDEMPOTENCY_TTL_S); older counts as absent. */
  idempotencyTtlS: number;
  /** Quotas and metering on writes (ENGRAM_METERING); off only to measure what they cost. */
  metering?: boolean;
  /** The optional re-ranker (ENGRAM_RERANK_URL): reorders the best fused hits of a search. */
  reranker?: Reranker | undefined;
  /**
   * The entities of a search's scope that its query names, with the surface text that named each
   * and a weight (1 named, less one relation away); absent: no entity signal.
   */
  entitiesOfQuery?: (
    tenantId: string,
    scope: MemoryScope & { projectId: string },
    query: string,
  ) => Promise<QueryEntity[]>;
  /** Knowledge search, for `include: ["knowledge"]` (the knowledge module's verb). */
  searchKnowledge?: (
    ctx: TenantContext,
    input: SearchKnowledgeBody,
  ) => Promise<SearchKnowledgeResponse>;
}

/** An entity a search query names (entities/entity-store.ts finds them). */
interface QueryEntity {
  id: string;
  type: string;
  /** The words of the query that named it. */
  matched: string;
  weight: number;
}

interface Draft {
  text: string;
  role: string | null;
  body: AddMemoryBody;
  source: MessageSource | null;
}

// The date-time format allows any 4-digit year, but Postgres has no year 0 (a 500) and rejects
// years past 9999 in UTC, and PGlite reads years 1 to 99 back wrongly (0001 as 2001).
const TIMESTAMP_MIN = Date.parse("0100-01-01T00:00:00Z");
const TIMESTAMP_MAX = Date.parse("9999-12-31T23:59:59.999Z");

function checkTimestamp(timestamp: string | undefined, field: string): void {
  if (timestamp === undefined) return;
  // A leap second (":60", allowed by the format) is one second after ":59"; Date.parse refuses it.
  const leap = /:60(?=[.zZ+-])/;
  const ms = Date.parse(timestamp.replace(leap, ":59")) + (leap.test(timestamp) ? 1000 : 0);
  if (!(ms >= TIMESTAMP_MIN && ms <= TIMESTAMP_MAX)) {
    throw new AppError(
      "validation_failed",
      "timestamp must fall between the years 0100 and 9999 (UTC)",
      field,
    );
  }
}

/** Which memories a search or listing sees (memory-validity.ts); as_of checked like timestamps. */
function validityOf(input: { as_of?: string; include_superseded?: boolean }): Validity {
  checkTimestamp(input.as_of, "as_of");
  return { asOf: input.as_of, includeSuperseded: input.include_superseded };
}

function scopeOf(
  ctx: TenantContext,
  input: { user_id?: string; agent_id?: string; session_id?: string },
): MemoryScope & { projectId: string } {
  return {
    projectId: ctx.projectId,
    userId: input.user_id,
    agentId: input.agent_id,
    sessionId: input.session_id,
  };
}

/** The memory verbs, shared by the HTTP routes, the CLI and (later) the MCP server. */
export function createMemoryService(deps: MemoryServiceDeps) {
  const { store, embedder } = deps;
  const cache = deps.cache ?? noMemoryCache;
  const metering = deps.metering ?? true;

  /** Quota check and usage event for a write, run inside its transaction. */
  function usage(ctx: TenantContext, operation: string): UsageHook | undefined {
    return metering ? usageHook(ctx, operation) : undefined;
  }

  function drafts(body: AddMemoryBody, field: string): Draft[] {
    if ((body.text === undefined) === (body.messages === undefined)) {
      throw new AppError(
        "validation_failed",
        "Give exactly one of text or messages",
        `${field}text`,
      );
    }
    checkMetadataSize(body.metadata, `${field}metadata`);
    checkTimestamp(body.timestamp, `${field}timestamp`);
    (body.messages ?? []).forEach((m, i) => {
      checkTimestamp(m.timestamp, `${field}messages[${i}].timestamp`);
    });
    if (body.text !== undefined) return [{ text: body.text, role: null, body, source: null }];
    return (body.messages ?? []).map((m, index) => ({
      text: m.content,
      role: m.role,
      body,
      source: messageSource(index, m),
    }));
  }

  /** A batch's drafts; a batch is all infer: true or all infer: false. */
  function batchDrafts(input: BatchAddMemoriesBody): { all: Draft[]; inferred: boolean } {
    const all = input.memories.flatMap((body, i) => drafts(body, `memories[${i}].`));
    const inferred = input.memories.filter((body) => body.infer === true).length;
    if (inferred > 0 && inferred < input.memories.length) {
      const i = input.memories.findIndex(
        (body) => (body.infer === true) !== (input.memories[0]?.infer === true),
      );
      throw new AppError(
        "validation_failed",
        "A batch is either all infer: true or all infer: false",
        `memories[${i}].infer`,
      );
    }
    return { all, inferred: inferred > 0 };
  }

  async function insert(ctx: TenantContext, all: Draft[], operation: string, key?: IdempotencyKey) {
    const idem = key && scopedIdempotency(key, "memories", ctx.projectId, deps.idempotencyTtlS);
    if (idem) {
      const earlier = await store.findIdempotent(ctx.tenantId, idem);
      if (earlier) return earlier as AddMemoryResponse;
    }
    const vectors = await embedder.embed(all.map((d) => d.text));
    const rows: NewMemory[] = all.map((d, i) => {
      const occurredAt =
        d.source?.index !== undefined
          ? (d.body.messages?.[d.source.index]?.timestamp ?? d.body.timestamp ?? null)
          : (d.body.timestamp ?? null);
      return {
        id: newId("mem"),
        memory: d.text,
        role: d.role,
        userId: d.body.user_id ?? null,
        agentId: d.body.agent_id ?? null,
        sessionId: d.body.session_id ?? null,
        metadata: d.body.metadata ?? {},
        contentHash: contentHash(d.text),
        occurredAt,
        sources: d.source ? [d.source] : [],
        // The conversation's speakers are people; a first-person message mentions its speaker.
        entities: extractEntities(d.text, {
          time: occurredAt ? new Date(occurredAt) : undefined,
          speakers: d.body.messages?.flatMap((m) => (m.name ? [m.name] : [])),
          firstPersonSpeaker: d.source?.name,
          speaker: d.source?.name,
        }),
        embedding: vectorLiteral(vectors[i] as Float32Array),
      };
    });
    try {
      return await store.insertMemories(
        ctx.tenantId,
        ctx.projectId,
        rows,
        idem,
        usage(ctx, operation),
      );
    } catch (err) {
      // A concurrent request with the same key committed first: answer with its response.
      if (idem && err instanceof IdempotencyRace) {
        return (await store.findIdempotent(ctx.tenantId, idem)) as AddMemoryResponse;
      }
      throw err;
    }
  }

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

  /** Drops the memories an inference changed (enriched, superseded, invalidated) from the cache. */
  async function uncached(ctx: TenantContext, response: AddMemoryResponse) {
    const changed = response.results.flatMap((r) =>
      r.event === "UPDATE" || r.event === "DELETE"
        ? [r.id, ...(r.supersedes ? [r.supersedes] : [])]
        : [],
    );
    await Promise.all(changed.map((id) => cache.invalidate(ctx.tenantId, id)));
    return response;
  }

  return {
    /** Stores a text, or one memory per chat message; exact duplicates are NOOPs. */
    async addMemory(ctx: TenantContext, input: AddMemoryBody, idem?: IdempotencyKey) {
      requireScope(ctx, "memories:write");
      const all = drafts(input, "");
      if (input.infer === true) {
        return uncached(
          ctx,
          await deps.infer(ctx, [input], "memory.add", usage(ctx, "memory.add"), idem),
        );
      }
      return insert(ctx, all, "memory.add", idem);
    },

    /** Stores up to 1,000 add bodies in one transaction, embedded in batches; results in order. */
    async batchAddMemories(ctx: TenantContext, input: BatchAddMemoriesBody, idem?: IdempotencyKey) {
      requireScope(ctx, "memories:write");
      const { all, inferred } = batchDrafts(input);
      if (inferred) {
        return uncached(
          ctx,
          await deps.infer(
            ctx,
            input.memories,
            "memory.batch_add",
            usage(ctx, "memory.batch_add"),
            idem,
          ),
        );
      }
      return insert(ctx, all, "memory.batch_add", idem);
    },

    /** Validates an add as addMemory would, storing nothing (asynchronous adds, ADR 0027). */
    checkAddMemory(ctx: TenantContext, input: AddMemoryBody): void {
      requireScope(ctx, "memories:write");
      drafts(input, "");
    },

    /** Validates a batch as batchAddMemories would, storing nothing (asynchronous adds). */
    checkBatchAddMemories(ctx: TenantContext, input: BatchAddMemoriesBody): void {
      requireScope(ctx, "memories:write");
      batchDrafts(input);
    },

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

    /** One memory of the caller's project, from the hot-memory cache when it holds it. */
    async getMemory(ctx: TenantContext, id: string): Promise<Memory> {
      requireScope(ctx, "memories:read");
      const tenantId = ctx.tenantId;
      const load = () => store.getMemory(tenantId, ctx.projectId, id);
      let memory = isId("mem", id) ? await cache.get(tenantId, id, load) : undefined;
      if (memory && memory.project_id === undefined) {
        // Cached before memories had projects (migration 0005): drop it and read it again.
        await cache.invalidate(tenantId, id);
        memory = await load();
      }
      // The cache is per tenant: a memory of another of the tenant's projects is not found either.
      if (!memory || memory.project_id !== ctx.projectId) throw notFound("Memory", id);
      return memory;
    },

    /** Changes text (re-embedding it) and/or replaces metadata. */
    async updateMemory(ctx: TenantContext, id: string, input: UpdateMemoryBody): Promise<Memory> {
      requireScope(ctx, "memories:write");
      if (!isId("mem", id)) throw notFound("Memory", id);
      checkMetadataSize(input.metadata, "metadata");
      const patch: Parameters<MemoryStore["updateMemory"]>[3] = {};
      if (input.metadata !== undefined) patch.metadata = input.metadata;
      if (input.text !== undefined) {
        const [vector] = await embedder.embed([input.text]);
        patch.memory = input.text;
        patch.contentHash = contentHash(input.text);
        patch.embedding = vectorLiteral(vector as Float32Array);
        patch.entities = extractEntities(input.text);
      }
      const memory = await store.updateMemory(
        ctx.tenantId,
        ctx.projectId,
        id,
        patch,
        usage(ctx, "memory.update"),
      );
      if (!memory) throw notFound("Memory", id);
      await cache.invalidate(ctx.tenantId, id);
      return memory;
    },

    /** Deletes one memory (its history stays readable). */
    async deleteMemory(ctx: TenantContext, id: string): Promise<DeleteMemoryResponse> {
      requireScope(ctx, "memories:write");
      const n = isId("mem", id)
        ? await store.deleteMemories(
            ctx.tenantId,
            ctx.projectId,
            { id },
            usage(ctx, "memory.delete"),
          )
        : 0;
      if (n === 0) throw notFound("Memory", id);
      await cache.invalidate(ctx.tenantId, id);
      return { id, deleted: true };
    },

    /** Deletes every memory in a scope; at least one scope id is required. */
    async deleteMemories(
      ctx: TenantContext,
      input: DeleteMemoriesQuery,
    ): Promise<DeleteMemoriesResponse> {
      requireScope(ctx, "memories:write");
      if (!input.user_id && !input.agent_id && !input.session_id) {
        throw new AppError(
          "validation_failed",
          "Bulk delete needs at least one of user_id, agent_id or session_id",
          "user_id",
        );
      }
      const meter = usage(ctx, "memory.bulk_delete");
      const n = await store.deleteMemories(
        ctx.tenantId,
        ctx.projectId,
        { scope: scopeOf(ctx, input) },
        async (tx, delta) => {
          await meter?.(tx, delta);
          await appendAudit(tx, ctx.tenantId, {
            actor: actorName(ctx.actor),
            action: "memories.bulk_delete",
            details: { ...input, project_id: ctx.projectId, deleted: -delta.memories },
          });
        },
      );
      if (n > 0) await cache.invalidateTenant(ctx.tenantId);
      return { deleted: n };
    },

    /** Memories of a scope, newest first, a page at a time. */
    async listMemories(
      ctx: TenantContext,
      input: ListMemoriesQuery,
    ): Promise<ListMemoriesResponse> {
      requireScope(ctx, "memories:read");
      const before = decodeIdCursor(input.cursor, "mem");
      const limit = input.limit ?? 20;
      const validity = validityOf(input);
      const page = await store.listMemories(
        ctx.tenantId,
        scopeOf(ctx, input),
        limit,
        before,
        validity,
      );
      return { results: page.rows, next_cursor: nextIdCursor(page) };
    },

    /** Every ADD, UPDATE and DELETE of a memory, oldest first; kept after the memory is deleted. */
    async getMemoryHistory(ctx: TenantContext, id: string): Promise<MemoryHistoryResponse> {
      requireScope(ctx, "memories:read");
      const entries = isId("mem", id)
        ? await store.getHistory(ctx.tenantId, ctx.projectId, id)
        : [];
      if (entries.length === 0) throw notFound("Memory", id);
      return { results: entries };
    },
  };
}
export type MemoryService = ReturnType<typeof createMemoryService>;
