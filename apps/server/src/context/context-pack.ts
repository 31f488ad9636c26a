import type { Citation } from "@engram/contract";
import { boundRuns, countTokens, tokensWithin, truncateToFit } from "./context-tokens.ts";

/** A memory or knowledge chunk that may go into a context, as the searches ranked it. */
export interface Candidate {
  type: "memory" | "knowledge";
  id: string;
  /** Whitespace runs collapsed to one space: one line per item. */
  text: string;
  score: number;
  validFrom?: string | undefined;
  citation?: Citation | undefined;
}

/** A candidate as packed: its label (date or source) and its text, cut if it had to be. */
export interface Entry {
  candidate: Candidate;
  label: string | undefined;
  text: string;
  truncated: boolean;
}

export type ContextFormat = "text" | "json";

/** Most tokens a knowledge source label takes, so a chunk's text always has room at budget 50. */
export const LABEL_MAX_TOKENS = 30;

/** One line per item: runs of whitespace (newlines included) become one space. */
export function oneLine(text: string): string {
  return text.replace(/\s+/gu, " ").trim();
}

/**
 * What an entry is labelled with: a memory's date (the UTC day it became true), a chunk's source
 * (file, page, heading path), cut to LABEL_MAX_TOKENS.
 */
function labelOf(c: Candidate): string | undefined {
  if (c.type === "memory") return c.validFrom?.slice(0, 10);
  const cite = c.citation;
  if (!cite) return undefined;
  const { text: label } = boundRuns(
    oneLine(
      [
        cite.filename,
        cite.page !== null ? `p. ${cite.page}` : "",
        cite.heading_path.map(oneLine).join(" > "),
      ]
        .filter((part) => part !== "")
        .join(", "),
    ),
  );
  if (tokensWithin(label, LABEL_MAX_TOKENS) !== false) return label;
  return truncateToFit(label, (s) => tokensWithin(s, LABEL_MAX_TOKENS) !== false, LABEL_MAX_TOKENS);
}

const HEADERS = { memory: "Memories:", knowledge: "Knowledge:" } as const;
const KEYS = { memory: "memories", knowledge: "knowledge" } as const;

const lineOf = (e: Entry) => (e.label ? `- [${e.label}] ${e.text}` : `- ${e.text}`);

const jsonOf = (e: Entry) =>
  e.candidate.type === "memory"
    ? { ...(e.label ? { date: e.label } : {}), text: e.text }
    : { ...(e.label ? { source: e.label } : {}), text: e.text };

const ofType = (entries: readonly Entry[], type: Candidate["type"]) =>
  entries.filter((e) => e.candidate.type === type);

/**
 * How a format renders entries, and what each part costs in tokens. The costs are estimates made
 * a part at a time (token merges across parts can differ by a token); the rendered whole is always
 * counted again.
 */
interface Layout {
  render(entries: readonly Entry[]): string;
  /** Tokens of the rendering with no entry. */
  base: number;
  /** Tokens a type's section adds once it holds an entry, besides its entries. */
  section: Record<Candidate["type"], number>;
  /** Tokens an entry adds, or false when over `room` (counting stops there). */
  entry(e: Entry, room: number): number | false;
}

const TYPES = ["memory", "knowledge"] as const;

const LAYOUTS: Record<ContextFormat, Layout> = {
  // Memories:\n- [2024-05-01] text\n…\n\nKnowledge:\n- [file, p. 2, Heading] text
  text: {
    render: (entries) =>
      TYPES.flatMap((type) => {
        const list = ofType(entries, type);
        return list.length > 0 ? [[HEADERS[type], ...list.map(lineOf)].join("\n")] : [];
      }).join("\n\n"),
    base: 0,
    // The header line and the blank line before the next section.
    section: {
      memory: countTokens(`${HEADERS.memory}\n`) + 1,
      knowledge: countTokens(`${HEADERS.knowledge}\n`) + 1,
    },
    entry: (e, room) => tokensWithin(`${lineOf(e)}\n`, room),
  },
  // {"memories":[{"date":"2024-05-01","text":"…"}],"knowledge":[{"source":"…","text":"…"}]}
  json: {
    render: (entries) => {
      const doc: Record<string, unknown> = {};
      for (const type of TYPES) {
        const list = ofType(entries, type);
        if (list.length > 0) doc[KEYS[type]] = list.map(jsonOf);
      }
      return JSON.stringify(doc);
    },
    base: countTokens("{}"),
    section: {
      memory: countTokens(`"${KEYS.memory}":[],`),
      knowledge: countTokens(`"${KEYS.knowledge}":[],`),
    },
    entry: (e, room) => tokensWithin(`${JSON.stringify(jsonOf(e))},`, room),
  },
};

export interface Packed {
  context: string;
  entries: Entry[];
  tokens: number;
}

/** A candidate as it goes into a context: labelled, and cut inside an overlong run. */
function entryOf(candidate: Candidate): Entry {
  const { text, cut } = boundRuns(candidate.text);
  return { candidate, label: labelOf(candidate), text, truncated: cut };
}

/** The one best entry, its text cut so that the context holding it alone fits the budget. */
function truncatedBest(layout: Layout, best: Candidate, budget: number): Entry[] {
  const entry: Entry = { ...entryOf(best), truncated: true };
  const text = truncateToFit(
    entry.text,
    (t) => tokensWithin(layout.render([{ ...entry, text: t }]), budget) !== false,
    budget,
  );
  return text === undefined ? [] : [{ ...entry, text }];
}

/**
 * Packs ranked candidates (best first, duplicates already dropped) into `budget` tokens: greedily
 * in rank order, each candidate that still fits whole goes in (a smaller one further down may
 * fill what a larger one left). The best candidate always goes in: when it alone is over the
 * budget, it is cut to fit. The rendered context is counted exactly and never exceeds the budget.
 */
export function pack(ranked: readonly Candidate[], budget: number, format: ContextFormat): Packed {
  const layout = LAYOUTS[format];
  let entries: Entry[] = [];
  let used = layout.base;
  const opened = new Set<Candidate["type"]>();
  for (const candidate of ranked) {
    // Nothing but a short line could still fit: stop tokenising the rest.
    if (budget - used < 8) break;
    const entry = entryOf(candidate);
    const section = opened.has(candidate.type) ? 0 : layout.section[candidate.type];
    const cost = budget - used - section > 0 ? layout.entry(entry, budget - used - section) : false;
    if (cost !== false) {
      entries.push(entry);
      opened.add(candidate.type);
      used += section + cost;
    } else if (entries.length === 0) {
      break;
    }
  }
  const best = ranked[0];
  if (best && entries[0]?.candidate !== best) entries = truncatedBest(layout, best, budget);
  // The estimates are per part: count the whole, and drop the last entries while it is over.
  for (;;) {
    const context = layout.render(entries);
    const tokens = tokensWithin(context, budget);
    if (tokens !== false) return { context, entries, tokens };
    entries =
      entries.length > 1 ? entries.slice(0, -1) : best ? truncatedBest(layout, best, budget) : [];
  }
}
