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
  SearchKnowledgeBody,
  SearchKnowledgeResponse,
  UpdateMemoryBody,
} from "@engram/contract";
import { type MemoryCache, noMemoryCache } from "../cache/memory-cache.ts";
import { type IdempotencyKey, IdempotencyRace, scopedIdempotency } from "../db/idempotency.ts";
import type { Embedder } from "../embeddings/embedder.ts";
import { extractEntities } from "../entities/entity-extraction.ts";
import type { QueryEntity } from "../entities/entity-store.ts";
import { decodeIdCursor, nextIdCursor } from "../lib/cursor.ts";
import { AppError, notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import { checkMetadataSize } from "../lib/metadata.ts";
import type { Reranker } from "../rerank/reranker.ts";
import { vectorLiteral } from "../search/query-text.ts";
import { appendAudit } from "../tenancy/audit.ts";
import { actorName, requireScope, type TenantContext } from "../tenancy/context.ts";
import { type QuotaThresholdHook, type UsageHook, usageHook } from "../usage/metering.ts";
import { contentHash } from "./content-hash.ts";
import { type Infer, messageSource } from "./memory-inference.ts";
import { checkTimestamp, scopeOf, validityOf } from "./memory-input.ts";
import { createMemorySearch } from "./memory-search.ts";
import type { MemorySearchStore } from "./memory-search-store.ts";
import type { MemoryScope, MemoryStore, NewMemory } from "./memory-store.ts";

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
  /** Told of quota thresholds a write crosses (webhooks' quota.threshold). */
  quotaThresholds?: QuotaThresholdHook | undefined;
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

interface Draft {
  text: string;
  role: string | null;
  body: AddMemoryBody;
  source: MessageSource | null;
}

/** The memory verbs, shared by the HTTP routes, the CLI and (later) the MCP server. */
export function createMemoryService(deps: MemoryServiceDeps) {
  const { store, embedder } = deps;
  const cache = deps.cache ?? noMemoryCache;
  const metering = deps.metering ?? true;

  /** Quota check and usage event for a write, run inside its transaction. */
  function usage(ctx: TenantContext, operation: string): UsageHook | undefined {
    return metering ? usageHook(ctx, operation, deps.quotaThresholds) : undefined;
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
    // The model runs in its worker thread while this thread reads the texts' entities.
    const embedding = embedder.embed(all.map((d) => d.text));
    // Should reading the texts throw, the embedding's own failure must not go unhandled.
    embedding.catch(() => {});
    const drafted = all.map((d) => {
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
      };
    });
    const vectors = await embedding;
    const rows: NewMemory[] = drafted.map((row, i) => ({
      ...row,
      embedding: vectorLiteral(vectors[i] as Float32Array),
    }));
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

  const { searchMemories } = createMemorySearch(deps);

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

    searchMemories,

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
