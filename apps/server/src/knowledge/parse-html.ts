import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";
import mammoth from "mammoth";
import { type Block, DocumentError } from "./parsed-document.ts";

type HtmlElement = ReturnType<typeof parseHTML>["document"]["body"];

const HEADING = /^H([1-6])$/;
const BLOCK_TAGS = new Set(["P", "LI", "PRE", "BLOCKQUOTE", "TD", "TH", "DT", "DD", "FIGCAPTION"]);
/** Page furniture dropped when Readability finds no article (short pages). */
const BOILERPLATE = "script, style, noscript, template, nav, header, footer, aside, form, svg";

/**
 * The text blocks of an HTML fragment in reading order: headings and paragraph-level elements.
 * Offsets are positions in the extracted text (the blocks joined by blank lines), which is what
 * a citation can point into; markup has no stable character positions worth citing.
 */
function blocksOf(root: HtmlElement): Block[] {
  const blocks: Block[] = [];
  let offset = 0;
  const push = (kind: Block["kind"], text: string, level?: number) => {
    const clean = text.replace(/\s+/g, " ").trim();
    if (!clean) return;
    blocks.push({
      kind,
      text: clean,
      ...(level ? { level } : {}),
      start: offset,
      end: offset + clean.length,
    });
    offset += clean.length + 2;
  };
  const walk = (el: HtmlElement) => {
    const heading = HEADING.exec(el.tagName);
    if (heading) return push("heading", el.textContent ?? "", Number(heading[1]));
    // A block element without block children is one paragraph; otherwise descend.
    const hasBlockChild = [...el.children].some(
      (c) => BLOCK_TAGS.has(c.tagName) || HEADING.test(c.tagName) || c.tagName === "DIV",
    );
    if (BLOCK_TAGS.has(el.tagName) && !hasBlockChild)
      return push("paragraph", el.textContent ?? "");
    if (!hasBlockChild && el.children.length === 0 && el.tagName === "DIV")
      return push("paragraph", el.textContent ?? "");
    for (const child of el.children) walk(child);
  };
  walk(root);
  return blocks;
}

/** linkedom builds a body only for a whole document; wrap fragments (and bare bodies) in one. */
function asDocument(html: string): string {
  return /<html[\s>]/i.test(html) ? html : `<!doctype html><html><body>${html}</body></html>`;
}

/**
 * HTML: the main content through Mozilla Readability (the Firefox reader view), which drops
 * navigation, sidebars, footers and ads; pages too short for it to judge fall back to the body
 * without nav/header/footer/aside/script/style.
 */
export function parseHtml(html: string): Block[] {
  const { document } = parseHTML(asDocument(html));
  const title = document.querySelector("title")?.textContent?.trim();
  let article: string | null | undefined;
  try {
    article = new Readability(
      document.cloneNode(true) as unknown as ConstructorParameters<typeof Readability>[0],
      {
        charThreshold: 200,
      },
    ).parse()?.content;
  } catch {
    article = undefined; // Readability gives up on odd trees; the fallback still works
  }
  let blocks: Block[] = [];
  if (article) blocks = blocksOf(parseHTML(asDocument(article)).document.body);
  if (blocks.length === 0) {
    const body = document.body ?? document.documentElement;
    if (body) {
      for (const el of body.querySelectorAll(BOILERPLATE)) el.remove();
      blocks = blocksOf(body);
    }
  }
  // Readability removes the page's <h1> when it repeats the title; keep the title as the root.
  if (title && !blocks.some((b) => b.kind === "heading" && b.text === title)) {
    const shift = title.length + 2;
    blocks = [
      { kind: "heading", level: 1, text: title, start: 0, end: title.length },
      ...blocks.map((b) => ({ ...b, start: b.start + shift, end: b.end + shift })),
    ];
  }
  return blocks;
}

/** CFB (OLE2) magic: password-protected Office files and legacy .doc files are CFB, not ZIP. */
const CFB_MAGIC = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);

/** Images are not read: their bytes would only become data URIs the text extraction drops. */
const noImages = mammoth.images.imgElement(async () => ({ src: "" }));

/**
 * DOCX through mammoth (Word styles → semantic HTML: Heading 1 → h1), then as HTML without
 * Readability. `check` vets the archive (sizes, ratios) before mammoth unzips anything.
 */
export async function parseDocx(
  bytes: Buffer,
  check: (bytes: Buffer) => Promise<void>,
): Promise<Block[]> {
  if (bytes.subarray(0, 8).equals(CFB_MAGIC)) {
    throw new DocumentError(
      "The DOCX file is encrypted (password-protected) or is a legacy .doc file; save it as an unprotected .docx",
    );
  }
  await check(bytes);
  let html: string;
  try {
    html = (await mammoth.convertToHtml({ buffer: bytes }, { convertImage: noImages })).value;
  } catch (err) {
    throw new DocumentError(`The DOCX file is corrupt: ${(err as Error).message.slice(0, 200)}`);
  }
  return blocksOf(parseHTML(asDocument(html)).document.body);
}
