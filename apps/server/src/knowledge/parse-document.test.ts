import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig } from "../config/config.ts";
import { makeDocx, makeEncryptedPdf, makePdf } from "../testing/document-fixtures.ts";
import * as hostile from "../testing/hostile-documents.ts";
import { chunkBlocks } from "./chunker.ts";
import { parseDocument, resolveMediaType } from "./parse-document.ts";
import { DocumentError } from "./parsed-document.ts";

const LIMITS = { ...loadConfig({}).ingest.limits, maxPages: 50 };
const DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

const rejects = async (
  bytes: Buffer,
  type: Parameters<typeof parseDocument>[1],
  re: RegExp,
  limits = LIMITS,
) =>
  assert.rejects(parseDocument(bytes, type, limits), (err: unknown) => {
    assert.ok(err instanceof DocumentError, String(err));
    assert.match(err.message, re);
    return true;
  });

describe("resolveMediaType", () => {
  test("declared type wins, parameters dropped; octet-stream falls back to the extension", () => {
    assert.equal(resolveMediaType("text/markdown; charset=utf-8", "a.txt"), "text/markdown");
    assert.equal(resolveMediaType("application/octet-stream", "Guide.PDF"), "application/pdf");
    assert.equal(resolveMediaType(undefined, "x.docx"), DOCX);
    assert.equal(resolveMediaType("image/png", "x.png"), undefined);
    assert.equal(resolveMediaType(undefined, "archive.zip"), undefined);
  });
});

describe("parseDocument", () => {
  test("plain text: paragraphs at their source offsets", async () => {
    const text = "First paragraph\nstill first.\n\n  \nSecond one.";
    const { blocks } = await parseDocument(Buffer.from(text), "text/plain", LIMITS);
    assert.deepEqual(
      blocks.map((b) => [b.text, text.slice(b.start, b.end)]),
      [
        ["First paragraph still first.", "First paragraph\nstill first."],
        ["Second one.", "Second one."],
      ],
    );
  });

  test("markdown: headings with levels, list items as blocks, markup stripped", async () => {
    const md =
      "# Returns\n\nYou can return **any** item.\n\n## Refunds\n\n- within 30 days\n- with receipt\n";
    const { blocks } = await parseDocument(Buffer.from(md), "text/markdown", LIMITS);
    assert.deepEqual(
      blocks.map((b) => [b.kind, b.level ?? null, b.text]),
      [
        ["heading", 1, "Returns"],
        ["paragraph", null, "You can return any item."],
        ["heading", 2, "Refunds"],
        ["paragraph", null, "within 30 days"],
        ["paragraph", null, "with receipt"],
      ],
    );
    const para = blocks[1];
    assert.equal(md.slice(para?.start, para?.end), "You can return **any** item.");
  });

  test("html: main content without navigation, footer or scripts", async () => {
    const article = Array.from(
      { length: 6 },
      (_, i) =>
        `<p>Paragraph ${i} of the shipping policy explains delivery times in detail for every region we serve.</p>`,
    ).join("");
    const html = `<html><head><title>Shipping policy</title><script>var x = 1;</script></head><body>
      <nav><a href="/">Home</a> <a href="/shop">Shop menu link</a></nav>
      <article><h2>Delivery</h2>${article}</article>
      <footer>Copyright footer text</footer></body></html>`;
    const { blocks } = await parseDocument(Buffer.from(html), "text/html", LIMITS);
    const all = blocks.map((b) => b.text).join("\n");
    assert.match(all, /Paragraph 0 of the shipping policy/);
    assert.match(all, /Delivery/);
    assert.doesNotMatch(all, /Shop menu link|Copyright footer|var x/);
    assert.equal(blocks[0]?.text, "Shipping policy");
  });

  test("short html page falls back to the body without boilerplate", async () => {
    const html = "<body><nav>Menu</nav><h1>FAQ</h1><p>Open daily.</p><footer>Legal</footer></body>";
    const { blocks } = await parseDocument(Buffer.from(html), "text/html", LIMITS);
    assert.deepEqual(
      blocks.map((b) => b.text),
      ["FAQ", "Open daily."],
    );
  });

  test("json: keys become the heading path, values paragraphs at their source span", async () => {
    const json = JSON.stringify({ plan: { name: "Pro", limits: { seats: 5 } }, tags: ["a"] });
    const { blocks } = await parseDocument(Buffer.from(json), "application/json", LIMITS);
    const chunks = chunkBlocks(blocks, { maxTokens: 200, overlapTokens: 0 });
    const seats = chunks.find((c) => c.text.includes("seats: 5"));
    assert.deepEqual(seats?.headingPath, ["plan", "limits"]);
    const leaf = blocks.find((b) => b.text === "seats: 5");
    assert.equal(json.slice(leaf?.start, leaf?.end), '"seats":5');
  });

  test("pdf: text per page, page numbers kept", async () => {
    const pdf = await makePdf([["Page one talks about warranties."], ["Page two covers returns."]]);
    const parsed = await parseDocument(pdf, "application/pdf", LIMITS);
    assert.equal(parsed.pages, 2);
    assert.deepEqual(
      parsed.blocks.map((b) => [b.page, b.text]),
      [
        [1, "Page one talks about warranties."],
        [2, "Page two covers returns."],
      ],
    );
  });

  test("docx: Word headings and paragraphs", async () => {
    const docx = await makeDocx([
      { heading: "Onboarding", paragraphs: ["Create an account first."] },
      { heading: "Billing", level: 2, paragraphs: ["Invoices are monthly."] },
    ]);
    const { blocks } = await parseDocument(docx, DOCX, LIMITS);
    assert.deepEqual(
      blocks.map((b) => [b.kind, b.level ?? null, b.text]),
      [
        ["heading", 1, "Onboarding"],
        ["paragraph", null, "Create an account first."],
        ["heading", 2, "Billing"],
        ["paragraph", null, "Invoices are monthly."],
      ],
    );
  });

  test("corrupt, encrypted and over-limit files are DocumentErrors with a clear reason", async () => {
    await rejects(Buffer.from("%PDF-1.7 garbage"), "application/pdf", /PDF is corrupt/);
    await rejects(await makeEncryptedPdf(), "application/pdf", /PDF is encrypted/);
    const three = await makePdf([["a"], ["b"], ["c"]]);
    await rejects(three, "application/pdf", /has 3 pages; the limit is 2/, {
      ...LIMITS,
      maxPages: 2,
    });
    await rejects(Buffer.from("PK\u0003\u0004 not a zip"), DOCX, /DOCX file is corrupt/);
    const cfb = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0]);
    await rejects(cfb, DOCX, /encrypted/);
    await rejects(Buffer.from('{"a": 1,}'), "application/json", /JSON is not valid/);
    await rejects(Buffer.from([0xff, 0xfe, 0x00]), "text/plain", /not valid UTF-8/);
  });
});

