import type { ChatCitation, ContextItem, ContextResponse, GetContextBody } from "@engram/contract";
import type { ContextNarrowing } from "../context/context-service.ts";
import type { TenantContext } from "../tenancy/context.ts";
import type { ChatAgent } from "./chat-types.ts";

/**
 * What an answer draws on: the agent's knowledge (numbered sources, each a citation) and, when
 * the agent reads memory and a visitor is named, that visitor's memories. Retrieval is the
 * context endpoint's (ranking, near-duplicate removal, packing into a token budget), narrowed to
 * what an agent may show a visitor (docs/chat.md):
 * - knowledge of the agent's collections (null: all of the project's), and only shared documents:
 *   none uploaded for a user or a session, none for another agent. A visitor id comes from a
 *   browser; a document uploaded for a user is that user's, and no agent quotes it to anyone.
 * - memories only of `userId`, only with `memory.read`.
 * - only hits that resemble the question (cosine similarity, or a word in common): an unrelated
 *   best hit is still "nothing found".
 */

/** One numbered source of an answer. */
interface Source {
  /** 1-based: the [n] an answer cites it by. */
  n: number;
  text: string;
  citation: ChatCitation;
}

export interface Sources {
  knowledge: Source[];
  /** The visitor's memories, best first (empty without memory.read or a user id). */
  memories: string[];
}

export type GetContext = (
  ctx: TenantContext,
  input: GetContextBody,
  narrowing: ContextNarrowing,
) => Promise<ContextResponse>;

/** Tokens of sources a prompt carries (the context endpoint's packing budget). */
const SOURCES_BUDGET = 1_500;
/**
 * Cosine similarity (local USE-Lite model) under which a hit sharing no word with the question
 * is not about it: unrelated sentences score about 0.0–0.3 with it, paraphrases 0.5 and more.
 */
const MIN_SIMILARITY = 0.35;
/** Longest citation snippet, in characters. */
const SNIPPET_MAX = 300;

/** The agent's sources for a question. */
export async function findSources(
  getContext: GetContext,
  ctx: TenantContext,
  agent: ChatAgent,
  question: string,
  userId: string | undefined,
): Promise<Sources> {
  const withMemories = agent.memory.read && userId !== undefined;
  // The agent reads what it was configured to read, whatever the caller's key may read itself:
  // its chat is the permission (the route checks it), and the narrowing below is the limit.
  const readCtx: TenantContext = {
    ...ctx,
    scopes: new Set([...ctx.scopes, "memories:read", "knowledge:read"]),
  };
  const collections = agent.knowledge.collections;
  const context = await getContext(
    readCtx,
    {
      query: question.slice(0, 4_096),
      token_budget: SOURCES_BUDGET,
      include: withMemories ? ["memories", "knowledge"] : ["knowledge"],
      ...(withMemories ? { user_id: userId } : {}),
    },
    {
      knowledge: {
        ...(collections ? { collections } : {}),
        sharedFor: { agentId: agent.id },
      },
      minSimilarity: MIN_SIMILARITY,
    },
  );
  const knowledge: Source[] = [];
  const memories: string[] = [];
  for (const item of context.items) {
    if (item.type === "memory") memories.push(item.text);
    else if (item.citation) {
      knowledge.push({ n: knowledge.length + 1, text: item.text, citation: citationOf(item) });
    }
  }
  return { knowledge, memories };
}

function citationOf(item: ContextItem): ChatCitation {
  const c = item.citation as NonNullable<ContextItem["citation"]>;
  const heading = c.heading_path.at(-1);
  return {
    document_id: c.document_id,
    title: c.filename,
    ...(c.page !== null ? { page: c.page } : {}),
    ...(heading ? { heading } : {}),
    snippet: snippet(item.text),
  };
}

/** At most SNIPPET_MAX characters, cut at a word with an ellipsis. */
function snippet(text: string): string {
  const flat = text.replace(/\s+/gu, " ").trim();
  if (flat.length <= SNIPPET_MAX) return flat;
  const cut = flat.slice(0, SNIPPET_MAX - 1).replace(/[\uD800-\uDBFF]$/u, "");
  const space = cut.lastIndexOf(" ");
  return `${(space > SNIPPET_MAX / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
