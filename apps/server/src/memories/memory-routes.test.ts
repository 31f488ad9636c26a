import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EngramClient, EngramError, type Memory, type Scope, type SearchHit } from "@engram/sdk";
import {
  startPostgresTestServer,
  startTestServer,
  type TestServer,
} from "../testing/test-server.ts";

// The same tests on each database backend: embedded (PGlite + pgvector) and cluster mode
// (PostgreSQL + pgvector as the application role, in a fresh database). One real server with the
// local embedding model per backend; every test makes its own tenant(s), so they can run in any
// order. Suites run one after the other, so the helpers below use whichever server is current.
const BACKENDS: { name: string; start: () => Promise<TestServer> }[] = [
  { name: "pglite", start: () => startTestServer() },
  { name: "postgres", start: () => startPostgresTestServer() },
];
let srv: TestServer;

// ---------------------------------------------------------------------------------------------
// Helpers

const MEM_ID = /^mem_[0-9A-HJKMNP-TV-Z]{26}$/;
/** Well-formed, but no memory has it. */
const MISSING_ID = "mem_01ARZ3NDEKTSV4RRFFQ69G5FAV";
/** Not shaped like a memory id at all. */
const MALFORMED_ID = "not-a-memory";

/**
 * fetch for the SDK that checks the wire format of every error: problem+json and a request id
 * header. The SDK itself only sees the decoded body.
 */
const problemFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  if (!res.ok) {
    assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
    assert.match(res.headers.get("x-request-id") ?? "", /^req_/);
  }
  return res;
};

const clientFor = (token: string) =>
  new EngramClient({ baseUrl: srv.url, token, fetch: problemFetch });

/** A fresh tenant with a key carrying `scopes` (all by default). */
async function tenant(scopes?: Scope[]) {
  const t = await srv.newTenant(scopes);
  return { ...t, client: clientFor(t.key) };
}
type Tenant = Awaited<ReturnType<typeof tenant>>;

/** A second key for an existing tenant, with only these scopes. */
async function keyWith(t: Tenant, scopes: Scope[]) {
  const created = await srv.admin.createKey(t.tenantId, { scopes });
  return clientFor(created.key);
}

