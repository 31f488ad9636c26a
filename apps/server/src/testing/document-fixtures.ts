import { Document, HeadingLevel, Packer, Paragraph } from "docx";
import { PDFDocument, PDFName, PDFString, StandardFonts } from "pdf-lib";

/** A PDF with a text layer: one page per entry, each line drawn as its own text run. */
export async function makePdf(pages: string[][]): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = doc.addPage([595, 842]);
    lines.forEach((line, i) => {
      page.drawText(line, { x: 40, y: 800 - i * 16, size: 11, font });
    });
  }
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/**
 * A PDF whose trailer declares Standard-handler encryption with a password nobody knows: pdf.js
 * can open it with neither the empty user password nor an empty owner password, exactly as for a
 * real password-protected file.
 */
export async function makeEncryptedPdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  doc.addPage([200, 200]);
  const ctx = doc.context;
  const hex32 = (b: number) => PDFString.of(String.fromCharCode(...new Array(32).fill(b)));
  const encrypt = ctx.obj({
    Filter: PDFName.of("Standard"),
    V: 1,
    R: 2,
    O: hex32(0x41),
    U: hex32(0x42),
    P: -44,
  });
  ctx.trailerInfo.Encrypt = ctx.register(encrypt);
  ctx.trailerInfo.ID = ctx.obj([
    PDFString.of("0123456789abcdef"),
    PDFString.of("0123456789abcdef"),
  ]);
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/** A DOCX with Word heading styles and body paragraphs. */
export async function makeDocx(
  sections: { heading: string; level?: 1 | 2; paragraphs: string[] }[],
): Promise<Buffer> {
  const levels = { 1: HeadingLevel.HEADING_1, 2: HeadingLevel.HEADING_2 } as const;
  const children = sections.flatMap((s) => [
    new Paragraph({ text: s.heading, heading: levels[s.level ?? 1] }),
    ...s.paragraphs.map((p) => new Paragraph({ text: p })),
  ]);
  return Packer.toBuffer(new Document({ sections: [{ children }] }));
}

const WORDS = [
  "invoice",
  "refund",
  "warranty",
  "shipping",
  "account",
  "password",
  "kettle",
  "battery",
  "subscription",
  "delivery",
  "courier",
  "receipt",
  "discount",
  "voucher",
  "support",
  "manual",
  "firmware",
  "router",
  "printer",
  "storage",
  "backup",
  "license",
  "upgrade",
  "contract",
];

/** Deterministic filler sentences (seeded), distinct enough to embed and search. */
export function sentences(count: number, seed = 1): string[] {
  let x = seed;
  const next = () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x;
  };
  return Array.from({ length: count }, (_, i) => {
    const w = (k: number) => WORDS[(next() + k) % WORDS.length];
    return `Item ${seed}-${i}: the ${w(0)} ${w(1)} policy covers the ${w(2)} and the ${w(3)} for ${next() % 90} days.`;
  });
}

/** A Markdown manual: `sections` headings, each with `paragraphs` paragraphs of four sentences. */
export function makeMarkdown(sections: number, paragraphs: number, seed = 1): string {
  const all = sentences(sections * paragraphs * 4, seed);
  const out: string[] = [`# Manual ${seed}`];
  for (let s = 0; s < sections; s++) {
    out.push(`## Section ${s + 1}`);
    for (let p = 0; p < paragraphs; p++) {
      const i = (s * paragraphs + p) * 4;
      out.push(all.slice(i, i + 4).join(" "));
    }
  }
  return out.join("\n\n");
}
