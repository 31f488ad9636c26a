import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PGlite } from "@electric-sql/pglite";
import { compileFilter, FilterError } from "./filter-sql.ts";

// Each row exercises a shape the filter must cope with; `null` is a NULL metadata column.
const ROWS: Record<number, unknown> = {
  1: { price: 5, color: "red", tags: ["a", "b"], published: "2024-01-15T10:00:00Z", active: true },
  2: {
    price: 10,
    color: "Blue",
    tags: ["b", "c"],
    published: "2024-03-01T00:00:00Z",
    active: false,
  },
  3: { price: "5", color: "green", tags: [], active: null },
  4: { price: 7.5, title: "Hello World", tags: ["x", 1, true, null], nested: { a: 1 } },
  5: { price: null, color: "red", title: "hello there" },
  6: {},
  7: { price: 0, color: null, nested: { a: 2 }, published: "2023-12-31", title: "Crème brûlée" },
  8: { price: -3, color: "RED", tags: "a,b", active: true, title: "Bonjour" },
  9: null,
  10: { price: 100, tags: [["a"]], "weird key": "x", "a'b": 1, active: "true" },
  11: ["color", "red"],
};
const ALL = Object.keys(ROWS).map(Number);
const except = (...ids: number[]) => ALL.filter((id) => !ids.includes(id));

let db: PGlite;

before(async () => {
  db = await PGlite.create();
  await db.exec("create table t (id int primary key, metadata jsonb)");
  for (const [id, metadata] of Object.entries(ROWS)) {
    await db.query("insert into t values ($1, $2::jsonb)", [
      Number(id),
      metadata === null ? null : JSON.stringify(metadata),
    ]);
  }
});

after(async () => {
  await db.close();
});

async function matching(filter: unknown): Promise<number[]> {
  const { sql, params } = compileFilter(filter, "t.metadata", 1);
  const result = await db.query<{ id: number }>(
    `select id from t where ${sql} order by id`,
    params,
  );
  return result.rows.map((row) => row.id);
}

function rejects(filter: unknown, path: string, message?: RegExp): void {
  assert.throws(
    () => compileFilter(filter, "t.metadata", 1),
    (error: unknown) => {
      assert.ok(error instanceof FilterError, `expected FilterError, got ${String(error)}`);
      assert.equal(error.path, path);
      assert.ok(error.message.startsWith(`${path}: `), error.message);
      if (message) assert.match(error.message, message);
      return true;
    },
  );
}

const nestNot = (levels: number, inner: unknown): unknown =>
  levels === 0 ? inner : { not: nestNot(levels - 1, inner) };