describe("chunkBlocks", () => {
  const sentence = (i: number) =>
    `Sentence number ${i} describes one specific fact about the product.`;

  test("bounded in tokens, with overlap, following headings", async () => {
    const body = Array.from({ length: 40 }, (_, i) => sentence(i)).join(" ");
    const md = `# Guide\n\n## Setup\n\n${body}\n\n## Usage\n\nShort usage note.`;
    const { blocks } = await parseDocument(Buffer.from(md), "text/markdown", LIMITS);
    const chunks = chunkBlocks(blocks, { maxTokens: 60, overlapTokens: 15 });
    const { countTokens } = await import("gpt-tokenizer");
    for (const c of chunks) assert.ok(countTokens(c.text) <= 60, `${c.tokens}: ${c.text}`);
    const setup = chunks.filter((c) => c.headingPath.join("/") === "Guide/Setup");
    assert.ok(setup.length >= 5, `only ${setup.length} chunks`);
    // Overlap: each next chunk in the section starts with the previous one's last sentence.
    for (let i = 1; i < setup.length; i++) {
      const prevLast = setup[i - 1]?.text.split("\n\n").at(-1) ?? "";
      assert.ok(setup[i]?.text.startsWith(prevLast), `chunk ${i} does not overlap`);
    }
    // Every sentence is in some chunk, and source offsets point at the sentence.
    for (let i = 0; i < 40; i++) assert.ok(chunks.some((c) => c.text.includes(sentence(i))));
    const first = setup[0];
    assert.ok(md.slice(first?.start, first?.end).startsWith("Sentence number 0"));
    const usage = chunks.at(-1);
    assert.deepEqual(usage?.headingPath, ["Guide", "Usage"]);
    assert.equal(usage?.text, "Short usage note.");
    assert.deepEqual(
      chunks.map((c) => c.ordinal),
      chunks.map((_, i) => i),
    );
  });

  test("a sentence longer than the bound is cut on token boundaries", () => {
    const long = "word ".repeat(500).trim();
    const chunks = chunkBlocks([{ kind: "paragraph", text: long, start: 0, end: long.length }], {
      maxTokens: 100,
      overlapTokens: 0,
    });
    assert.ok(chunks.length >= 5);
    for (const c of chunks) assert.ok(c.tokens <= 100);
  });

  test("pdf chunks cite their page", async () => {
    const pdf = await makePdf([["Alpha page text."], ["Beta page text."]]);
    const { blocks } = await parseDocument(pdf, "application/pdf", LIMITS);
    const chunks = chunkBlocks(blocks, { maxTokens: 100, overlapTokens: 0 });
    assert.deepEqual(
      chunks.map((c) => c.page),
      [1, 2],
    );
  });
});

