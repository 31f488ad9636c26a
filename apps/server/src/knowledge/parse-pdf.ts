import { getDocument } from "pdfjs-dist/legacy/build/pdf.mjs";
import type { DocumentLimits } from "../config/ingest-config.ts";
import { DocumentLimitError } from "./document-limits.ts";
import { type Block, DocumentError, paragraphBlocks } from "./parsed-document.ts";

interface TextItem {
  str: string;
  hasEOL: boolean;
}

/**
 * PDF text layer through pdf.js (Mozilla). The page count is checked against the limit before
 * any page is read. Each page's text becomes paragraphs (blank lines, else the page's lines);
 * offsets are positions in the extracted text, pages joined by blank lines. Scanned pages without
 * a text layer give nothing (no OCR).
 */
export async function parsePdf(
  bytes: Buffer,
  limits: Pick<DocumentLimits, "maxPages">,
): Promise<{ blocks: Block[]; pages: number }> {
  const task = getDocument({
    data: new Uint8Array(bytes),
    useSystemFonts: false,
    disableFontFace: true,
    verbosity: 0,
  });
  let pdf: Awaited<typeof task.promise>;
  try {
    pdf = await task.promise;
  } catch (err) {
    await task.destroy();
    const name = (err as Error).name;
    if (name === "PasswordException") {
      throw new DocumentError(
        "The PDF is encrypted (password-protected); upload it without a password",
      );
    }
    throw new DocumentError(
      `The PDF is corrupt or not a PDF: ${(err as Error).message.slice(0, 200)}`,
    );
  }
  try {
    if (pdf.numPages > limits.maxPages) {
      throw new DocumentLimitError(
        "maxPages",
        `The PDF has ${pdf.numPages} pages`,
        limits.maxPages,
      );
    }
    const blocks: Block[] = [];
    let offset = 0;
    for (let n = 1; n <= pdf.numPages; n++) {
      const page = await pdf.getPage(n);
      const content = await page.getTextContent();
      let text = "";
      for (const item of content.items as TextItem[]) {
        if (typeof item.str !== "string") continue;
        text += item.str + (item.hasEOL ? "\n" : "");
      }
      page.cleanup();
      // Lines without blank lines between them: one paragraph per line is too fine, one per page
      // is what sentence splitting then bounds.
      blocks.push(...paragraphBlocks(text, offset, n));
      offset += text.length + 2;
    }
    return { blocks, pages: pdf.numPages };
  } finally {
    await task.destroy();
  }
}