const cases: [string, unknown, number[]][] = [
  // eq
  ["shorthand equality is case-sensitive", { color: "red" }, [1, 5]],
  ["number equality is type-exact", { price: 5 }, [1]],
  ["number equality is numeric", { price: 5.0 }, [1]],
  ["string equality is type-exact", { price: "5" }, [3]],
  ["boolean equality", { active: true }, [1, 8]],
  ["null matches missing or null", { color: null }, [4, 6, 7, 9, 10, 11]],
  ["explicit eq", { price: { eq: 5 } }, [1]],
  ["keys needing quoting stay parameters", { "a'b": 1, "weird key": "x" }, [10]],
  // ne
  ["ne includes missing keys", { color: { ne: "red" } }, except(1, 5)],
  ["ne null means present and not null", { color: { ne: null } }, [1, 2, 3, 5, 8]],
  // comparisons
  ["gt compares numbers only", { price: { gt: 5 } }, [2, 4, 10]],
  ["gte", { price: { gte: 5 } }, [1, 2, 4, 10]],
  ["lt skips strings and nulls", { price: { lt: 5 } }, [7, 8]],
  ["lte", { price: { lte: 0 } }, [7, 8]],
  ["several operators are ANDed", { price: { gte: 1, lt: 10 } }, [1, 4]],
  ["string gt compares strings only", { price: { gt: "4" } }, [3]],
  ["ISO dates compare as text", { published: { gte: "2024-01-01" } }, [1, 2]],
  ["date range", { published: { gte: "2023-12-01", lt: "2024-02-01" } }, [1, 7]],
  ["text comparison is by code point", { color: { lt: "a" } }, [2, 8]],
  // in / nin
  ["in", { color: { in: ["red", "Blue"] } }, [1, 2, 5]],
  ["in is type-exact", { price: { in: [5, "5", false] } }, [1, 3]],
  ["in with null matches missing", { color: { in: [null, "green"] } }, [3, 4, 6, 7, 9, 10, 11]],
  ["nin includes missing keys", { color: { nin: ["red", "Blue"] } }, except(1, 2, 5)],
  ["nin with null excludes missing", { color: { nin: [null, "green"] } }, [1, 2, 5, 8]],
  ["in never matches arrays as a whole", { tags: { in: ["a", "b"] } }, []],
  // contains
  ["contains: array membership or substring", { tags: { contains: "b" } }, [1, 2, 8]],
  ["contains a number", { tags: { contains: 1 } }, [4]],
  ["contains a boolean", { tags: { contains: true } }, [4]],
  ["contains null", { tags: { contains: null } }, [4]],
  ["contains does not look into nested arrays", { tags: { contains: "a" } }, [1, 8]],
  ["contains is case-insensitive on text", { title: { contains: "HELLO" } }, [4, 5]],
  ["contains folds non-ASCII case", { title: { contains: "BRÛLÉE" } }, [7]],
  ["contains has no wildcards", { title: { contains: "%" } }, []],
  ["contains never matches numbers", { price: { contains: 5 } }, []],
  ["contains never matches objects", { nested: { contains: "a" } }, []],
  ["contains a number never matches text", { title: { contains: 1 } }, []],
  // combinators
  ["several keys are ANDed", { color: "red", active: true }, [1]],
  ["and", { and: [{ color: "red" }, { price: { gt: 1 } }] }, [1]],
  ["or", { or: [{ color: "green" }, { price: { lt: 0 } }] }, [3, 8]],
  ["not includes missing keys", { not: { color: "red" } }, except(1, 5)],
  ["not of a comparison", { not: { price: { gt: 5 } } }, except(2, 4, 10)],
  ["not of contains", { not: { tags: { contains: "b" } } }, except(1, 2, 8)],
  ["not of in", { not: { color: { in: ["red"] } } }, except(1, 5)],
  ["double not", { not: { not: { color: "red" } } }, [1, 5]],
  [
    "nested combinators",
    {
      or: [
        { and: [{ color: "red" }, { not: { price: null } }] },
        { title: { contains: "bonjour" } },
      ],
    },
    [1, 8],
  ],
  ["combinators beside keys", { color: "red", or: [{ price: 5 }, { price: null }] }, [1, 5]],
  ["the deepest allowed nesting", nestNot(7, { color: "red" }), except(1, 5)],
  ["64 conditions", { and: Array.from({ length: 64 }, () => ({ price: { gt: 5 } })) }, [2, 4, 10]],
];

describe("compileFilter matches", () => {
  for (const [name, filter, expected] of cases) {
    it(name, async () => {
      assert.deepEqual(await matching(filter), expected);
    });
  }

  it("numbers placeholders from firstParam", async () => {
    const { sql, params } = compileFilter({ color: "red", price: { gt: 1 } }, "t.metadata", 3);
    assert.deepEqual(params, ["color", '"red"', "price", "1"]);
    assert.match(sql, /\$3::text/);
    assert.match(sql, /\$6::jsonb/);
    assert.doesNotMatch(sql, /\$[12]\b|\$7/);
    const result = await db.query<{ id: number }>(
      `select id from t where id >= $1 and id <= $2 and ${sql} order by id`,
      [0, 100, ...params],
    );
    assert.deepEqual(
      result.rows.map((row) => row.id),
      [1],
    );
  });
});

