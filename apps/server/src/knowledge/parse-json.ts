import { type Node, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import { type Block, DocumentError } from "./parsed-document.ts";

/** Deepest nesting turned into headings; deeper keys only label their own values. */
const MAX_HEADING_DEPTH = 6;
/** Longest key kept as a label or heading; keys are the document's own text, so this only trims. */
const LABEL_MAX = 200;

const isPrimitive = (n: Node) => n.type !== "object" && n.type !== "array";
const valueText = (n: Node) => (n.value === null ? "null" : String(n.value));

/**
 * JSON through jsonc-parser (strict: no comments, no trailing commas), which keeps every node's
 * offset in the source. Object keys holding objects or arrays become headings (the heading path
 * of their contents); a primitive value becomes a "key: value" paragraph at its source span, and
 * a run of primitives in an array one "key: a, b, c" paragraph. A key appears in the text once
 * for each time it appears in the source, never once per array element, so the text stays about
 * as long as the source: no JSON, however shaped, multiplies into more text than it holds.
 */
export function parseJson(source: string): Block[] {
  const errors: ParseError[] = [];
  const root = parseTree(source, errors, { disallowComments: true, allowTrailingComma: false });
  const first = errors[0];
  if (!root || first) {
    const what = first ? printParseErrorCode(first.error) : "empty document";
    throw new DocumentError(`The JSON is not valid: ${what} at offset ${first?.offset ?? 0}`);
  }
  const blocks: Block[] = [];
  const paragraph = (label: string, text: string, start: number, end: number) =>
    blocks.push({ kind: "paragraph", text: label ? `${label}: ${text}` : text, start, end });
  const visit = (node: Node, label: string, depth: number) => {
    if (isPrimitive(node)) {
      const start = node.parent?.type === "property" ? node.parent.offset : node.offset;
      return paragraph(label, valueText(node), start, node.offset + node.length);
    }
    const children = node.children ?? [];
    if (node.type === "array" && children.every(isPrimitive)) {
      if (children.length === 0) return;
      const last = children.at(-1) as Node;
      const start = node.parent?.type === "property" ? node.parent.offset : node.offset;
      return paragraph(label, children.map(valueText).join(", "), start, last.offset + last.length);
    }
    const heading = label !== "" && depth <= MAX_HEADING_DEPTH;
    if (heading) {
      blocks.push({
        kind: "heading",
        level: depth,
        text: label,
        start: node.offset,
        end: node.offset + node.length,
      });
    }
    if (node.type === "object") {
      for (const child of children) {
        const [key, value] = child.children ?? [];
        if (key && value) visit(value, String(key.value).slice(0, LABEL_MAX), depth + 1);
      }
      return;
    }
    // An array of objects or arrays: its heading carries the label (deeper down, its first run of
    // primitives does); the elements themselves are not labelled again.
    let shown = heading;
    for (let i = 0; i < children.length; ) {
      const run: Node[] = [];
      while (i < children.length && isPrimitive(children[i] as Node))
        run.push(children[i++] as Node);
      if (run.length === 0) {
        visit(children[i++] as Node, "", depth + 1);
        continue;
      }
      const last = run.at(-1) as Node;
      const text = run.map(valueText).join(", ");
      paragraph(shown ? "" : label, text, (run[0] as Node).offset, last.offset + last.length);
      shown = true;
    }
  };
  visit(root, "", 0);
  return blocks;
}
