import type { CategoriesResponse, Category, SetCategoriesBody } from "@engram/contract";
import { LRUCache } from "lru-cache";
import type { Embedder } from "../embeddings/embedder.ts";
import { cosine } from "../embeddings/unit-vector.ts";
import { AppError } from "../lib/errors.ts";
import { appendAudit } from "../tenancy/audit.ts";
import { actorName, requireScope, type TenantContext } from "../tenancy/context.ts";
import type { CategoryStore } from "./category-store.ts";
import { DEFAULT_CATEGORIES } from "./default-categories.ts";

/**
 * How facts are matched with categories: a fact gets the categories whose description is at least
 * `threshold` similar to it (cosine), at most `max` of them, and only those within `margin` of its
 * best one. Calibrated with the local model (use-lite-512) on labelled facts
 * (category-service.test.ts, docs/decisions/0028-categories.md); another embedding model has
 * other similarity levels and may need its own.
 */
interface CategorizeOptions {
  threshold: number;
  margin: number;
  max: number;
}
const CATEGORIZE_DEFAULTS: CategorizeOptions = { threshold: 0.24, margin: 0.05, max: 2 };

export interface CategoryServiceDeps {
  store: CategoryStore;
  embedder: Pick<Embedder, "embed">;
  categorize?: Partial<CategorizeOptions>;
  /** Description embeddings kept in this process (by text, so shared by projects alike). */
  cacheSize?: number;
}

/** A name given twice is refused, at its second place. */
function checkUnique(categories: readonly Category[]): void {
  const seen = new Set<string>();
  for (const [i, c] of categories.entries()) {
    if (seen.has(c.name)) {
      throw new AppError(
        "validation_failed",
        `Category "${c.name}" is given more than once`,
        `categories[${i}].name`,
      );
    }
    seen.add(c.name);
  }
}

/** A project's categories: read and replaced by its keys, and matched with facts by inference. */
export function createCategoryService(deps: CategoryServiceDeps) {
  const { store, embedder } = deps;
  const opts = { ...CATEGORIZE_DEFAULTS, ...deps.categorize };
  // Keyed by description text: a changed description is a new key, so a PUT never leaves a stale
  // vector behind (PUT also drops the old texts), in this process or any other.
  const vectors = new LRUCache<string, Promise<Float32Array>>({ max: deps.cacheSize ?? 2_000 });

  async function current(ctx: TenantContext): Promise<CategoriesResponse> {
    const own = await store.getCategories(ctx.tenantId, ctx.projectId);
    return own
      ? { categories: own, defaults: false }
      : { categories: [...DEFAULT_CATEGORIES], defaults: true };
  }

  /** The descriptions' embeddings, from the cache, the missing ones embedded in one call. */
  function embedDescriptions(categories: readonly Category[]): Promise<Float32Array[]> {
    const found = new Map<string, Promise<Float32Array>>();
    const missing: string[] = [];
    for (const description of new Set(categories.map((c) => c.description))) {
      const hit = vectors.get(description);
      if (hit) found.set(description, hit);
      else missing.push(description);
    }
    if (missing.length > 0) {
      const batch = embedder.embed(missing);
      for (const [i, description] of missing.entries()) {
        const one = batch.then((vs) => vs[i] as Float32Array);
        // A failed embedding is not kept: the next call tries again.
        one.catch(() => vectors.delete(description));
        found.set(description, one);
        vectors.set(description, one);
      }
    }
    return Promise.all(categories.map((c) => found.get(c.description) as Promise<Float32Array>));
  }

  async function replace(ctx: TenantContext, categories: readonly Category[] | null) {
    requireScope(ctx, "memories:write");
    const before = await current(ctx);
    await store.setCategories(ctx.tenantId, ctx.projectId, categories, (tx) =>
      appendAudit(tx, ctx.tenantId, {
        actor: actorName(ctx.actor),
        action: "categories.set",
        details: {
          project_id: ctx.projectId,
          categories: categories === null ? "defaults" : categories.map((c) => c.name),
        },
      }),
    );
    const kept = new Set((categories ?? DEFAULT_CATEGORIES).map((c) => c.description));
    for (const c of before.categories) if (!kept.has(c.description)) vectors.delete(c.description);
    return current(ctx);
  }

  return {
    /** The project's categories, or the defaults while it has not set its own. */
    async getCategories(ctx: TenantContext): Promise<CategoriesResponse> {
      requireScope(ctx, "memories:read");
      return current(ctx);
    },

    /** Replaces the project's categories (an empty list: none); answers the new list. */
    async setCategories(ctx: TenantContext, input: SetCategoriesBody): Promise<CategoriesResponse> {
      checkUnique(input.categories);
      return replace(ctx, input.categories);
    },

    /** Goes back to the shipped defaults. */
    async resetCategories(ctx: TenantContext): Promise<CategoriesResponse> {
      return replace(ctx, null);
    },

    /**
     * The project's categories for the inference pipeline (the LLM engine's prompt, and checking
     * the names it answers with); no scope is checked (the add already checked its own).
     */
    async categoriesFor(ctx: TenantContext): Promise<Category[]> {
      return (await current(ctx)).categories;
    },

    /**
     * For each fact vector (from the same embedder, in order), the names of the project's
     * categories whose description it is most similar to, best first: those at or above the
     * threshold and within the margin of the best, at most `max`; none when nothing is close.
     * The inference pipeline calls it; no scope is checked (the add already checked its own).
     */
    async categorize(ctx: TenantContext, facts: readonly Float32Array[]): Promise<string[][]> {
      if (facts.length === 0) return [];
      const { categories } = await current(ctx);
      if (categories.length === 0) return facts.map(() => []);
      const described = await embedDescriptions(categories);
      return facts.map((fact) => {
        const scored = categories
          .map((c, i) => ({ name: c.name, score: cosine(fact, described[i] as Float32Array) }))
          .sort((a, b) => b.score - a.score);
        const best = scored[0]?.score ?? 0;
        return scored
          .filter((s) => s.score >= opts.threshold && s.score >= best - opts.margin)
          .slice(0, opts.max)
          .map((s) => s.name);
      });
    },
  };
}
export type CategoryService = ReturnType<typeof createCategoryService>;