describe("compileFilter rejects", () => {
  it("a filter that is not an object", () => {
    for (const filter of [null, undefined, 5, "color", true, [], [{ color: "red" }]]) {
      rejects(filter, "filters", /must be an object/);
    }
  });

  it("an empty filter", () => {
    rejects({}, "filters", /at least one condition/);
    rejects({ and: [{}] }, "filters.and[0]", /at least one condition/);
  });

  it("an unknown operator", () => {
    rejects({ price: { between: [1, 2] } }, "filters.price.between", /unknown operator/);
    rejects({ price: { gt: 1, amount: 2 } }, "filters.price.amount", /unknown operator/);
    rejects({ price: { EQ: 1 } }, "filters.price.EQ", /unknown operator/);
  });

  it("an empty operator object", () => {
    rejects({ price: {} }, "filters.price", /at least one operator/);
  });

  it("non-scalar equality values", () => {
    rejects({ price: [1] }, "filters.price", /use "in"/);
    rejects({ price: { eq: { a: 1 } } }, "filters.price.eq", /"eq" needs/);
    rejects({ price: { ne: [1] } }, "filters.price.ne", /"ne" needs/);
  });

  it("comparison values that are not numbers or strings", () => {
    rejects({ price: { gt: true } }, "filters.price.gt", /"gt" needs a number or a string/);
    rejects({ price: { gte: null } }, "filters.price.gte");
    rejects({ price: { lt: [1] } }, "filters.price.lt");
    rejects({ price: { lte: Number.NaN } }, "filters.price.lte");
    rejects({ price: { gt: Number.POSITIVE_INFINITY } }, "filters.price.gt");
    rejects({ price: { eq: Number.NaN } }, "filters.price.eq");
  });

  it("bad in/nin lists", () => {
    rejects({ color: { in: "red" } }, "filters.color.in", /list of 1 to 100/);
    rejects({ color: { nin: [] } }, "filters.color.nin", /list of 1 to 100/);
    rejects({ color: { in: Array.from({ length: 101 }, (_, i) => i) } }, "filters.color.in");
    rejects({ color: { in: ["red", { a: 1 }] } }, "filters.color.in[1]", /list items/);
    rejects({ color: { nin: [["red"]] } }, "filters.color.nin[0]");
  });

  it("non-scalar contains values", () => {
    rejects({ tags: { contains: ["a"] } }, "filters.tags.contains", /"contains" needs/);
    rejects({ tags: { contains: { a: 1 } } }, "filters.tags.contains");
  });

  it("bad and/or/not", () => {
    rejects({ and: [] }, "filters.and", /non-empty list/);
    rejects({ or: {} }, "filters.or", /non-empty list/);
    rejects({ and: { color: "red" } }, "filters.and");
    rejects({ or: [{ color: "red" }, 5] }, "filters.or[1]", /must be an object/);
    rejects({ not: [] }, "filters.not", /must be an object/);
    rejects({ not: null }, "filters.not");
    rejects(
      { and: [{ color: "red" }, { price: { gt: true } }] },
      "filters.and[1].price.gt",
      /"gt" needs/,
    );
  });

  it("bad keys", () => {
    rejects({ "": 1 }, 'filters[""]', /must not be empty/);
    const long = "k".repeat(129);
    rejects({ [long]: 1 }, `filters[${JSON.stringify(`${"k".repeat(40)}…`)}]`, /longer than 128/);
    rejects({ "a\u0000b": 1 }, 'filters["a\\u0000b"]', /without NUL/);
    rejects({ "\ud800": 1 }, 'filters["\\ud800"]', /valid Unicode/);
    assert.doesNotThrow(() => compileFilter({ ["k".repeat(128)]: 1 }, "t.metadata", 1));
  });

  it("bad text values", () => {
    rejects({ color: "a\u0000" }, "filters.color", /without NUL/);
    rejects({ color: { contains: "\udc00x" } }, "filters.color.contains", /valid Unicode/);
    rejects({ color: { gt: "x".repeat(1025) } }, "filters.color.gt", /longer than 1024/);
    rejects({ color: { in: ["ok", "x".repeat(1025)] } }, "filters.color.in[1]");
  });

  it("nesting deeper than 8 levels", () => {
    rejects(nestNot(8, { color: "red" }), `filters${".not".repeat(8)}`, /at most 8 levels/);
    let deepAnd: unknown = { color: "red" };
    for (let i = 0; i < 8; i++) deepAnd = { and: [deepAnd] };
    rejects(deepAnd, `filters${".and[0]".repeat(8)}`, /at most 8 levels/);
  });

  it("more than 64 conditions", () => {
    const many = { and: Array.from({ length: 65 }, (_, i) => ({ [`k${i}`]: i })) };
    rejects(many, "filters.and[64].k64", /at most 64 conditions/);
    const ops = { price: { gt: 1, lt: 2 } };
    rejects({ and: Array.from({ length: 33 }, () => ops) }, "filters.and[32].price.gt");
  });
});

describe("compileFilter is injection-safe", () => {
  const attacks = [
    "') OR true --",
    "x' OR '1'='1",
    '"; DROP TABLE t; --',
    "$$ OR true $$",
    "color -> 'x') OR (1=1",
    "%",
  ];

  for (const attack of attacks) {
    it(`keeps ${JSON.stringify(attack)} out of the SQL`, async () => {
      const filters = [
        { [attack]: "red" },
        { [attack]: { gt: attack } },
        { color: attack },
        { color: { in: [attack, 1] } },
        { color: { contains: attack } },
        { tags: { contains: attack } },
      ];
      for (const filter of filters) {
        const { sql } = compileFilter(filter, "t.metadata", 1);
        assert.ok(!sql.includes(attack), sql);
        assert.deepEqual(await matching(filter), []);
      }
      assert.deepEqual(await matching({ not: { [attack]: { in: [attack] } } }), ALL);
      const count = await db.query<{ n: number }>("select count(*)::int as n from t");
      assert.equal(count.rows[0]?.n, ALL.length);
    });
  }
});

