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
