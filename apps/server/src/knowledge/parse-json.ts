import { type Node, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import { type Block, DocumentError } from "./parsed-document.ts";

/** Deepest nesting turned into headings; deeper keys go into the leaf's label. */
const MAX_HEADING_DEPTH = 6;

/**
 * JSON through jsonc-parser (strict: no comments, no trailing commas), which keeps every node's
 * offset in the source. Object keys holding objects or arrays become headings (the heading path
 * of their contents); each primitive value becomes a "key: value" paragraph at its source span.
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
  const visit = (node: Node, label: string, depth: number) => {
    if (node.type === "object" || node.type === "array") {
      if (label && depth <= MAX_HEADING_DEPTH) {
        blocks.push({
          kind: "heading",
          level: depth,
          text: label,
          start: node.offset,
          end: node.offset + node.length,
        });
      }
      for (const [i, child] of (node.children ?? []).entries()) {
        if (node.type === "object") {
          const [key, value] = child.children ?? [];
          if (key && value) visit(value, String(key.value), depth + 1);
        } else {
          visit(child, `${label}[${i}]`, depth + 1);
        }
      }
      return;
    }
    const value = node.value === null ? "null" : String(node.value);
    blocks.push({
      kind: "paragraph",
      text: label ? `${label}: ${value}` : value,
      start: node.parent?.type === "property" ? node.parent.offset : node.offset,
      end: node.offset + node.length,
    });
  };
  visit(root, "", 0);
  return blocks;
}
