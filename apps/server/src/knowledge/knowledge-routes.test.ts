import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EngramClient, EngramError, type Scope } from "@engram/sdk";
import { makeDocx, makeEncryptedPdf, makePdf } from "../testing/document-fixtures.ts";
import {
  startPostgresTestServer,
  startTestServer,
  type TestServer,
} from "../testing/test-server.ts";

// The same suite on both backends: embedded (PGlite, in-process worker) and cluster mode
// (PostgreSQL as the application role; the API process consumes the queue itself here, the
// `engram worker` processes are exercised in ingest-cluster.test.ts).
const ENV = {
  ENGRAM_DOCUMENT_MAX_BYTES: "200000",
  ENGRAM_DOCUMENT_MAX_PAGES: "3",
  ENGRAM_CHUNK_MAX_TOKENS: "64",
  ENGRAM_CHUNK_OVERLAP_TOKENS: "8",
  ENGRAM_INGEST_POLL_INTERVAL_MS: "500",
};
const BACKENDS: { name: string; start: () => Promise<TestServer> }[] = [
  { name: "pglite", start: () => startTestServer(ENV) },
  {
    name: "postgres",
    start: () => startPostgresTestServer({ ...ENV, ENGRAM_INGEST_IN_PROCESS: "on" }),
  },
];
const DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const MISSING_DOC = "doc_01ARZ3NDEKTSV4RRFFQ69G5FAV";

let srv: TestServer;

async function tenant(scopes?: Scope[]) {
  const t = await srv.newTenant(scopes);
  return { ...t, kb: t.client.knowledge };
}
type Tenant = Awaited<ReturnType<typeof tenant>>;

async function expectProblem(call: Promise<unknown>, status: number, code: string, field?: string) {
  const err = await call.then(
    (ok) => assert.fail(`expected ${status} ${code}, got ${JSON.stringify(ok)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof EngramError, String(err));
  assert.equal(err.status, status, JSON.stringify(err.problem));
  assert.equal(err.code, code, JSON.stringify(err.problem));
  if (field !== undefined) assert.equal(err.problem.field, field, JSON.stringify(err.problem));
}

/** Uploads and waits for the job to end; returns job and document. */
async function ingest(t: Tenant, upload: Promise<{ document_id: string; job_id: string }>) {
  const { document_id, job_id } = await upload;
  const job = await t.kb.waitForJob(job_id, { timeoutMs: 60_000 });
  return { job, doc: await t.kb.getDocument(document_id) };
}

async function replyOf(res: Response) {
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A multipart upload with these text fields, as raw as a client may send them. */
async function postForm(key: string, fields: Record<string, string>) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  form.set("file", new Blob(["Plain words."], { type: "text/plain" }), "a.txt");
  return replyOf(
    await fetch(`${srv.url}/v1/documents`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}` },
      body: form,
    }),
  );
}

/** A JSON upload sent as text (for keys such as __proto__ that an object literal cannot hold). */
async function postJson(key: string, body: string) {
  return replyOf(
    await fetch(`${srv.url}/v1/documents`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body,
    }),
  );
}

function assertBadField(r: { status: number; body: Record<string, unknown> }, field: string) {
  const detail = JSON.stringify(r.body);
  assert.equal(r.status, 400, detail);
  assert.equal(r.body.code, "validation_failed", detail);
  assert.equal(r.body.field, field, detail);
}

/** A key of a new project of the tenant, with a client for it. */
async function inNewProject(t: Tenant, name: string) {
  const project = await t.client.createProject({ name });
  const { key } = await t.client.createKey({ project_id: project.id });
  const client = new EngramClient({ baseUrl: srv.url, token: key });
  return { projectId: project.id, key, client, kb: client.knowledge };
}

const policy = [
  "# Returns policy",
  "",
  "Customers may return unworn shoes within 30 days of delivery for a full refund.",
  "",
  "## Exchanges",
  "",
  "Exchanges for a different size are free of charge and ship within two business days.",
].join("\n");