/** Asserts the SDK call fails with this problem; checks the body carries code and requestId. */
async function expectProblem(call: Promise<unknown>, status: number, code: string, field?: string) {
  const err = await call.then(
    (ok) => assert.fail(`expected ${status} ${code}, got ${JSON.stringify(ok)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof EngramError, `expected EngramError, got ${String(err)}`);
  const detail = JSON.stringify(err.problem);
  assert.equal(err.status, status, detail);
  assert.equal(err.problem.status, status, detail);
  assert.equal(err.code, code, detail);
  assert.match(err.problem.requestId ?? "", /^req_/, detail);
  if (field !== undefined) assert.equal(err.problem.field, field, detail);
  return err.problem;
}

interface Reply {
  status: number;
  contentType: string;
  body: Record<string, unknown>;
}

/** A raw request, for what the SDK cannot express (no key, malformed JSON, huge bodies). */
async function raw(
  method: string,
  path: string,
  opts: { token?: string; body?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(new URL(path, srv.url), {
    method,
    headers,
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "",
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

function assertProblem(r: Reply, status: number, code: string, field?: string) {
  const detail = JSON.stringify(r.body);
  assert.equal(r.status, status, detail);
  assert.match(r.contentType, /^application\/problem\+json/);
  assert.equal(r.body.code, code, detail);
  assert.equal(r.body.status, status, detail);
  assert.match(String(r.body.requestId), /^req_/, detail);
  if (field !== undefined) assert.equal(r.body.field, field, detail);
}

/** No Authorization header, and a non-bearer one: both 401 unauthenticated. */
async function expectUnauthenticated(method: string, path: string, body?: unknown) {
  const payload = body === undefined ? {} : { body: JSON.stringify(body) };
  assertProblem(await raw(method, path, payload), 401, "unauthenticated");
  const res = await fetch(new URL(path, srv.url), {
    method,
    headers: { authorization: "Basic dXNlcjpwYXNz", "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  assert.equal(res.status, 401);
  assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
}

/** Malformed JSON is 400 invalid_json; an empty body is no body, which this route needs. */
async function expectInvalidJson(t: Tenant, method: string, path: string) {
  for (const body of ['{"text": "unterminated', "{text: 'single quotes'}", " "]) {
    assertProblem(await raw(method, path, { token: t.key, body }), 400, "invalid_json");
  }
  const empty = await raw(method, path, { token: t.key, body: "" });
  assertProblem(empty, 400, "validation_failed", "body");
  assert.equal(empty.body.detail, "A JSON body is required");
}

/** Adds one text memory and returns its id. */
async function add(
  t: Tenant,
  text: string,
  extra: Omit<Parameters<EngramClient["addMemory"]>[0], "text"> = {},
) {
  const { results } = await t.client.addMemory({ text, ...extra });
  const [first] = results;
  assert.ok(first);
  return first.id;
}

async function listAll(
  t: Tenant,
  scope: { user_id?: string; agent_id?: string; session_id?: string } = {},
) {
  const all: Memory[] = [];
  for await (const m of t.client.listAllMemories({ ...scope, limit: 100 })) all.push(m);
  return all;
}

const ids = (hits: readonly { id: string }[]) => hits.map((h) => h.id);
const sorted = (xs: readonly string[]) => [...xs].sort();
const isIso = (s: string | null) => s !== null && new Date(s).toISOString() === s;

/** Unrelated facts, each with a paraphrased question sharing (almost) no words with it. */
const FACTS = [
  { text: "Alice is allergic to peanuts and carries an EpiPen", ask: "Which nuts make her sick?" },
  {
    text: "Maria is learning to play the violin",
    ask: "which musical instrument is she studying",
  },
  { text: "Bob's favourite football team is Arsenal", ask: "what sport does he follow" },
  { text: "The server room thermostat is set to 18 degrees", ask: "how warm is the computer room" },
  { text: "My car needs an oil change", ask: "vehicle maintenance that is overdue" },
];

// ---------------------------------------------------------------------------------------------

for (const backend of BACKENDS) {
  describe(`memory routes on ${backend.name}`, () => {
    before(async () => {
      srv = await backend.start();
    });
    after(async () => {
      await srv?.close();
    });

    describe("POST /v1/memories", () => {
      test("stores the text verbatim with its scope, metadata and timestamp", async () => {
        const t = await tenant();
        const text = "  Prefers GREEN tea,\n  not coffee  ";
        const metadata = { source: "chat", priority: 2, tags: ["drinks"], nested: { ok: true } };
        const { results } = await t.client.addMemory({
          text,
          user_id: "u1",
          agent_id: "a1",
          session_id: "s1",
          metadata,
          timestamp: "2024-02-29T13:45:10.250Z",
          infer: false,
        });
        assert.equal(results.length, 1);
        const [r] = results;
        assert.ok(r);
        assert.match(r.id, MEM_ID);
        assert.equal(r.event, "ADD");
        assert.equal(r.memory, text);

        const m = await t.client.getMemory(r.id);
        assert.equal(m.memory, text);
        assert.equal(m.role, null);
        assert.deepEqual([m.user_id, m.agent_id, m.session_id], ["u1", "a1", "s1"]);
        assert.deepEqual(m.metadata, metadata);
        assert.equal(m.timestamp, "2024-02-29T13:45:10.250Z");
        assert.ok(m.embedding_model.length > 0);
        assert.ok(isIso(m.created_at) && isIso(m.updated_at));
      });

      test("timestamp with an offset round-trips as the same instant in UTC; absent is null", async () => {
        const t = await tenant();
        const withOffset = await add(t, "Met Dana at the café", {
          timestamp: "2024-05-01T09:00:00+02:00",
        });
        assert.equal((await t.client.getMemory(withOffset)).timestamp, "2024-05-01T07:00:00.000Z");
        const without = await add(t, "Met Eve at the library");
        assert.equal((await t.client.getMemory(without)).timestamp, null);
      });

      test("messages store one memory per message, keeping each role", async () => {
        const t = await tenant();
        const { results } = await t.client.addMemory({
          messages: [
            { role: "user", content: "I moved to Lisbon last month" },
            { role: "assistant", content: "Noted: you live in Lisbon now" },
            { role: "system", content: "The user speaks Portuguese" },
          ],
          user_id: "u1",
        });
        assert.deepEqual(
          results.map((r) => [r.event, r.role, r.memory]),
          [
            ["ADD", "user", "I moved to Lisbon last month"],
            ["ADD", "assistant", "Noted: you live in Lisbon now"],
            ["ADD", "system", "The user speaks Portuguese"],
          ],
        );
        for (const r of results) {
          const m = await t.client.getMemory(r.id);
          assert.equal(m.role, r.role);
          assert.equal(m.user_id, "u1");
        }
        assert.equal((await listAll(t, { user_id: "u1" })).length, 3);
      });

      test("an exact duplicate in the same scope is a NOOP with the existing id", async () => {
        const t = await tenant();
        const first = await add(t, "My dog is called Rex", { user_id: "u1" });
        const again = await t.client.addMemory({
          text: "  my DOG is\tcalled   rex ",
          user_id: "u1",
        });
        assert.deepEqual(again.results, [
          { id: first, memory: "My dog is called Rex", event: "NOOP" },
        ]);

        // The same text in any other scope is a new memory.
        const otherUser = await t.client.addMemory({ text: "My dog is called Rex", user_id: "u2" });
        const withAgent = await t.client.addMemory({
          text: "My dog is called Rex",
          user_id: "u1",
          agent_id: "a",
        });
        const unscoped = await t.client.addMemory({ text: "My dog is called Rex" });
        for (const r of [otherUser, withAgent, unscoped]) {
          assert.equal(r.results[0]?.event, "ADD");
          assert.notEqual(r.results[0]?.id, first);
        }
        assert.equal((await listAll(t, { user_id: "u1" })).length, 2);
        assert.equal((await listAll(t)).length, 4);
      });

      test("Idempotency-Key replays the first response; reuse with another body is 422", async () => {
        const t = await tenant();
        const body = { text: "Paid the electricity bill", user_id: "u1" };
        const first = await t.client.addMemory(body, { idempotencyKey: "add-1" });
        const replay = await t.client.addMemory(body, { idempotencyKey: "add-1" });
        assert.deepEqual(replay, first);
        assert.equal(replay.results[0]?.event, "ADD");
        assert.equal((await listAll(t)).length, 1);

        await expectProblem(
          t.client.addMemory({ ...body, text: "Paid the water bill" }, { idempotencyKey: "add-1" }),
          422,
          "idempotency_key_reused",
        );
        // The same key on another route is another request too.
        await expectProblem(
          t.client.batchAddMemories({ memories: [body] }, { idempotencyKey: "add-1" }),
          422,
          "idempotency_key_reused",
        );
        // Keys are per tenant: another tenant may use the same one.
        const other = await tenant();
        const theirs = await other.client.addMemory(body, { idempotencyKey: "add-1" });
        assert.notEqual(theirs.results[0]?.id, first.results[0]?.id);
        assert.equal((await listAll(t)).length, 1);
      });

      test("accepts text of exactly 16,384 characters and infer: false", async () => {
        const t = await tenant();
        const text = "a".repeat(16_384);
        const id = await add(t, text, { infer: false });
        assert.equal((await t.client.getMemory(id)).memory, text);
      });

      test("errors: malformed JSON is 400 invalid_json", async () => {
        await expectInvalidJson(await tenant(), "POST", "/v1/memories");
      });

      test("errors: unknown and missing fields name the field", async () => {
        const { client } = await tenant();
        const bad = (body: unknown) =>
          client.addMemory(body as Parameters<typeof client.addMemory>[0]);
        await expectProblem(bad({ text: "x", colour: "red" }), 400, "validation_failed", "colour");
        await expectProblem(
          bad({ messages: [{ role: "user" }] }),
          400,
          "validation_failed",
          "messages[0].content",
        );
        await expectProblem(
          bad({ messages: [{ role: "robot", content: "hi" }] }),
          400,
          "validation_failed",
          "messages[0].role",
        );
        await expectProblem(bad({ messages: [] }), 400, "validation_failed", "messages");
        await expectProblem(bad({ text: "" }), 400, "validation_failed", "text");
        await expectProblem(bad({ text: 42 }), 400, "validation_failed", "text");
        await expectProblem(bad({ text: "x", user_id: "" }), 400, "validation_failed", "user_id");
        await expectProblem(
          bad({ text: "x", metadata: ["a"] }),
          400,
          "validation_failed",
          "metadata",
        );
        await expectProblem(
          bad({ text: "x", timestamp: "yesterday" }),
          400,
          "validation_failed",
          "timestamp",
        );
      });

      test("errors: exactly one of text or messages", async () => {
        const { client } = await tenant();
        await expectProblem(
          client.addMemory({ text: "a", messages: [{ role: "user", content: "b" }] }),
          400,
          "validation_failed",
          "text",
        );
        await expectProblem(client.addMemory({ user_id: "u1" }), 400, "validation_failed", "text");
      });

      test("errors: oversized text, message and metadata are 400; a 5 MB body is 413", async () => {
        const t = await tenant();
        const long = "a".repeat(16_385);
        await expectProblem(t.client.addMemory({ text: long }), 400, "validation_failed", "text");
        await expectProblem(
          t.client.addMemory({ messages: [{ role: "user", content: long }] }),
          400,
          "validation_failed",
          "messages[0].content",
        );
        await expectProblem(
          t.client.addMemory({ text: "big metadata", metadata: { blob: "x".repeat(17 * 1024) } }),
          400,
          "validation_failed",
          "metadata",
        );
        const huge = JSON.stringify({ text: "x", metadata: { blob: "y".repeat(5 * 1024 * 1024) } });
        assertProblem(
          await raw("POST", "/v1/memories", { token: t.key, body: huge }),
          413,
          "payload_too_large",
        );
        assert.equal((await listAll(t)).length, 0);
      });

      test("errors: text Postgres cannot store exactly is 400, never 500", async () => {
        const t = await tenant();
        const bad = (body: object) => t.client.addMemory({ text: "ok", ...body });
        await expectProblem(bad({ text: "a\u0000b" }), 400, "validation_failed", "text");
        await expectProblem(
          bad({ text: "lone \ud800 surrogate" }),
          400,
          "validation_failed",
          "text",
        );
        await expectProblem(bad({ user_id: "u\u0000" }), 400, "validation_failed", "user_id");
        await expectProblem(
          bad({ metadata: { k: "v\u0000" } }),
          400,
          "validation_failed",
          "metadata.k",
        );
        await expectProblem(
          bad({ metadata: { "k\u0000": 1 } }),
          400,
          "validation_failed",
          "metadata",
        );
        // Built as text: JSON.stringify itself overflows the stack on nesting this deep.
        const deep = `${"[".repeat(10_000)}1${"]".repeat(10_000)}`;
        const r = await raw("POST", "/v1/memories", {
          token: t.key,
          body: `{"text":"x","metadata":{"deep":${deep}}}`,
        });
        assertProblem(r, 400, "validation_failed");
        assert.match(String(r.body.field), /^metadata\.deep\[0\]/);
        assert.equal((await listAll(t)).length, 0);
      });

      test("security: metadata keys naming object machinery are 400 naming the field, on every write", async () => {
        const t = await tenant();
        for (const key of ["constructor", "prototype"]) {
          const problem = await expectProblem(
            t.client.addMemory({ text: "x", metadata: { [key]: 1 } }),
            400,
            "validation_failed",
            "metadata",
          );
          assert.match(String(problem.detail), new RegExp(`"${key}"`));
          await expectProblem(
            t.client.batchAddMemories({ memories: [{ text: "x", metadata: { [key]: {} } }] }),
            400,
            "validation_failed",
            "memories[0].metadata",
          );
        }
        // __proto__ cannot be sent through the SDK (an object literal sets the prototype), so as
        // JSON text; constructor.prototype nested anywhere too.
        for (const [body, field] of [
          ['{"text":"x","metadata":{"__proto__":{"admin":true}}}', "metadata"],
          ['{"text":"x","metadata":{"a":{"b":{"__proto__":1}}}}', "metadata.a.b"],
          ['{"text":"x","metadata":{"a":{"constructor":{"prototype":{}}}}}', "metadata.a"],
          ['{"__proto__":{"text":"x"},"text":"x"}', "__proto__"],
        ] as const) {
          const r = await raw("POST", "/v1/memories", { token: t.key, body });
          assertProblem(r, 400, "validation_failed", field);
          assert.match(String(r.body.detail), /which is not allowed/);
        }
        const id = await add(t, "kept");
        await expectProblem(
          t.client.updateMemory(id, { metadata: { constructor: "x" } }),
          400,
          "validation_failed",
          "metadata",
        );
        assert.deepEqual(
          (await listAll(t)).map((m) => m.metadata),
          [{}],
        );
        // An ordinary key that merely contains those words is fine.
        await add(t, "also kept", { metadata: { constructor_name: "x", my_prototype: 1 } });
      });

      test("timestamp: years 0100 to 9999 (UTC) round-trip, leap seconds included; others are 400", async () => {
        const t = await tenant();
        const roundTrip = async (timestamp: string) =>
          (await t.client.getMemory(await add(t, `said at ${timestamp}`, { timestamp }))).timestamp;
        assert.equal(await roundTrip("0100-01-01T00:00:00Z"), "0100-01-01T00:00:00.000Z");
        assert.equal(await roundTrip("9999-12-31T23:59:59.999Z"), "9999-12-31T23:59:59.999Z");
        assert.equal(await roundTrip("2016-12-31T23:59:60Z"), "2017-01-01T00:00:00.000Z");
        for (const timestamp of [
          "0000-01-01T00:00:00Z",
          "0001-01-01T00:00:00Z",
          "0099-12-31T23:59:59Z",
          "9999-12-31T23:59:59-14:00",
          "2024-02-30T00:00:00Z",
        ]) {
          await expectProblem(
            t.client.addMemory({ text: "x", timestamp }),
            400,
            "validation_failed",
            "timestamp",
          );
        }
      });

      test("concurrent identical adds store one memory; with one Idempotency-Key all replay it", async () => {
        const t = await tenant();
        const same = await Promise.all(
          Array.from({ length: 6 }, () => t.client.addMemory({ text: "Runs every morning" })),
        );
        assert.equal(new Set(same.map((r) => r.results[0]?.id)).size, 1);
        assert.deepEqual(sorted(same.map((r) => r.results[0]?.event ?? "")), [
          "ADD",
          "NOOP",
          "NOOP",
          "NOOP",
          "NOOP",
          "NOOP",
        ]);
        const keyed = await Promise.all(
          Array.from({ length: 6 }, () =>
            t.client.addMemory({ text: "Swims on Sundays" }, { idempotencyKey: "concurrent" }),
          ),
        );
        for (const r of keyed) assert.deepEqual(r, keyed[0]);
        assert.equal(keyed[0]?.results[0]?.event, "ADD");
        assert.equal((await listAll(t)).length, 2);
      });

      test("errors: infer: true is 422 llm_not_configured", async () => {
        const t = await tenant();
        await expectProblem(
          t.client.addMemory({ text: "x", infer: true }),
          422,
          "llm_not_configured",
          "infer",
        );
        assert.equal((await listAll(t)).length, 0);
      });

      test("errors: an over-long Idempotency-Key is 400", async () => {
        const t = await tenant();
        await expectProblem(
          t.client.addMemory({ text: "x" }, { idempotencyKey: "k".repeat(256) }),
          400,
          "validation_failed",
          "Idempotency-Key",
        );
      });

      test("security: no key or a garbage key is 401", async () => {
        await expectUnauthenticated("POST", "/v1/memories", { text: "x" });
        await expectProblem(
          clientFor("egm_garbage").addMemory({ text: "x" }),
          401,
          "unauthenticated",
        );
      });

      test("security: a read-only key cannot add (403) and stores nothing", async () => {
        const t = await tenant();
        const reader = await keyWith(t, ["memories:read"]);
        await expectProblem(reader.addMemory({ text: "x" }), 403, "forbidden");
        assert.equal((await listAll(t)).length, 0);
      });
    });

    describe("POST /v1/memories/batch", () => {
      test("results come back in order, duplicates (in the batch or stored) as NOOP", async () => {
        const t = await tenant();
        const existing = await add(t, "Lives in Oslo", { user_id: "u1" });
        const { results } = await t.client.batchAddMemories({
          memories: [
            { text: "Works as a nurse", user_id: "u1" },
            { text: "lives in OSLO ", user_id: "u1" },
            {
              messages: [
                { role: "user", content: "I have two cats" },
                { role: "assistant", content: "Two cats, noted" },
              ],
              user_id: "u1",
            },
            { text: "works as a  nurse", user_id: "u1" },
            { text: "Works as a nurse", user_id: "u2" },
          ],
        });
        assert.deepEqual(
          results.map((r) => [r.event, r.memory, r.role ?? null]),
          [
            ["ADD", "Works as a nurse", null],
            ["NOOP", "Lives in Oslo", null],
            ["ADD", "I have two cats", "user"],
            ["ADD", "Two cats, noted", "assistant"],
            ["NOOP", "Works as a nurse", null],
            ["ADD", "Works as a nurse", null],
          ],
        );
        assert.equal(results[1]?.id, existing);
        assert.equal(results[4]?.id, results[0]?.id);
        assert.notEqual(results[5]?.id, results[0]?.id);
        assert.equal(new Set(ids(results)).size, 5);
        assert.equal((await listAll(t, { user_id: "u1" })).length, 4);
        assert.equal((await t.client.getMemory(results[5]?.id ?? "")).user_id, "u2");
      });

      test("Idempotency-Key replays the same ids; reuse with another body is 422", async () => {
        const t = await tenant();
        const body = { memories: [{ text: "Likes jazz" }, { text: "Plays chess" }] };
        const first = await t.client.batchAddMemories(body, { idempotencyKey: "batch-1" });
        const replay = await t.client.batchAddMemories(body, { idempotencyKey: "batch-1" });
        assert.deepEqual(replay, first);
        assert.deepEqual(
          first.results.map((r) => r.event),
          ["ADD", "ADD"],
        );
        await expectProblem(
          t.client.batchAddMemories(
            { memories: [{ text: "Likes blues" }] },
            { idempotencyKey: "batch-1" },
          ),
          422,
          "idempotency_key_reused",
        );
        assert.equal((await listAll(t)).length, 2);
      });

      test("errors: malformed JSON is 400 invalid_json", async () => {
        await expectInvalidJson(await tenant(), "POST", "/v1/memories/batch");
      });

      test("errors: size and shape of the batch and of each item, naming the item", async () => {
        const t = await tenant();
        const c = t.client;
        const many = Array.from({ length: 1_001 }, (_, i) => ({ text: `memory ${i}` }));
        await expectProblem(
          c.batchAddMemories({ memories: many }),
          400,
          "validation_failed",
          "memories",
        );
        await expectProblem(
          c.batchAddMemories({ memories: [] }),
          400,
          "validation_failed",
          "memories",
        );
        await expectProblem(
          c.batchAddMemories({} as Parameters<typeof c.batchAddMemories>[0]),
          400,
          "validation_failed",
          "memories",
        );
        await expectProblem(
          c.batchAddMemories({
            memories: [{ text: "ok" }, { text: "x", bogus: 1 } as { text: string }],
          }),
          400,
          "validation_failed",
          "memories[1].bogus",
        );
        await expectProblem(
          c.batchAddMemories({ memories: [{ text: "ok" }, { text: "a".repeat(16_385) }] }),
          400,
          "validation_failed",
          "memories[1].text",
        );
        // Checks the service makes (not the schema) also name the item, and nothing is stored.
        await expectProblem(
          c.batchAddMemories({
            memories: [{ text: "ok" }, { text: "x", messages: [{ role: "user", content: "y" }] }],
          }),
          400,
          "validation_failed",
          "memories[1].text",
        );
        await expectProblem(
          c.batchAddMemories({
            memories: [{ text: "ok" }, { text: "x", metadata: { blob: "x".repeat(17 * 1024) } }],
          }),
          400,
          "validation_failed",
          "memories[1].metadata",
        );
        await expectProblem(
          c.batchAddMemories({ memories: [{ text: "ok" }, { text: "x", infer: true }] }),
          422,
          "llm_not_configured",
          "memories[1].infer",
        );
        assert.equal((await listAll(t)).length, 0);
      });

      test("security: no key 401; a read-only key cannot batch-add (403)", async () => {
        await expectUnauthenticated("POST", "/v1/memories/batch", { memories: [{ text: "x" }] });
        const t = await tenant();
        const reader = await keyWith(t, ["memories:read"]);
        await expectProblem(
          reader.batchAddMemories({ memories: [{ text: "x" }] }),
          403,
          "forbidden",
        );
        assert.equal((await listAll(t)).length, 0);
      });
    });

    describe("POST /v1/memories/search", () => {
      test("a paraphrased question ranks the related memory first", async () => {
        const t = await tenant();
        const { results } = await t.client.batchAddMemories({
          memories: FACTS.map((f) => ({ text: f.text, user_id: "u1" })),
        });
        for (const [i, fact] of FACTS.entries()) {
          const hits = (await t.client.searchMemories({ query: fact.ask, user_id: "u1", limit: 5 }))
            .results;
          assert.equal(hits[0]?.id, results[i]?.id, `"${fact.ask}" → ${hits[0]?.memory}`);
          assert.equal(hits.length, 5);
        }
      });

      test("hits carry the memory, a fused score and per-side scores, best first", async () => {
        const t = await tenant();
        await t.client.batchAddMemories({
          memories: [
            ...FACTS.map((f) => ({ text: f.text, user_id: "u1" })),
            {
              text: "The wifi password is zebra42",
              user_id: "u1",
              agent_id: "a1",
              session_id: "s1",
              metadata: { kind: "secret" },
              timestamp: "2024-01-02T03:04:05.000Z",
            },
          ],
        });
        const hits = (await t.client.searchMemories({ query: "zebra42", user_id: "u1" })).results;
        const [top] = hits;
        assert.ok(top);
        assert.equal(top.memory, "The wifi password is zebra42");
        assert.deepEqual([top.user_id, top.agent_id, top.session_id], ["u1", "a1", "s1"]);
        assert.deepEqual(top.metadata, { kind: "secret" });
        assert.equal(top.timestamp, "2024-01-02T03:04:05.000Z");
        assert.ok(isIso(top.created_at) && isIso(top.updated_at));
        assert.ok(typeof top.scores.keyword === "number" && top.scores.keyword > 0);
        assert.ok(typeof top.scores.vector === "number");
        // Only the memory containing the word has a keyword score.
        for (const h of hits.slice(1)) assert.equal(h.scores.keyword, null, h.memory);
        for (const h of hits) {
          assert.match(h.id, MEM_ID);
          assert.ok(h.score > 0 && h.score <= 1 + 1e-9, String(h.score));
          assert.ok(
            h.scores.vector !== null && h.scores.vector >= -1 && h.scores.vector <= 1 + 1e-6,
          );
        }
        const scores = hits.map((h) => h.score);
        assert.deepEqual(
          scores,
          [...scores].sort((a, b) => b - a),
        );
      });

      test("scope ids filter results (user, agent, session and combinations)", async () => {
        const t = await tenant();
        const text = "Prefers window seats on flights";
        const scopes = [
          { user_id: "u1" },
          { user_id: "u1", agent_id: "a1" },
          { user_id: "u1", agent_id: "a1", session_id: "s1" },
          { user_id: "u2", agent_id: "a1", session_id: "s2" },
          { agent_id: "a2" },
        ];
        const { results } = await t.client.batchAddMemories({
          memories: scopes.map((s) => ({ text, ...s })),
        });
        const id = (i: number) => results[i]?.id ?? "";
        const found = async (scope: object) =>
          sorted(
            ids((await t.client.searchMemories({ query: "seat preference", ...scope })).results),
          );
        assert.deepEqual(await found({}), sorted([0, 1, 2, 3, 4].map(id)));
        assert.deepEqual(await found({ user_id: "u1" }), sorted([0, 1, 2].map(id)));
        assert.deepEqual(await found({ agent_id: "a1" }), sorted([1, 2, 3].map(id)));
        assert.deepEqual(await found({ session_id: "s2" }), [id(3)]);
        assert.deepEqual(await found({ user_id: "u1", agent_id: "a1" }), sorted([1, 2].map(id)));
        assert.deepEqual(await found({ user_id: "u2", session_id: "s1" }), []);
        assert.deepEqual(await found({ user_id: "nobody" }), []);
      });

      test("metadata filters: eq, ne, gt/lt, in, nin, contains, and/or/not", async () => {
        const t = await tenant();
        const items = {
          pie: { kind: "fruit", price: 5, tags: ["red", "sweet"], name: "Apple pie" },
          bread: { kind: "fruit", price: 12, tags: ["yellow"], name: "Banana bread" },
          salad: { kind: "veg", price: 3, tags: ["green"], name: "Kale salad" },
          risotto: { kind: "veg", price: 20, name: "Truffle risotto" },
          water: {},
        };
        const { results } = await t.client.batchAddMemories({
          memories: Object.entries(items).map(([k, metadata]) => ({
            text: `Recipe card: ${k}`,
            metadata,
          })),
        });
        const idOf = Object.fromEntries(
          Object.keys(items).map((k, i) => [k, results[i]?.id ?? ""]),
        );
        const cases: [Record<string, unknown>, (keyof typeof items)[]][] = [
          [{ kind: "fruit" }, ["pie", "bread"]],
          [{ kind: { eq: "veg" } }, ["salad", "risotto"]],
          [{ kind: { ne: "fruit" } }, ["salad", "risotto", "water"]],
          [{ price: { gt: 4, lt: 15 } }, ["pie", "bread"]],
          [{ price: { gte: 12 } }, ["bread", "risotto"]],
          [{ price: { lte: 3 } }, ["salad"]],
          [{ kind: { in: ["veg", "mineral"] } }, ["salad", "risotto"]],
          [{ kind: { nin: ["fruit"] } }, ["salad", "risotto", "water"]],
          [{ tags: { contains: "yellow" } }, ["bread"]],
          [{ name: { contains: "BREAD" } }, ["bread"]],
          [{ or: [{ kind: "veg" }, { price: { gte: 12 } }] }, ["bread", "salad", "risotto"]],
          [{ and: [{ kind: "fruit" }, { not: { tags: { contains: "red" } } }] }, ["bread"]],
          [{ not: { kind: { in: ["fruit", "veg"] } } }, ["water"]],
          [{ kind: "fruit", price: { lt: 10 } }, ["pie"]],
          [{ kind: "mineral" }, []],
        ];
        for (const [filters, expected] of cases) {
          const hits = (await t.client.searchMemories({ query: "recipe", filters, limit: 100 }))
            .results;
          assert.deepEqual(
            sorted(ids(hits)),
            sorted(expected.map((k) => idOf[k] ?? "")),
            JSON.stringify(filters),
          );
        }
      });

      test("threshold drops results below that cosine similarity", async () => {
        const t = await tenant();
        const { results } = await t.client.batchAddMemories({
          memories: FACTS.map((f) => ({ text: f.text })),
        });
        const exact = await t.client.searchMemories({
          query: FACTS[0]?.text ?? "",
          threshold: 0.9,
        });
        assert.deepEqual(ids(exact.results), [results[0]?.id]);
        const loose = await t.client.searchMemories({ query: FACTS[0]?.text ?? "", threshold: -1 });
        assert.equal(loose.results.length, FACTS.length);
        const none = await t.client.searchMemories({
          query: "quantum chromodynamics",
          threshold: 0.95,
        });
        assert.deepEqual(none.results, []);
        const some = await t.client.searchMemories({ query: "music lessons", threshold: 0.2 });
        for (const h of some.results) assert.ok((h.scores.vector ?? -2) >= 0.2, h.memory);
      });

      test("limit is respected; the default is 10", async () => {
        const t = await tenant();
        await t.client.batchAddMemories({
          memories: Array.from({ length: 12 }, (_, i) => ({
            text: `Reminder number ${i}: water the plants`,
          })),
        });
        assert.equal(
          (await t.client.searchMemories({ query: "plants", limit: 3 })).results.length,
          3,
        );
        assert.equal((await t.client.searchMemories({ query: "plants" })).results.length, 10);
        assert.equal(
          (await t.client.searchMemories({ query: "plants", limit: 100 })).results.length,
          12,
        );
      });

      test("queries full of tsquery syntax or SQL are searched as plain text", async () => {
        const t = await tenant();
        const id = await add(t, "Cats & dogs: friends (mostly)!");
        for (const query of [
          "cats & dogs",
          "!(a | b) <-> c:* 'x'",
          "' OR 1=1 --",
          "\\",
          "&|!():*<>",
          "日本語",
        ]) {
          const { results } = await t.client.searchMemories({ query });
          assert.deepEqual(ids(results), [id], query);
        }
      });

      test("keyword mode with no matching word is an empty result, never a 500", async () => {
        const t = await tenant();
        const search = (body: Parameters<typeof t.client.searchMemories>[0]) =>
          t.client.searchMemories(body);
        assert.deepEqual(await search({ query: "qqqzzz", mode: "keyword" }), { results: [] });
        await add(t, "Dana waters the ferns on Sundays", { user_id: "dana" });
        for (const query of ["qqqzzz", "the", "???"]) {
          assert.deepEqual((await search({ query, mode: "keyword" })).results, [], query);
          assert.deepEqual(
            (await search({ query, mode: "keyword", user_id: "dana", filters: { k: 1 } })).results,
            [],
            query,
          );
        }
        const both = await search({ query: "qqqzzz", mode: "keyword", include: ["knowledge"] });
        assert.deepEqual(both.results, []);
        assert.deepEqual(both.knowledge, []);
        assert.equal((await search({ query: "ferns", mode: "keyword" })).results.length, 1);
      });

      test("errors: malformed JSON is 400 invalid_json", async () => {
        await expectInvalidJson(await tenant(), "POST", "/v1/memories/search");
      });

      test("errors: query, limit, threshold and unknown fields", async () => {
        const { client } = await tenant();
        const bad = (body: unknown) =>
          client.searchMemories(body as Parameters<typeof client.searchMemories>[0]);
        await expectProblem(bad({ query: "" }), 400, "validation_failed", "query");
        await expectProblem(bad({}), 400, "validation_failed", "query");
        await expectProblem(bad({ query: "q".repeat(4_097) }), 400, "validation_failed", "query");
        await expectProblem(bad({ query: "q", limit: 0 }), 400, "validation_failed", "limit");
        await expectProblem(bad({ query: "q", limit: 101 }), 400, "validation_failed", "limit");
        await expectProblem(bad({ query: "q", limit: 2.5 }), 400, "validation_failed", "limit");
        await expectProblem(bad({ query: "q", limit: "5" }), 400, "validation_failed", "limit");
        await expectProblem(
          bad({ query: "q", threshold: 2 }),
          400,
          "validation_failed",
          "threshold",
        );
        await expectProblem(bad({ query: "q", sort: "new" }), 400, "validation_failed", "sort");
        await expectProblem(
          bad({ query: "q", user_id: "u\u0000" }),
          400,
          "validation_failed",
          "user_id",
        );
      });

      test("errors: a bad filter is 400 invalid_filter naming its path", async () => {
        const { client } = await tenant();
        const filtered = (filters: Record<string, unknown>) =>
          client.searchMemories({ query: "q", filters });
        await expectProblem(
          filtered({ price: { between: [1, 2] } }),
          400,
          "invalid_filter",
          "filters.price.between",
        );
        await expectProblem(
          filtered({ or: [{ kind: "a" }, { kind: { regex: ".*" } }] }),
          400,
          "invalid_filter",
          "filters.or[1].kind.regex",
        );
        await expectProblem(
          filtered({ kind: { in: "fruit" } }),
          400,
          "invalid_filter",
          "filters.kind.in",
        );
        await expectProblem(
          filtered({ price: { gt: true } }),
          400,
          "invalid_filter",
          "filters.price.gt",
        );
        await expectProblem(filtered({ and: [] }), 400, "invalid_filter", "filters.and");
        await expectProblem(filtered({}), 400, "invalid_filter", "filters");
      });

      test("security: no key 401; a write-only key cannot search (403); a read-only key can", async () => {
        await expectUnauthenticated("POST", "/v1/memories/search", { query: "x" });
        const t = await tenant();
        const id = await add(t, "Owns a red bicycle");
        const writer = await keyWith(t, ["memories:write"]);
        await expectProblem(writer.searchMemories({ query: "bicycle" }), 403, "forbidden");
        const reader = await keyWith(t, ["memories:read"]);
        assert.deepEqual(ids((await reader.searchMemories({ query: "bicycle" })).results), [id]);
      });

      test("security: another tenant's memories never appear", async () => {
        const a = await tenant();
        const b = await tenant();
        const mine = await add(a, "Keeps the spare key under the mat", { user_id: "shared" });
        await add(b, "Keeps the spare key under the mat", { user_id: "shared" });
        await add(b, "The spare key is under the flower pot", { user_id: "shared" });
        for (const scope of [{}, { user_id: "shared" }]) {
          const hits: SearchHit[] = (
            await a.client.searchMemories({ query: "spare key", limit: 100, ...scope })
          ).results;
          assert.deepEqual(ids(hits), [mine]);
        }
      });
    });

    describe("GET /v1/memories/{id}", () => {
      test("returns the memory", async () => {
        const t = await tenant();
        const id = await add(t, "Birthday is on 3 March", { agent_id: "a1", metadata: { k: 1 } });
        const m = await t.client.getMemory(id);
        assert.equal(m.id, id);
        assert.equal(m.memory, "Birthday is on 3 March");
        assert.deepEqual([m.user_id, m.agent_id, m.session_id], [null, "a1", null]);
        assert.deepEqual(m.metadata, { k: 1 });
        assert.equal(m.created_at, m.updated_at);
        // Allow-listed shape: no internal columns leak.
        assert.deepEqual(Object.keys(m).sort(), [
          "agent_id",
          "created_at",
          "embedding_model",
          "id",
          "memory",
          "metadata",
          "project_id",
          "role",
          "session_id",
          "timestamp",
          "updated_at",
          "user_id",
        ]);
        assert.equal(m.project_id, t.projectId);
      });

      test("errors: unknown ids (well-formed or not) are 404 not_found", async () => {
        const { client } = await tenant();
        await expectProblem(client.getMemory(MISSING_ID), 404, "not_found");
        await expectProblem(client.getMemory(MALFORMED_ID), 404, "not_found");
        await expectProblem(client.getMemory("hist_01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not_found");
      });

      test("security: no key 401; write-only key 403; another tenant's id 404", async () => {
        const a = await tenant();
        const id = await add(a, "Drives a blue van");
        await expectUnauthenticated("GET", `/v1/memories/${id}`);
        await expectProblem((await keyWith(a, ["memories:write"])).getMemory(id), 403, "forbidden");
        assert.equal((await (await keyWith(a, ["memories:read"])).getMemory(id)).id, id);
        await expectProblem((await tenant()).client.getMemory(id), 404, "not_found");
      });
    });

    describe("PATCH /v1/memories/{id}", () => {
      test("new text is re-embedded: the new meaning finds it, the old one no longer ranks it first", async () => {
        const t = await tenant();
        const { results } = await t.client.batchAddMemories({
          memories: [
            { text: "I love hiking in the mountains on weekends" },
            { text: "We went for a long walk in the forest yesterday" },
            { text: "My car needs an oil change" },
            { text: "Bob's favourite football team is Arsenal" },
          ],
        });
        const id = results[0]?.id ?? "";
        const top = async (query: string) => (await t.client.searchMemories({ query })).results[0];
        assert.equal((await top("trekking up hills"))?.id, id);
        const before = await t.client.getMemory(id);

        const updated = await t.client.updateMemory(id, {
          text: "I am a pastry chef who bakes croissants",
        });
        assert.equal(updated.memory, "I am a pastry chef who bakes croissants");
        assert.equal(updated.created_at, before.created_at);
        assert.ok(updated.updated_at >= before.updated_at);
        assert.deepEqual(await t.client.getMemory(id), updated);

        assert.equal((await top("making french baked goods"))?.id, id);
        assert.notEqual((await top("trekking up hills"))?.id, id);
      });

      test("metadata is replaced, not merged; text stays", async () => {
        const t = await tenant();
        const id = await add(t, "Allergic to cats", { metadata: { a: 1, b: 2 } });
        const m = await t.client.updateMemory(id, { metadata: { c: 3 } });
        assert.deepEqual(m.metadata, { c: 3 });
        assert.equal(m.memory, "Allergic to cats");
        assert.deepEqual((await t.client.getMemory(id)).metadata, { c: 3 });
        const hits = await t.client.searchMemories({ query: "cats", filters: { a: 1 } });
        assert.deepEqual(hits.results, []);
      });

      test("duplicate detection follows the new text; colliding with another memory is 409", async () => {
        const t = await tenant();
        const id = await add(t, "Favourite colour is blue", { user_id: "u1" });
        const other = await add(t, "Has a sister named Ann", { user_id: "u1" });
        await t.client.updateMemory(id, { text: "Favourite colour is green" });
        const again = await t.client.addMemory({
          text: "favourite colour is GREEN",
          user_id: "u1",
        });
        assert.deepEqual([again.results[0]?.event, again.results[0]?.id], ["NOOP", id]);
        const old = await t.client.addMemory({ text: "Favourite colour is blue", user_id: "u1" });
        assert.equal(old.results[0]?.event, "ADD");

        await expectProblem(
          t.client.updateMemory(other, { text: "Favourite colour is green" }),
          409,
          "conflict",
          "text",
        );
        assert.equal((await t.client.getMemory(other)).memory, "Has a sister named Ann");
      });

      test("errors: malformed JSON is 400 invalid_json", async () => {
        const t = await tenant();
        await expectInvalidJson(t, "PATCH", `/v1/memories/${await add(t, "x")}`);
      });

      test("errors: empty, unknown, oversized and invalid fields", async () => {
        const t = await tenant();
        const id = await add(t, "Speaks French");
        const bad = (body: unknown) =>
          t.client.updateMemory(id, body as Parameters<typeof t.client.updateMemory>[1]);
        await expectProblem(bad({}), 400, "validation_failed");
        await expectProblem(bad({ memory: "x" }), 400, "validation_failed", "memory");
        await expectProblem(bad({ text: "" }), 400, "validation_failed", "text");
        await expectProblem(bad({ text: "a".repeat(16_385) }), 400, "validation_failed", "text");
        await expectProblem(
          bad({ metadata: { blob: "x".repeat(17 * 1024) } }),
          400,
          "validation_failed",
          "metadata",
        );
        await expectProblem(bad({ metadata: "x" }), 400, "validation_failed", "metadata");
        const m = await t.client.getMemory(id);
        assert.equal(m.memory, "Speaks French");
        assert.deepEqual(m.metadata, {});
        assert.equal((await t.client.getMemoryHistory(id)).results.length, 1);
      });

      test("errors: unknown ids (well-formed or not) are 404 not_found", async () => {
        const { client } = await tenant();
        await expectProblem(client.updateMemory(MISSING_ID, { text: "x" }), 404, "not_found");
        await expectProblem(client.updateMemory(MALFORMED_ID, { text: "x" }), 404, "not_found");
      });

      test("security: no key 401; read-only key 403; another tenant's id 404; nothing changes", async () => {
        const a = await tenant();
        const id = await add(a, "Plays the cello", { metadata: { v: 1 } });
        await expectUnauthenticated("PATCH", `/v1/memories/${id}`, { text: "x" });
        const reader = await keyWith(a, ["memories:read"]);
        await expectProblem(reader.updateMemory(id, { text: "Plays the drums" }), 403, "forbidden");
        const b = await tenant();
        await expectProblem(
          b.client.updateMemory(id, { text: "Plays the drums" }),
          404,
          "not_found",
        );
        await expectProblem(b.client.updateMemory(id, { metadata: { v: 2 } }), 404, "not_found");
        const m = await a.client.getMemory(id);
        assert.equal(m.memory, "Plays the cello");
        assert.deepEqual(m.metadata, { v: 1 });
        assert.deepEqual(
          (await a.client.getMemoryHistory(id)).results.map((h) => h.event),
          ["ADD"],
        );
      });
    });

    describe("DELETE /v1/memories/{id}", () => {
      test("deletes one memory: gone from get, list and search; others stay", async () => {
        const t = await tenant();
        const id = await add(t, "Has a peanut allergy", { user_id: "u1" });
        const keep = await add(t, "Has a shellfish allergy", { user_id: "u1" });
        assert.deepEqual(await t.client.deleteMemory(id), { id, deleted: true });
        await expectProblem(t.client.getMemory(id), 404, "not_found");
        await expectProblem(t.client.deleteMemory(id), 404, "not_found");
        assert.deepEqual(ids(await listAll(t)), [keep]);
        assert.deepEqual(
          ids((await t.client.searchMemories({ query: "peanut allergy" })).results),
          [keep],
        );
        // The text is free again in that scope.
        const re = await t.client.addMemory({ text: "Has a peanut allergy", user_id: "u1" });
        assert.equal(re.results[0]?.event, "ADD");
        assert.notEqual(re.results[0]?.id, id);
      });

      test("content-type application/json with an empty body (as many clients send) is no body", async () => {
        const t = await tenant();
        const id = await add(t, "Takes the early train");
        const r = await raw("DELETE", `/v1/memories/${id}`, { token: t.key, body: "" });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body, { id, deleted: true });
        await expectProblem(t.client.getMemory(id), 404, "not_found");
        await add(t, "Takes the late train", { user_id: "u9" });
        const bulk = await raw("DELETE", "/v1/memories?user_id=u9", { token: t.key, body: "" });
        assert.equal(bulk.status, 200, JSON.stringify(bulk.body));
        assert.deepEqual(bulk.body, { deleted: 1 });
      });

      test("errors: unknown ids (well-formed or not) are 404 not_found", async () => {
        const { client } = await tenant();
        await expectProblem(client.deleteMemory(MISSING_ID), 404, "not_found");
        await expectProblem(client.deleteMemory(MALFORMED_ID), 404, "not_found");
      });

      test("security: no key 401; read-only key 403; another tenant's id 404; nothing is deleted", async () => {
        const a = await tenant();
        const id = await add(a, "Works night shifts");
        await expectUnauthenticated("DELETE", `/v1/memories/${id}`);
        await expectProblem(
          (await keyWith(a, ["memories:read"])).deleteMemory(id),
          403,
          "forbidden",
        );
        await expectProblem((await tenant()).client.deleteMemory(id), 404, "not_found");
        assert.equal((await a.client.getMemory(id)).memory, "Works night shifts");
        assert.deepEqual(
          (await a.client.getMemoryHistory(id)).results.map((h) => h.event),
          ["ADD"],
        );
      });
    });

    describe("GET /v1/memories", () => {
      test("pages newest first through every memory of the scope exactly once", async () => {
        const t = await tenant();
        const created: string[] = [];
        for (let i = 0; i < 7; i++)
          created.push(await add(t, `Note ${i} about the garden`, { user_id: "u1" }));
        await add(t, "Someone else's note", { user_id: "u2" });

        const pages: Memory[][] = [];
        let cursor: string | undefined;
        do {
          const page = await t.client.listMemories({
            user_id: "u1",
            limit: 3,
            ...(cursor ? { cursor } : {}),
          });
          pages.push(page.results);
          cursor = page.next_cursor ?? undefined;
        } while (cursor && pages.length < 10);
        assert.deepEqual(
          pages.map((p) => p.length),
          [3, 3, 1],
        );
        const listed = pages.flat();
        assert.deepEqual(ids(listed), [...created].reverse());
        for (const m of listed) assert.equal(m.user_id, "u1");
        const times = listed.map((m) => m.created_at);
        assert.deepEqual(times, [...times].sort().reverse());

        // An exact multiple of the page size ends with a null cursor, not an empty page.
        const exact = await t.client.listMemories({ user_id: "u1", limit: 7 });
        assert.equal(exact.results.length, 7);
        assert.equal(exact.next_cursor, null);
      });

      test("without scope lists the whole tenant; scopes narrow it; default page is 20", async () => {
        const t = await tenant();
        const { results } = await t.client.batchAddMemories({
          memories: Array.from({ length: 25 }, (_, i) => ({
            text: `Fact ${i}`,
            user_id: `u${i % 2}`,
            agent_id: i < 5 ? "a1" : "a2",
            session_id: i === 0 ? "s1" : "s2",
          })),
        });
        const first = await t.client.listMemories();
        assert.equal(first.results.length, 20);
        assert.ok(first.next_cursor);
        assert.deepEqual(sorted(ids(await listAll(t))), sorted(ids(results)));
        assert.equal((await listAll(t, { user_id: "u0" })).length, 13);
        assert.equal((await listAll(t, { agent_id: "a1" })).length, 5);
        assert.deepEqual(ids(await listAll(t, { session_id: "s1" })), [results[0]?.id]);
        assert.equal((await listAll(t, { user_id: "u1", agent_id: "a1" })).length, 2);
        assert.deepEqual(await t.client.listMemories({ user_id: "nobody" }), {
          results: [],
          next_cursor: null,
        });
      });

      test("errors: bad cursor, out-of-range limit and unknown parameters are 400", async () => {
        const t = await tenant();
        await expectProblem(
          t.client.listMemories({ cursor: "not-a-cursor" }),
          400,
          "validation_failed",
          "cursor",
        );
        await expectProblem(
          t.client.listMemories({ cursor: MISSING_ID }),
          400,
          "validation_failed",
          "cursor",
        );
        await expectProblem(t.client.listMemories({ limit: 0 }), 400, "validation_failed", "limit");
        await expectProblem(
          t.client.listMemories({ limit: 101 }),
          400,
          "validation_failed",
          "limit",
        );
        assertProblem(
          await raw("GET", "/v1/memories?limit=ten", { token: t.key }),
          400,
          "validation_failed",
          "limit",
        );
        assertProblem(
          await raw("GET", "/v1/memories?owner=u1", { token: t.key }),
          400,
          "validation_failed",
          "owner",
        );
        assertProblem(
          await raw("GET", "/v1/memories?user_id=%00", { token: t.key }),
          400,
          "validation_failed",
          "user_id",
        );
      });

      test("security: no key 401; write-only key 403; other tenants' memories never appear", async () => {
        await expectUnauthenticated("GET", "/v1/memories");
        const a = await tenant();
        const b = await tenant();
        const mine = await add(a, "Lives near the river", { user_id: "shared" });
        await add(b, "Lives near the river", { user_id: "shared" });
        await add(b, "Lives near the sea", { user_id: "shared" });
        await expectProblem(
          (await keyWith(a, ["memories:write"])).listMemories(),
          403,
          "forbidden",
        );
        assert.deepEqual(ids(await listAll(a)), [mine]);
        assert.deepEqual(ids(await listAll(a, { user_id: "shared" })), [mine]);
        assert.deepEqual(
          ids((await (await keyWith(a, ["memories:read"])).listMemories()).results),
          [mine],
        );
      });
    });

    describe("DELETE /v1/memories (bulk, by scope)", () => {
      test("removes only the scope and returns the count", async () => {
        const t = await tenant();
        const { results } = await t.client.batchAddMemories({
          memories: [
            { text: "one", user_id: "u1", session_id: "s1" },
            { text: "two", user_id: "u1", session_id: "s1" },
            { text: "three", user_id: "u1", session_id: "s2" },
            { text: "four", user_id: "u2", session_id: "s1" },
            { text: "five" },
          ],
        });
        const id = (i: number) => results[i]?.id ?? "";
        assert.deepEqual(await t.client.deleteMemories({ user_id: "u1", session_id: "s1" }), {
          deleted: 2,
        });
        assert.deepEqual(sorted(ids(await listAll(t))), sorted([2, 3, 4].map(id)));
        assert.deepEqual(await t.client.deleteMemories({ user_id: "u1" }), { deleted: 1 });
        assert.deepEqual(await t.client.deleteMemories({ user_id: "u1" }), { deleted: 0 });
        assert.deepEqual(sorted(ids(await listAll(t))), sorted([3, 4].map(id)));
        // Each bulk-deleted memory records its DELETE.
        const history = (await t.client.getMemoryHistory(id(0))).results;
        assert.deepEqual(
          history.map((h) => [h.event, h.old_memory, h.new_memory]),
          [
            ["ADD", null, "one"],
            ["DELETE", "one", null],
          ],
        );
      });

      test("errors: at least one scope id is required; empty or unknown parameters are 400", async () => {
        const t = await tenant();
        await add(t, "keep me", { user_id: "u1" });
        await expectProblem(t.client.deleteMemories({}), 400, "validation_failed", "user_id");
        assertProblem(
          await raw("DELETE", "/v1/memories?user_id=", { token: t.key }),
          400,
          "validation_failed",
          "user_id",
        );
        assertProblem(
          await raw("DELETE", "/v1/memories?owner=u1", { token: t.key }),
          400,
          "validation_failed",
          "owner",
        );
        assert.equal((await listAll(t)).length, 1);
      });

      test("security: no key 401; read-only key 403; another tenant's same user_id is untouched", async () => {
        await expectUnauthenticated("DELETE", "/v1/memories?user_id=u1");
        const a = await tenant();
        const b = await tenant();
        await a.client.batchAddMemories({
          memories: [
            { text: "a1", user_id: "u1" },
            { text: "a2", user_id: "u1" },
          ],
        });
        const theirs = await b.client.batchAddMemories({
          memories: [
            { text: "b1", user_id: "u1" },
            { text: "a1", user_id: "u1" },
          ],
        });
        await expectProblem(
          (await keyWith(a, ["memories:read"])).deleteMemories({ user_id: "u1" }),
          403,
          "forbidden",
        );
        assert.equal((await listAll(a)).length, 2);
        assert.deepEqual(await a.client.deleteMemories({ user_id: "u1" }), { deleted: 2 });
        assert.deepEqual(
          sorted(ids(await listAll(b, { user_id: "u1" }))),
          sorted(ids(theirs.results)),
        );
      });
    });

    describe("GET /v1/memories/{id}/history", () => {
      test("records ADD, UPDATE (old and new) and DELETE with times, readable after deletion", async () => {
        const t = await tenant();
        const id = await add(t, "Lives in Berlin", { metadata: { city: "Berlin" } });
        await t.client.updateMemory(id, { text: "Lives in Munich" });
        await t.client.updateMemory(id, { metadata: { city: "Munich" } });
        await t.client.deleteMemory(id);

        const { results } = await t.client.getMemoryHistory(id);
        assert.deepEqual(
          results.map((h) => [h.event, h.old_memory, h.new_memory, h.old_metadata, h.new_metadata]),
          [
            ["ADD", null, "Lives in Berlin", null, { city: "Berlin" }],
            [
              "UPDATE",
              "Lives in Berlin",
              "Lives in Munich",
              { city: "Berlin" },
              { city: "Berlin" },
            ],
            [
              "UPDATE",
              "Lives in Munich",
              "Lives in Munich",
              { city: "Berlin" },
              { city: "Munich" },
            ],
            ["DELETE", "Lives in Munich", null, { city: "Munich" }, null],
          ],
        );
        for (const h of results) {
          assert.equal(h.memory_id, id);
          assert.ok(isIso(h.created_at), h.created_at);
        }
        const times = results.map((h) => h.created_at);
        assert.deepEqual(times, [...times].sort());
        assert.equal(new Set(ids(results)).size, 4);
      });

      test("a NOOP add and an idempotent replay record nothing", async () => {
        const t = await tenant();
        const { results } = await t.client.addMemory(
          { text: "Drinks oat milk" },
          { idempotencyKey: "h1" },
        );
        await t.client.addMemory({ text: "Drinks oat milk" }, { idempotencyKey: "h1" });
        await t.client.addMemory({ text: "drinks OAT milk" });
        const history = await t.client.getMemoryHistory(results[0]?.id ?? "");
        assert.deepEqual(
          history.results.map((h) => h.event),
          ["ADD"],
        );
      });

      test("errors: unknown ids (well-formed or not) are 404 not_found", async () => {
        const { client } = await tenant();
        await expectProblem(client.getMemoryHistory(MISSING_ID), 404, "not_found");
        await expectProblem(client.getMemoryHistory(MALFORMED_ID), 404, "not_found");
      });

      test("security: no key 401; write-only key 403; another tenant's id 404, even after deletion", async () => {
        const a = await tenant();
        const id = await add(a, "Owns a sailboat");
        await expectUnauthenticated("GET", `/v1/memories/${id}/history`);
        await expectProblem(
          (await keyWith(a, ["memories:write"])).getMemoryHistory(id),
          403,
          "forbidden",
        );
        const b = await tenant();
        await expectProblem(b.client.getMemoryHistory(id), 404, "not_found");
        await a.client.deleteMemory(id);
        await expectProblem(b.client.getMemoryHistory(id), 404, "not_found");
        assert.equal(
          (await (await keyWith(a, ["memories:read"])).getMemoryHistory(id)).results.length,
          2,
        );
      });
    });
  });
}
