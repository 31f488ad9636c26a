import { createLocalMemoryCache, noMemoryCache } from "../cache/memory-cache.ts";
import type { RedisConnection } from "../cache/redis-connection.ts";
import { createRedisMemoryCache } from "../cache/redis-memory-cache.ts";
import { createCategoryService } from "../categories/category-service.ts";
import { createCategoryStore } from "../categories/category-store.ts";
import type { Config } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import type { EmbeddingModel } from "../db/vector-index.ts";
import type { Embedder } from "../embeddings/embedder.ts";
import { createEntityStore } from "../entities/entity-store.ts";
import { createInferenceEngine } from "../inference/create-engine.ts";
import { createLocalEngine } from "../inference/local-engine.ts";
import type { Counters } from "../telemetry/counters.ts";
import { createLlmBudgetCheck } from "../usage/llm-usage.ts";
import type { QuotaThresholdHook } from "../usage/metering.ts";
import type { EmitWebhooks } from "../webhooks/webhook-outbox.ts";
import { createInferenceStore } from "./inference-store.ts";
import { createInference } from "./memory-inference.ts";
import { createMemorySearchStore } from "./memory-search-store.ts";
import { createMemoryService, type MemoryServiceDeps } from "./memory-service.ts";
import { createMemoryStore } from "./memory-store.ts";
import { warmUpSearch } from "./memory-warm-up.ts";

/**
 * The memory service with its inference pipeline and the project categories it uses, built the
 * same way for `engram serve` (the routes) and `engram worker` (asynchronous adds), so an add
 * runs identically wherever it runs.
 */
export function createMemories(deps: {
  config: Config;
  db: Database;
  model: EmbeddingModel;
  embedder: Embedder & { embedQuery(text: string): Promise<Float32Array> };
  redis: RedisConnection | undefined;
  counters: Counters;
  log: {
    debug(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
  };
  searchKnowledge?: MemoryServiceDeps["searchKnowledge"];
  /** The optional re-ranker, for search (`engram worker` does not search). */
  reranker?: MemoryServiceDeps["reranker"];
  /** Webhooks: every memory change's events, and quota thresholds, in their transactions. */
  webhooks?: { emit: EmitWebhooks; quotaThresholds: QuotaThresholdHook } | undefined;
}) {
  const { config, db, model, embedder, redis, counters } = deps;
  // The inference pipeline matches facts with these (categories.categorize).
  const categories = createCategoryService({ store: createCategoryStore(db), embedder });
  const local = createLocalEngine();
  // The ranking's entity list starts from the entities a query names (entities/).
  const entities = createEntityStore(db);
  // With Redis, only the shared cache: another process could not invalidate a local one.
  const cache = redis
    ? createRedisMemoryCache({ redis, counters })
    : config.memoryCacheSize > 0
      ? createLocalMemoryCache({ max: config.memoryCacheSize, counters })
      : noMemoryCache;
  const engine = createInferenceEngine(config.llm, local, { log: deps.log });
  const search = createMemorySearchStore(db, model);
  const entitiesOfQuery: NonNullable<MemoryServiceDeps["entitiesOfQuery"]> = (
    tenantId,
    scope,
    query,
  ) =>
    entities.findQueryEntities(
      tenantId,
      { projectId: scope.projectId, userId: scope.userId },
      query,
    );
  const memories = createMemoryService({
    store: createMemoryStore(db, model, deps.webhooks?.emit),
    search,
    embedder,
    infer: createInference({
      store: createInferenceStore(db, model, deps.webhooks?.emit),
      embedder,
      engine,
      local,
      duplicateThreshold: config.inferDuplicateThreshold,
      idempotencyTtlS: config.idempotencyTtlS,
      llmBudget: createLlmBudgetCheck(db, config.llmBudgetFallback),
      categorize: (ctx, vectors) => categories.categorize(ctx, vectors),
      categoriesFor: (ctx) => categories.categoriesFor(ctx),
    }),
    idempotencyTtlS: config.idempotencyTtlS,
    metering: config.metering,
    quotaThresholds: deps.webhooks?.quotaThresholds,
    ...(deps.searchKnowledge ? { searchKnowledge: deps.searchKnowledge } : {}),
    reranker: deps.reranker,
    entitiesOfQuery,
    cache,
  });
  /** Searches before the server takes requests, for at most `budgetMs` (memory-warm-up.ts). */
  const warmUp = (budgetMs: number) =>
    warmUpSearch({ db, model, embedder, search, entitiesOfQuery, budgetMs });
  // The cache too: erasing a user (erasure/) invalidates it like a bulk delete.
  return { memories, categories, cache, warmUp };
}