for (const backend of BACKENDS) {
  describe(`knowledge API (${backend.name})`, () => {
    before(async () => {
      srv = await backend.start();
    });
    after(async () => {
      await srv.close();
    });

    test("every format is indexed and searchable with citations", async () => {
      const t = await tenant();
      const pdf = await makePdf([
        ["Warranty terms for the kettle."],
        ["The heating element is guaranteed for five years."],
      ]);
      const docx = await makeDocx([
        { heading: "Onboarding", paragraphs: ["New staff receive a laptop on their first day."] },
      ]);
      const html =
        "<html><body><nav>Home Shop Cart</nav><h1>Shipping</h1><p>Parcels to Norway take four days.</p><footer>Imprint</footer></body></html>";
      const json = JSON.stringify({ plans: { starter: { seats: 3, support: "email only" } } });
      const results = await Promise.all([
        ingest(t, t.kb.createDocument({ filename: "policy.md", text: policy, collection: "help" })),
        ingest(
          t,
          t.kb.createDocument({ filename: "notes.txt", text: "Office closes at 6pm on Fridays." }),
        ),
        ingest(t, t.kb.createDocument({ filename: "ship.html", text: html })),
        ingest(t, t.kb.createDocument({ filename: "plans.json", text: json })),
        ingest(
          t,
          t.kb.uploadDocument({ bytes: pdf, filename: "warranty.pdf" }, { metadata: { v: 2 } }),
        ),
        ingest(t, t.kb.uploadDocument({ bytes: docx, filename: "hr.docx", mediaType: DOCX })),
      ]);
      for (const { job, doc } of results) {
        assert.equal(job.state, "completed", JSON.stringify(job));
        assert.equal(job.progress, 1);
        assert.equal(doc.status, "ready");
        assert.ok(doc.chunk_count > 0, doc.filename);
      }
      const pdfDoc = results[4]?.doc;
      assert.equal(pdfDoc?.page_count, 2);
      assert.deepEqual(pdfDoc?.metadata, { v: 2 });

      const hit = async (query: string) =>
        (await t.kb.searchKnowledge({ query, limit: 3 })).results[0];
      const element = await hit("heating element guarantee");
      assert.equal(element?.citation.filename, "warranty.pdf");
      assert.equal(element?.citation.page, 2);
      const exchange = await hit("exchange shoe size");
      assert.equal(exchange?.citation.filename, "policy.md");
      assert.deepEqual(exchange?.citation.heading_path, ["Returns policy", "Exchanges"]);
      const { start_offset, end_offset } = exchange?.citation ?? { start_offset: 0, end_offset: 0 };
      assert.match(policy.slice(start_offset, end_offset), /^Exchanges for a different size/);
      assert.equal((await hit("parcels norway"))?.citation.filename, "ship.html");
      assert.equal((await hit("laptop first day"))?.citation.heading_path[0], "Onboarding");
      assert.deepEqual((await hit("starter seats"))?.citation.heading_path, ["plans", "starter"]);
      // Navigation is not content.
      const nav = await t.kb.searchKnowledge({ query: "Home Shop Cart", mode: "keyword" });
      assert.equal(nav.results.length, 0);
      // Scoped by collection.
      const help = await t.kb.searchKnowledge({ query: "refund", collection: "help" });
      assert.ok(help.results.every((r) => r.collection === "help") && help.results.length > 0);
    });

    test("memory search with include: knowledge returns both, labelled", async () => {
      const t = await tenant();
      await t.client.addMemory({ text: "Alice prefers refunds to store credit", user_id: "alice" });
      await ingest(t, t.kb.createDocument({ filename: "policy.md", text: policy }));
      const both = await t.client.searchMemories({ query: "refund", include: ["knowledge"] });
      assert.ok(both.results.length > 0);
      assert.ok((both.knowledge?.length ?? 0) > 0);
      assert.equal(both.knowledge?.[0]?.type, "knowledge");
      const plain = await t.client.searchMemories({ query: "refund" });
      assert.equal(plain.knowledge, undefined);
    });

    test("corrupt, encrypted and too-long files end as failed jobs with nothing indexed", async () => {
      const t = await tenant();
      const cases = [
        {
          bytes: Buffer.from("%PDF-1.4 this is not really a pdf"),
          name: "broken.pdf",
          reason: /corrupt/,
        },
        { bytes: await makeEncryptedPdf(), name: "locked.pdf", reason: /encrypted/ },
        {
          bytes: await makePdf([["1"], ["2"], ["3"], ["4"]]),
          name: "long.pdf",
          reason: /4 pages; the limit is 3/,
        },
        { bytes: Buffer.from("PK\u0003\u0004garbage"), name: "broken.docx", reason: /corrupt/ },
        { bytes: Buffer.from('{"a":'), name: "broken.json", reason: /JSON is not valid/ },
      ];
      for (const c of cases) {
        const { job, doc } = await ingest(
          t,
          t.kb.uploadDocument({ bytes: c.bytes, filename: c.name }),
        );
        assert.equal(job.state, "failed", c.name);
        assert.match(job.error ?? "", c.reason, c.name);
        assert.equal(job.attempts, 1, "a permanent failure is not retried");
        assert.equal(doc.status, "failed");
        assert.match(doc.error ?? "", c.reason);
        assert.equal(doc.chunk_count, 0);
      }
      const any = await t.kb.searchKnowledge({ query: "pdf really", mode: "vector" });
      assert.equal(any.results.length, 0);
    });

    test("bad input is a 4xx naming the field, and stores nothing", async () => {
      const t = await tenant();
      await expectProblem(
        t.kb.createDocument({ filename: "big.txt", text: "x".repeat(200_001) }),
        413,
        "payload_too_large",
        "content",
      );
      await expectProblem(
        t.kb.uploadDocument({ bytes: Buffer.alloc(200_001, 65), filename: "big.txt" }),
        413,
        "payload_too_large",
        "file",
      );
      await expectProblem(
        t.kb.createDocument({ filename: "a.png", content_base64: "AAAA" }),
        415,
        "unsupported_media_type",
        "media_type",
      );
      await expectProblem(
        t.kb.createDocument({ filename: "a.txt", text: "x", content_base64: "eA==" }),
        400,
        "validation_failed",
        "text",
      );
      await expectProblem(
        t.kb.createDocument({ filename: "a.pdf", content_base64: "not base64!" }),
        400,
        "validation_failed",
        "content_base64",
      );
      await expectProblem(
        t.kb.uploadDocument(
          { bytes: Buffer.from("x"), filename: "a.txt" },
          { user_id: "u".repeat(300) },
        ),
        400,
        "validation_failed",
        "user_id",
      );
      await expectProblem(
        t.kb.createDocument({ filename: "", text: "x" }),
        400,
        "validation_failed",
        "filename",
      );
      await expectProblem(
        t.kb.listDocuments({ cursor: "bogus" }),
        400,
        "validation_failed",
        "cursor",
      );
      assert.equal((await t.kb.listDocuments()).results.length, 0);
      assert.equal((await t.kb.listJobs()).results.length, 0);
    });

    test("Idempotency-Key: a repeated upload (JSON or multipart) answers with the first document; another body with the key is 422", async () => {
      const t = await tenant();
      const body = { filename: "faq.md", text: policy };
      const first = await t.kb.createDocument(body, { idempotencyKey: "upload-1" });
      const again = await t.kb.createDocument(body, { idempotencyKey: "upload-1" });
      assert.deepEqual(again, first);
      await expectProblem(
        t.kb.createDocument({ ...body, text: "something else" }, { idempotencyKey: "upload-1" }),
        422,
        "idempotency_key_reused",
        "Idempotency-Key",
      );
      const file = { bytes: Buffer.from(policy), filename: "faq.md", mediaType: "text/markdown" };
      const m1 = await t.kb.uploadDocument(file, {}, { idempotencyKey: "upload-2" });
      const m2 = await t.kb.uploadDocument(file, {}, { idempotencyKey: "upload-2" });
      assert.equal(m2.document_id, m1.document_id);
      assert.notEqual(m1.document_id, first.document_id);
      const docs = await t.kb.listDocuments();
      assert.equal(docs.results.length, 2, "one document per key");
      await t.kb.waitForJob(m1.job_id, { timeoutMs: 60_000 });
    });

    test("multipart fields pass the JSON body's checks: NUL, lone surrogates, nesting, reserved keys", async () => {
      const t = await tenant();
      const deep = `${"[".repeat(100)}${"]".repeat(100)}`;
      for (const [fields, field] of [
        [{ metadata: '{"a":"x\\u0000y"}' }, "metadata.a"],
        [{ metadata: '{"a":"\\ud800"}' }, "metadata.a"],
        [{ metadata: '{"a\\u0000":1}' }, "metadata"],
        [{ metadata: `{"a":${deep}}` }, `metadata.a${"[0]".repeat(62)}`],
        [{ metadata: '{"__proto__":{"admin":true}}' }, "metadata"],
        [{ metadata: '{"x":{"constructor":{"prototype":{}}}}' }, "metadata.x"],
        [{ metadata: '{"constructor":1}' }, "metadata"],
        [{ metadata: '{"prototype":1}' }, "metadata"],
        [{ metadata: `{"${"k".repeat(129)}":1}` }, "metadata"],
        [{ metadata: "[1,2]" }, "metadata"],
        [{ metadata: "{not json" }, "metadata"],
        [{ metadata: JSON.stringify({ a: "x".repeat(17_000) }) }, "metadata"],
        [{ user_id: "a\u0000b" }, "user_id"],
        [{ collection: "" }, "collection"],
        [{ media_type: "m".repeat(256) }, "media_type"],
        [{ text: "not a multipart field" }, "text"],
        [{ colour: "red" }, "colour"],
      ] as const) {
        assertBadField(await postForm(t.key, fields), field);
      }
      // The same refusals for a JSON upload.
      for (const [body, field] of [
        ['{"filename":"a.txt","text":"x","metadata":{"__proto__":{"admin":true}}}', "metadata"],
        ['{"filename":"a.txt","text":"x","metadata":{"constructor":"x"}}', "metadata"],
        ['{"filename":"a.txt","text":"x","metadata":{"a":"\\ud800"}}', "metadata.a"],
      ] as const) {
        assertBadField(await postJson(t.key, body), field);
      }
      assert.equal((await t.kb.listDocuments()).results.length, 0, "nothing was stored");
      // A metadata part typed application/json (which multipart parses itself) is checked too.
      const typed = (json: string) =>
        fetch(`${srv.url}/v1/documents`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${t.key}`,
            "content-type": "multipart/form-data; boundary=XyZ",
          },
          body: [
            "--XyZ",
            'Content-Disposition: form-data; name="metadata"',
            "Content-Type: application/json",
            "",
            json,
            "--XyZ",
            'Content-Disposition: form-data; name="file"; filename="a.txt"',
            "Content-Type: text/plain",
            "",
            "Plain words.",
            "--XyZ--",
            "",
          ].join("\r\n"),
        }).then(replyOf);
      assertBadField(await typed('{"constructor":1}'), "metadata");
      const poisoned = await typed('{"__proto__":{"admin":true}}');
      assert.equal(poisoned.status, 400, JSON.stringify(poisoned.body));
      assert.equal(poisoned.body.code, "validation_failed");
      // Only the part named file is the document. The refusal comes once the body is read (a
      // large part follows it), so the client gets the 400 rather than a reset connection.
      const misnamed = new FormData();
      misnamed.set("attachment", new Blob(["b".repeat(150_000)], { type: "text/plain" }), "b.txt");
      misnamed.set("file", new Blob(["a"], { type: "text/plain" }), "a.txt");
      const res = await fetch(`${srv.url}/v1/documents`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.key}` },
        body: misnamed,
      });
      assertBadField(await replyOf(res), "attachment");
      assert.equal((await t.kb.listDocuments()).results.length, 0, "nothing was stored");

      // Good fields still work, metadata sent as JSON text or as a JSON-typed part.
      const ok = await postForm(t.key, { metadata: '{"lang":"en","n":[1,{"k":null}]}' });
      assert.equal(ok.status, 202, JSON.stringify(ok.body));
      const doc = await t.kb.getDocument(ok.body.document_id as string);
      assert.deepEqual(doc.metadata, { lang: "en", n: [1, { k: null }] });
      const typedOk = await typed('{"lang":"de"}');
      assert.equal(typedOk.status, 202, JSON.stringify(typedOk.body));
      const typedDoc = await t.kb.getDocument(typedOk.body.document_id as string);
      assert.deepEqual(typedDoc.metadata, { lang: "de" });
      await t.kb.waitForJob(doc.job_id as string, { timeoutMs: 60_000 });
      await t.kb.waitForJob(typedDoc.job_id as string, { timeoutMs: 60_000 });
    });

    test("keyword mode with no matching word is an empty result, never a 500", async () => {
      const t = await tenant();
      for (const query of ["qqqzzz", "???", "the"]) {
        const none = await t.kb.searchKnowledge({ query, mode: "keyword" });
        assert.deepEqual(none.results, [], query);
      }
      await ingest(t, t.kb.createDocument({ filename: "policy.md", text: policy }));
      for (const query of ["qqqzzz", "???"]) {
        const none = await t.kb.searchKnowledge({ query, mode: "keyword", user_id: "u" });
        assert.deepEqual(none.results, [], query);
      }
      assert.ok((await t.kb.searchKnowledge({ query: "refund", mode: "keyword" })).results.length);
    });

    test("projects: another project's documents, jobs, chunks and Idempotency-Keys are its own", async () => {
      const owner = await tenant();
      const second = await inNewProject(owner, "second");
      const { doc, job } = await ingest(
        owner,
        owner.kb.createDocument({ filename: "secret.md", text: "The vault code is 1234." }),
      );
      assert.equal(doc.project_id, owner.projectId);
      await expectProblem(second.kb.getDocument(doc.id), 404, "not_found");
      await expectProblem(second.kb.deleteDocument(doc.id), 404, "not_found");
      await expectProblem(second.kb.getJob(job.id), 404, "not_found");
      await expectProblem(second.kb.retryJob(job.id), 404, "not_found");
      assert.deepEqual((await second.kb.listDocuments()).results, []);
      assert.deepEqual((await second.kb.listJobs()).results, []);
      assert.deepEqual((await second.kb.searchKnowledge({ query: "vault code" })).results, []);
      const viaMemories = await second.client.searchMemories({
        query: "vault code",
        include: ["knowledge"],
      });
      assert.deepEqual(viaMemories.knowledge, []);

      // The other way round: the second project's document stays out of the default project.
      const theirs = await ingest(
        { ...owner, client: second.client, kb: second.kb },
        second.kb.createDocument({ filename: "log.md", text: "The lighthouse logbook is blue." }),
      );
      assert.equal(theirs.doc.project_id, second.projectId);
      const mine = await owner.kb.searchKnowledge({ query: "lighthouse logbook", limit: 50 });
      assert.ok(mine.results.every((r) => r.citation.document_id !== theirs.doc.id));
      assert.deepEqual(
        (await owner.kb.listDocuments()).results.map((d) => d.id),
        [doc.id],
      );
      assert.ok((await owner.kb.getDocument(doc.id)).id, "still there after the other's attempts");

      // The same Idempotency-Key in two projects, and on memories and documents in one project,
      // names four different requests: none blocks (422) or replays another.
      const body = { filename: "same.md", text: "Same words." };
      const a = await owner.kb.createDocument(body, { idempotencyKey: "shared-key" });
      const b = await second.kb.createDocument(body, { idempotencyKey: "shared-key" });
      assert.notEqual(a.document_id, b.document_id);
      const m1 = await owner.client.addMemory({ text: "keyed" }, { idempotencyKey: "shared-key" });
      const m2 = await second.client.addMemory({ text: "keyed" }, { idempotencyKey: "shared-key" });
      assert.equal(m1.results[0]?.event, "ADD");
      assert.equal(m2.results[0]?.event, "ADD");
      assert.notEqual(m1.results[0]?.id, m2.results[0]?.id);
      // Each still replays its own.
      assert.deepEqual(await second.kb.createDocument(body, { idempotencyKey: "shared-key" }), b);
      await second.kb.waitForJob(b.job_id, { timeoutMs: 60_000 });
      await owner.kb.waitForJob(a.job_id, { timeoutMs: 60_000 });
    });

    test("shared knowledge: a user_id (agent_id) finds that user's documents and those of no user", async () => {
      const t = await tenant();
      await Promise.all([
        ingest(
          t,
          t.kb.createDocument({
            filename: "alice.md",
            text: "Alice's locker code is 4711.",
            user_id: "alice",
          }),
        ),
        ingest(
          t,
          t.kb.createDocument({
            filename: "bob.md",
            text: "Bob's locker code is 8080.",
            user_id: "bob",
          }),
        ),
        ingest(
          t,
          t.kb.createDocument({ filename: "help.md", text: "Lockers are emptied every Friday." }),
        ),
        ingest(
          t,
          t.kb.createDocument({
            filename: "script.md",
            text: "Locker desk script: greet the locker owner.",
            agent_id: "desk",
          }),
        ),
      ]);
      await t.client.addMemory({ text: "Alice lost her locker key", user_id: "alice" });
      const files = (hits: readonly { citation: { filename: string } }[] | undefined) =>
        [...new Set((hits ?? []).map((h) => h.citation.filename))].sort();
      const query = { query: "locker code", mode: "vector" as const, limit: 20 };

      // One call: Alice's memories with her documents and the shared ones, never Bob's.
      const chat = await t.client.searchMemories({
        ...query,
        user_id: "alice",
        include: ["knowledge"],
      });
      assert.equal(chat.results.length, 1);
      assert.deepEqual(files(chat.knowledge), ["alice.md", "help.md", "script.md"]);
      const kb = await t.kb.searchKnowledge({ ...query, user_id: "alice" });
      assert.deepEqual(files(kb.results), ["alice.md", "help.md", "script.md"]);
      // The same rule for agents, combined with the user's.
      const desk = await t.kb.searchKnowledge({ ...query, user_id: "alice", agent_id: "desk" });
      assert.deepEqual(files(desk.results), ["alice.md", "help.md", "script.md"]);
      const other = await t.kb.searchKnowledge({ ...query, user_id: "alice", agent_id: "shop" });
      assert.deepEqual(files(other.results), ["alice.md", "help.md"]);
      // Without a user, everything in the project; listing by user stays exact.
      assert.deepEqual(files((await t.kb.searchKnowledge(query)).results), [
        "alice.md",
        "bob.md",
        "help.md",
        "script.md",
      ]);
      assert.deepEqual(
        (await t.kb.listDocuments({ user_id: "alice" })).results.map((d) => d.filename),
        ["alice.md"],
      );
    });

    test("security: scopes, other tenants' ids, no credentials", async () => {
      const owner = await tenant();
      const other = await tenant();
      const { doc, job } = await ingest(
        owner,
        owner.kb.createDocument({ filename: "secret.md", text: "The vault code is 1234." }),
      );
      await expectProblem(other.kb.getDocument(doc.id), 404, "not_found");
      await expectProblem(other.kb.deleteDocument(doc.id), 404, "not_found");
      await expectProblem(other.kb.getJob(job.id), 404, "not_found");
      await expectProblem(other.kb.retryJob(job.id), 404, "not_found");
      assert.equal((await other.kb.searchKnowledge({ query: "vault code" })).results.length, 0);
      assert.equal((await other.kb.listDocuments()).results.length, 0);

      const memoriesOnly = await srv.admin.createKey(owner.tenantId, {
        scopes: ["memories:read", "memories:write"],
      });
      const limited = new EngramClient({ baseUrl: srv.url, token: memoriesOnly.key }).knowledge;
      await expectProblem(
        limited.createDocument({ filename: "a.txt", text: "x" }),
        403,
        "forbidden",
      );
      await expectProblem(limited.getDocument(doc.id), 403, "forbidden");
      await expectProblem(limited.searchKnowledge({ query: "vault" }), 403, "forbidden");
      const readOnly = await srv.admin.createKey(owner.tenantId, { scopes: ["knowledge:read"] });
      const reader = new EngramClient({ baseUrl: srv.url, token: readOnly.key }).knowledge;
      assert.equal((await reader.getDocument(doc.id)).id, doc.id);
      await expectProblem(reader.deleteDocument(doc.id), 403, "forbidden");

      const res = await fetch(`${srv.url}/v1/documents`, { method: "GET" });
      assert.equal(res.status, 401);
      await expectProblem(owner.kb.getDocument(MISSING_DOC), 404, "not_found");
      await expectProblem(owner.kb.getDocument("nope"), 404, "not_found");
      await expectProblem(owner.kb.retryJob(job.id), 409, "conflict");
    });

    test("delete removes chunks and vectors; list and jobs paginate", async () => {
      const t = await tenant();
      const a = await ingest(
        t,
        t.kb.createDocument({ filename: "a.md", text: policy, user_id: "u1" }),
      );
      const b = await ingest(
        t,
        t.kb.createDocument({ filename: "b.txt", text: "Parking is free after 8pm." }),
      );
      const page1 = await t.kb.listDocuments({ limit: 1 });
      assert.equal(page1.results[0]?.id, b.doc.id);
      assert.ok(page1.next_cursor);
      const page2 = await t.kb.listDocuments({ limit: 1, cursor: page1.next_cursor ?? "" });
      assert.equal(page2.results[0]?.id, a.doc.id);
      assert.equal(page2.next_cursor, null);
      assert.equal((await t.kb.listDocuments({ user_id: "u1" })).results.length, 1);
      assert.equal((await t.kb.listJobs({ state: "completed" })).results.length, 2);

      assert.ok((await t.kb.searchKnowledge({ query: "refund shoes" })).results.length > 0);
      assert.deepEqual(await t.kb.deleteDocument(a.doc.id), { id: a.doc.id, deleted: true });
      await expectProblem(t.kb.getDocument(a.doc.id), 404, "not_found");
      const after = await t.kb.searchKnowledge({
        query: "refund shoes",
        mode: "vector",
        limit: 50,
      });
      assert.ok(after.results.every((r) => r.citation.document_id !== a.doc.id));
      await expectProblem(t.kb.deleteDocument(a.doc.id), 404, "not_found");
    });

    test("metrics expose queue depth, latency and processing time by operation", async () => {
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      for (const series of [
        'engram_ingest_queue_depth{state="queued"}',
        'engram_ingest_operation_seconds_count{operation="parse"}',
        'engram_ingest_operation_seconds_count{operation="chunk"}',
        'engram_ingest_operation_seconds_count{operation="embed"}',
        "engram_ingest_job_latency_seconds_count",
        "engram_ingest_queue_wait_seconds_count",
      ]) {
        assert.ok(text.includes(series), `missing ${series}`);
      }
      assert.doesNotMatch(
        text,
        /(ten|doc|job|key)_[0-9A-Z]{26}/,
        "no tenant or object ids in labels",
      );
    });
  });
}
