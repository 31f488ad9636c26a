import { deflateSync } from "node:zlib";
import { PDFDocument, PDFName } from "pdf-lib";
import yazl from "yazl";

// Hostile documents for the abuse suite and bench:abuse: each is small on the wire and built to
// cost the parser far more than its size (decompression bombs, nesting, amplification). Built
// here from scratch, so nothing binary is committed.

const DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

const CONTENT_TYPES = `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`;
const RELS = `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`;

function zip(entries: [string, Buffer][]): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const [name, data] of entries) z.addBuffer(data, name, { compress: true });
  z.end();
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    z.outputStream.on("data", (b: Buffer) => parts.push(b));
    z.outputStream.on("end", () => resolve(Buffer.concat(parts)));
    z.outputStream.on("error", reject);
  });
}

/**
 * A minimal, valid DOCX whose body is `paragraphs` short paragraphs: copies of `text`, or
 * `text(i)` for each (distinct texts compress far less, so they pass a ratio check).
 */
export function docxOfParagraphs(
  paragraphs: number,
  text: string | ((i: number) => string) = "x",
): Promise<Buffer> {
  const para = (t: string) => `<w:p><w:r><w:t>${t}</w:t></w:r></w:p>`;
  let body: Buffer;
  if (typeof text === "string") {
    const p = Buffer.from(para(text));
    body = Buffer.alloc(p.length * paragraphs);
    for (let i = 0; i < paragraphs; i++) p.copy(body, i * p.length);
  } else {
    body = Buffer.from(Array.from({ length: paragraphs }, (_, i) => para(text(i))).join(""));
  }
  const document = Buffer.concat([
    Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="${W}"><w:body>`),
    body,
    Buffer.from("</w:body></w:document>"),
  ]);
  return zip([
    ["[Content_Types].xml", Buffer.from(CONTENT_TYPES)],
    ["_rels/.rels", Buffer.from(RELS)],
    ["word/document.xml", document],
  ]);
}

/**
 * A DOCX whose central directory understates every entry's inflated size (1 byte), as a bomb
 * would to slip past a check of the declared sizes alone.
 */
export async function docxWithLyingSizes(paragraphs: number): Promise<Buffer> {
  const bytes = await docxOfParagraphs(paragraphs);
  // Central directory headers (PK\1\2): uncompressed size at offset 24; local headers (PK\3\4)
  // at offset 22. Both are patched, as a crafted file would be.
  for (let i = 0; i + 4 <= bytes.length; i++) {
    if (bytes.readUInt32LE(i) === 0x02014b50) bytes.writeUInt32LE(1, i + 24);
    else if (bytes.readUInt32LE(i) === 0x04034b50) bytes.writeUInt32LE(1, i + 22);
  }
  return bytes;
}

/** A one-page PDF whose content stream inflates to `inflatedBytes` (spaces: valid, empty content). */
export async function pdfBomb(inflatedBytes: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const page = doc.addPage([200, 200]);
  const compressed = deflateSync(Buffer.alloc(inflatedBytes, 0x20), { level: 9 });
  const stream = doc.context.stream(compressed, { Filter: "FlateDecode" });
  page.node.set(PDFName.of("Contents"), doc.context.register(stream));
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/** HTML nested `depth` elements deep (the reviewer's case was 20,000). */
export const deepHtml = (depth: number) =>
  Buffer.from(`<html><body>${"<div>".repeat(depth)}deep${"</div>".repeat(depth)}</body></html>`);

/** JSON nested `depth` arrays deep. */
export const deepJson = (depth: number) => Buffer.from(`${"[".repeat(depth)}${"]".repeat(depth)}`);

/** Markdown block quotes nested `depth` deep. */
export const deepMarkdown = (depth: number) => Buffer.from(`${">".repeat(depth)} deep\n`);

/**
 * JSON that a label-copying parser multiplies: one long key over an array of many small values
 * (about 9 KB; copying the key into each element made it 4 MB of text and thousands of chunks).
 */
export const amplifyingJson = (elements = 4000) =>
  Buffer.from(JSON.stringify({ ["k".repeat(800)]: new Array(elements).fill(1) }));

/** Markdown whose emphasis delimiters cost the CommonMark parser quadratic time. */
export const slowMarkdown = (n: number) => Buffer.from(`${"*".repeat(n)}a${"*".repeat(n)}\n`);

/** Plain text of `paragraphs` distinct paragraphs (about 60 bytes each). */
export const manyParagraphs = (paragraphs: number) =>
  Buffer.from(
    Array.from(
      { length: paragraphs },
      (_, i) => `Paragraph ${i} describes item ${i * 7919} in the catalogue.`,
    ).join("\n\n"),
  );

export const MEDIA = { docx: DOCX, pdf: "application/pdf" } as const;
