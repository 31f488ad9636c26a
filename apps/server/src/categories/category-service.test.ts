import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Scopes } from "@engram/contract";
import type { Database } from "../db/database.ts";
import type { Embedder } from "../embeddings/embedder.ts";
import { createLocalEmbedder } from "../embeddings/local-embedder.ts";
import { loadPlans } from "../plans/plans.ts";
import type { TenantContext } from "../tenancy/context.ts";
import { openTestDatabase, projectOf, seedTenant } from "../testing/test-databases.ts";
import { createCategoryService } from "./category-service.ts";
import { createCategoryStore } from "./category-store.ts";
import { DEFAULT_CATEGORIES } from "./default-categories.ts";

// categorize() with the real local model: the labelled facts the threshold was calibrated on
// (docs/decisions/0028-categories.md), and the description cache.

/** Facts with the categories a reader would give them ([]: none fits). */
const LABELLED: [string, string[]][] = [
  ["Alice lives in Berlin", ["personal_details", "home"]],
  ["Alice moved to Berlin in February 2026", ["home"]],
  ["Bob is allergic to peanuts", ["health"]],
  ["Carol works as a nurse at St Mary's hospital", ["work"]],
  ["Dan got promoted to senior engineer at Acme", ["work"]],
  ["Eve loves jazz and hates country music", ["preferences"]],
  ["Frank prefers tea over coffee", ["preferences"]],
  ["Grace's daughter Lily turned five", ["relationships"]],
  ["Henry is married to Sofia", ["relationships"]],
  ["Ivy is flying to Tokyo next Friday", ["travel", "plans"]],
  ["Jack plans to run a marathon in October", ["plans", "hobbies"]],
  ["Kate plays the violin on weekends", ["hobbies"]],
  ["Leo is studying computer science at MIT", ["education"]],
  ["Mia pays 1200 euros rent per month", ["finance", "home"]],
  ["Noah uses a MacBook and writes Python", ["technology"]],
  ["Olivia's birthday is on March 3", ["personal_details"]],
  ["Paul takes insulin for diabetes", ["health"]],
  ["Quinn has a dog named Max", ["relationships"]],
  ["The appointment with the dentist is on Tuesday", ["plans", "health"]],
  ["Rita is vegetarian", ["preferences", "health"]],
  ["Sam is saving money for a new car", ["finance"]],
  ["Tom's sister lives in Madrid", ["relationships"]],
  ["User's name is Uma and she is 34 years old", ["personal_details"]],
  ["Victor visited Rome and Florence last summer", ["travel"]],
  ["The sky is blue", []],
  ["ok", []],
];

describe("categorize", () => {
  let db: Database;
  let local: Embedder;
  /** Texts each embed() call was given, in order. */
  const embedded: string[][] = [];
  let service: ReturnType<typeof createCategoryService>;
  const plans = loadPlans();

  const contextOf = async (name: string): Promise<TenantContext> => {
    const tenantId = await seedTenant(db, name);
    return {
      tenantId,
      projectId: projectOf(tenantId),
      actor: { kind: "admin" },
      scopes: new Set(Scopes),
      plan: plans.effective(plans.defaultPlan, {}),
      requestId: "req_test",
    };
  };

  before(async () => {
    db = await openTestDatabase("pglite");
    local = await createLocalEmbedder();
    const counting = {
      embed: (texts: readonly string[]) => {
        embedded.push([...texts]);
        return local.embed(texts);
      },
    };
    service = createCategoryService({ store: createCategoryStore(db), embedder: counting });
  });
  after(async () => {
    await local.close();
    await db.close();
  });

  test("the default categories fit labelled facts: precise more than complete, none for noise", async () => {
    const ctx = await contextOf("labelled");
    const got = await service.categorize(ctx, await local.embed(LABELLED.map(([fact]) => fact)));
    assert.equal(got.length, LABELLED.length);
    let right = 0;
    let wrong = 0;
    let missed = 0;
    for (const [i, [fact, want]] of LABELLED.entries()) {
      const names = got[i] as string[];
      assert.ok(names.length <= 2, `${fact}: ${names}`);
      for (const n of names)
        assert.ok(
          DEFAULT_CATEGORIES.some((c) => c.name === n),
          n,
        );
      if (want.length === 0) assert.deepEqual(names, [], fact);
      right += names.filter((n) => want.includes(n)).length;
      wrong += names.filter((n) => !want.includes(n)).length;
      missed += want.filter((n) => !names.includes(n)).length;
    }
    const precision = right / (right + wrong);
    const recall = right / (right + missed);
    // Measured when calibrated: precision 0.71 (17/24), recall 0.57 (17/30); the model is small.
    assert.ok(precision >= 0.65, `precision ${precision.toFixed(2)}`);
    assert.ok(recall >= 0.5, `recall ${recall.toFixed(2)}`);
    const byFact = Object.fromEntries(LABELLED.map(([fact], i) => [fact, got[i]]));
    assert.deepEqual(byFact["Bob is allergic to peanuts"], ["health"]);
    assert.deepEqual(byFact["Noah uses a MacBook and writes Python"], ["technology"]);
  });

  test("descriptions are embedded once, shared by projects alike, and again only when changed", async () => {
    const a = await contextOf("a");
    const b = await contextOf("b");
    const [fact] = await local.embed(["Sam plays chess at the club every Thursday"]);
    const vectors = [fact as Float32Array];
    await service.categorize(a, vectors); // the defaults: embedded by the first test already
    const start = embedded.length;
    await service.categorize(b, vectors);
    assert.equal(embedded.length, start, "defaults come from the cache");

    const games = { name: "games", description: "Board games, chess, card games, video games" };
    const food = { name: "food", description: "Food, cooking, recipes, restaurants, meals" };
    await service.setCategories(a, { categories: [games, food] });
    assert.deepEqual(await service.categorize(a, vectors), [["games"]]);
    assert.deepEqual(embedded.slice(start), [[games.description, food.description]]);
    await service.categorize(a, vectors);
    assert.equal(embedded.length, start + 1, "a project's own come from the cache too");

    // A new description is embedded (alone); the project's new list is used at once.
    const sport = { name: "games", description: "Sport: football, tennis, running, swimming" };
    await service.setCategories(a, { categories: [sport, food] });
    const now = await service.categorize(a, vectors);
    assert.deepEqual(embedded.slice(start + 1), [[sport.description]]);
    assert.ok(!now[0]?.includes("food"), JSON.stringify(now));
    // B still has the defaults; the pipeline reads each project's own.
    assert.equal((await service.getCategories(b)).defaults, true);
    assert.deepEqual(await service.categoriesFor(a), [sport, food]);
    assert.deepEqual(await service.categoriesFor(b), DEFAULT_CATEGORIES);
  });

  test("no categories, or no facts: nothing to match", async () => {
    const ctx = await contextOf("none");
    const [fact] = await local.embed(["Bob is allergic to peanuts"]);
    assert.deepEqual(await service.categorize(ctx, []), []);
    await service.setCategories(ctx, { categories: [] });
    assert.deepEqual(await service.categorize(ctx, [fact as Float32Array]), [[]]);
    await service.resetCategories(ctx);
    assert.deepEqual(await service.categorize(ctx, [fact as Float32Array]), [["health"]]);
  });
});
