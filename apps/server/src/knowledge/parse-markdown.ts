import type { Nodes, Root } from "mdast";
import { fromMarkdown } from "mdast-util-from-markdown";
import type { Block } from "./parsed-document.ts";

/** Plain text of an mdast node (inline code and text values, nothing of the markup). */
function textOf(node: Nodes): string {
  if ("value" in node && typeof node.value === "string") return node.value;
  if ("children" in node) return node.children.map((c) => textOf(c as Nodes)).join("");
  return "";
}

/**
 * Markdown through mdast-util-from-markdown (CommonMark): headings keep their level, every other
 * top-level block (paragraph, list, code, table, quote) is one paragraph block. Offsets are the
 * block's span in the Markdown source.
 */
export function parseMarkdown(source: string): Block[] {
  const tree: Root = fromMarkdown(source);
  const blocks: Block[] = [];
  const visit = (node: Nodes) => {
    const start = node.position?.start.offset ?? 0;
    const end = node.position?.end.offset ?? start;
    if (node.type === "heading") {
      const text = textOf(node).trim();
      if (text) blocks.push({ kind: "heading", level: node.depth, text, start, end });
      return;
    }
    if (node.type === "list") {
      // One block per item, so long lists split on item boundaries.
      for (const item of node.children) visit(item);
      return;
    }
    if (node.type === "html" || node.type === "thematicBreak" || node.type === "definition") return;
    const text = (node.type === "code" ? node.value : blockText(node)).trim();
    if (text) blocks.push({ kind: "paragraph", text, start, end });
  };
  for (const child of tree.children) visit(child);
  return blocks;
}

/** Text of a block node, its child blocks separated by newlines. */
function blockText(node: Nodes): string {
  if (node.type === "paragraph" || node.type === "tableCell") return textOf(node);
  if ("children" in node) {
    const sep = node.type === "tableRow" ? " | " : "\n";
    return node.children.map((c) => blockText(c as Nodes)).join(sep);
  }
  return textOf(node);
}