describe("compileFilter's categories option", () => {
  // id → [categories, metadata]
  const MEMORIES: Record<number, [string[], unknown]> = {
    1: [["work"], { categories: "work", team: "core" }],
    2: [["work", "travel"], { team: "sales" }],
    3: [["health"], {}],
    4: [[], { categories: ["work"] }],
    5: [["preferences", "health"], { team: "core" }],
  };
  const IDS = Object.keys(MEMORIES).map(Number);
  const OPTIONS = { categories: "to_jsonb(c.categories)" };

  before(async () => {
    await db.exec(
      "create table c (id int primary key, metadata jsonb, categories text[] not null)",
    );
    for (const [id, [categories, metadata]] of Object.entries(MEMORIES)) {
      await db.query("insert into c values ($1, $2::jsonb, $3::text[])", [
        Number(id),
        JSON.stringify(metadata),
        categories,
      ]);
    }
  });

  async function select(filter: unknown, options: { categories?: string } = OPTIONS) {
    const { sql, params } = compileFilter(filter, "c.metadata", 1, options);
    const result = await db.query<{ id: number }>(
      `select id from c where ${sql} order by id`,
      params,
    );
    return result.rows.map((row) => row.id);
  }

  const categoryCases: [string, unknown, number[]][] = [
    ["a bare name: has that category", { categories: "work" }, [1, 2]],
    ["eq: has that category", { categories: { eq: "health" } }, [3, 5]],
    ["contains: has that category", { categories: { contains: "travel" } }, [2]],
    ["ne: does not have it (no categories included)", { categories: { ne: "work" } }, [3, 4, 5]],
    ["in: has at least one of them", { categories: { in: ["travel", "health"] } }, [2, 3, 5]],
    ["nin: has none of them", { categories: { nin: ["work", "health"] } }, [4]],
    ["several operators are ANDed", { categories: { contains: "work", ne: "travel" } }, [1]],
    ["an unknown category matches nothing", { categories: "plans" }, []],
    ["names are case-sensitive", { categories: "Work" }, []],
    ["with metadata keys", { categories: "health", team: "core" }, [5]],
    ["inside or", { or: [{ categories: "travel" }, { team: "core" }] }, [1, 2, 5]],
    ["inside not", { not: { categories: { in: ["work"] } } }, [3, 4, 5]],
  ];
  for (const [name, filter, expected] of categoryCases) {
    it(name, async () => {
      assert.deepEqual(await select(filter), expected);
    });
  }

  it("without the option, categories is an ordinary metadata key", async () => {
    assert.deepEqual(await select({ categories: "work" }, {}), [1]);
    assert.deepEqual(await select({ categories: { contains: "work" } }, {}), [1, 4]);
    // Without the option the column is never named.
    const { sql } = compileFilter({ categories: "work" }, "c.metadata", 1);
    assert.ok(!sql.includes("to_jsonb"), sql);
  });

  it("rejects what is not a set of names", () => {
    const bad: [unknown, string, RegExp][] = [
      [{ categories: { gt: "a" } }, "filters.categories.gt", /categories take eq, ne, in/],
      [{ categories: { like: "a" } }, "filters.categories.like", /categories take/],
      [{ categories: null }, "filters.categories", /a category is a name/],
      [{ categories: 3 }, "filters.categories", /a category is a name/],
      [{ categories: { in: ["work", 1] } }, "filters.categories.in[1]", /a category is a name/],
      [{ categories: { in: [] } }, "filters.categories.in", /list of 1 to 100/],
      [{ categories: { nin: "work" } }, "filters.categories.nin", /list of 1 to 100/],
      [{ categories: ["work"] }, "filters.categories", /use "in"/],
      [{ categories: {} }, "filters.categories", /at least one operator/],
      [{ and: [{ categories: { eq: false } }] }, "filters.and[0].categories.eq", /a name/],
    ];
    for (const [filter, path, message] of bad) {
      assert.throws(
        () => compileFilter(filter, "c.metadata", 1, OPTIONS),
        (error: unknown) => {
          assert.ok(error instanceof FilterError, String(error));
          assert.equal(error.path, path);
          assert.match(error.message, message);
          return true;
        },
        JSON.stringify(filter),
      );
    }
  });

  it("counts towards the 64-condition limit", () => {
    const many = { and: Array.from({ length: 65 }, () => ({ categories: "work" })) };
    assert.throws(
      () => compileFilter(many, "c.metadata", 1, OPTIONS),
      (error: unknown) =>
        error instanceof FilterError && error.path === "filters.and[64].categories",
    );
  });

  it("keeps names out of the SQL", async () => {
    const attack = "') OR true --";
    for (const filter of [{ categories: attack }, { categories: { in: [attack] } }]) {
      const { sql } = compileFilter(filter, "c.metadata", 1, OPTIONS);
      assert.ok(!sql.includes(attack), sql);
      assert.deepEqual(await select(filter), []);
    }
    assert.deepEqual(await select({ categories: { nin: [attack] } }), IDS);
  });
});