describe("document limits, checked before the expensive step", () => {
  const small = { ...LIMITS, maxInflatedBytes: 8 * 1024 * 1024, maxDepth: 32 };
  const limitRejects = (bytes: Buffer, type: Parameters<typeof parseDocument>[1], re: RegExp) =>
    rejects(bytes, type, re, small);

  test("decompression bombs: DOCX (inflating, or lying about its sizes) and PDF, every time", async () => {
    const docx = await hostile.docxOfParagraphs(1_000_000);
    const lying = await hostile.docxWithLyingSizes(1_000_000);
    const pdf = await hostile.pdfBomb(20_000_000);
    // Twice each: no state may carry over from one document to the next.
    for (let i = 0; i < 2; i++) {
      await limitRejects(docx, DOCX, /inflates to more than \d+ bytes.*MAX_INFLATED_BYTES/);
      await limitRejects(lying, DOCX, /inflates past its declared size/);
      await limitRejects(pdf, "application/pdf", /inflate to more than 8388608 bytes/);
    }
    // The ratio on its own: within the size limit, but a thousand times smaller packed.
    await rejects(await hostile.docxOfParagraphs(100_000), DOCX, /inflates \d+ times.*RATIO/, {
      ...small,
      maxCompressionRatio: 100,
    });
  });

  test("nesting: HTML, JSON and Markdown deeper than the limit fail before their parsers run", async () => {
    await limitRejects(hostile.deepHtml(5_000), "text/html", /HTML nests at least 33 levels/);
    await limitRejects(hostile.deepJson(5_000), "application/json", /JSON nests at least 33/);
    await limitRejects(hostile.deepMarkdown(5_000), "text/markdown", /Markdown nests at least/);
    const list = Array.from({ length: 40 }, (_, i) => `${"  ".repeat(i)}- item`).join("\n");
    await limitRejects(Buffer.from(list), "text/markdown", /Markdown nests at least 33/);
    // At the limit it parses.
    const ok = await parseDocument(hostile.deepHtml(20), "text/html", small);
    assert.deepEqual(
      ok.blocks.map((b) => b.text),
      ["deep"],
    );
  });

  test("extracted text and chunk count", async () => {
    await rejects(
      hostile.manyParagraphs(100),
      "text/plain",
      /more than 1024 bytes of text; the limit is 1024/,
      {
        ...LIMITS,
        maxTextBytes: 1024,
      },
    );
    const { blocks } = await parseDocument(hostile.manyParagraphs(500), "text/plain", LIMITS);
    assert.throws(
      () => chunkBlocks(blocks, { maxTokens: 64, overlapTokens: 0, maxChunks: 10 }),
      /more than 10 chunks; the limit is 10 \(ENGRAM_DOCUMENT_MAX_CHUNKS\)/,
    );
  });

  test("JSON never multiplies into more text than it holds (a key is not copied into array elements)", async () => {
    const source = hostile.amplifyingJson(4_000);
    const { blocks } = await parseDocument(source, "application/json", LIMITS);
    const text = blocks.reduce((n, b) => n + b.text.length, 0);
    assert.ok(text <= source.length * 2, `${text} characters of text from ${source.length} bytes`);
    const tags = await parseDocument(
      Buffer.from(JSON.stringify({ tags: ["red", "green"], items: [{ name: "kettle" }] })),
      "application/json",
      LIMITS,
    );
    assert.deepEqual(
      tags.blocks.map((b) => [b.kind, b.text]),
      [
        ["paragraph", "tags: red, green"],
        ["heading", "items"],
        ["paragraph", "name: kettle"],
      ],
    );
  });
});
