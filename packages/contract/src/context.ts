import Type, { type Static } from "typebox";
import { DateTime, ScopeId } from "./common.ts";
import { Citation } from "./knowledge.ts";
import { AsOf, QUERY_MAX, ReferenceTime } from "./memories.ts";

/** Smallest and largest token budget a context request may ask for. */
export const CONTEXT_BUDGET_MIN = 50;
export const CONTEXT_BUDGET_MAX = 32_000;
/** The budget when a request gives none. */
export const CONTEXT_BUDGET_DEFAULT = 1_000;

export const GetContextBody = Type.Object(
  {
    query: Type.String({ minLength: 1, maxLength: QUERY_MAX }),
    user_id: Type.Optional(ScopeId),
    agent_id: Type.Optional(ScopeId),
    session_id: Type.Optional(ScopeId),
    token_budget: Type.Optional(
      Type.Integer({
        minimum: CONTEXT_BUDGET_MIN,
        maximum: CONTEXT_BUDGET_MAX,
        default: CONTEXT_BUDGET_DEFAULT,
        description: "Most tokens `context` may take (o200k_base, the GPT-4o family's tokenizer)",
      }),
    ),
    include: Type.Optional(
      Type.Array(Type.Enum(["memories", "knowledge"] as const), {
        minItems: 1,
        maxItems: 2,
        uniqueItems: true,
        description:
          "Sources to draw from; default every source the key may read (memories:read, knowledge:read)",
      }),
    ),
    as_of: Type.Optional(AsOf),
    reference_time: Type.Optional(ReferenceTime),
    format: Type.Optional(
      Type.Enum(["text", "json"] as const, {
        default: "text",
        description: "`context` as prompt-ready lines (text) or as a JSON document (json)",
      }),
    ),
    filters: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: "Metadata filter on memories, as in memory search",
      }),
    ),
  },
  { additionalProperties: false, title: "GetContextBody" },
);
export type GetContextBody = Static<typeof GetContextBody>;

/** One memory or knowledge chunk packed into a context, best first. */
export const ContextItem = Type.Object(
  {
    type: Type.Enum(["memory", "knowledge"] as const),
    id: Type.String(),
    text: Type.String({
      description: "The text as it stands in `context` (whitespace collapsed; cut if truncated)",
    }),
    score: Type.Number(),
    valid_from: Type.Optional(DateTime),
    citation: Type.Optional(Citation),
    truncated: Type.Optional(
      Type.Boolean({ description: "True when the text was cut to fit the budget" }),
    ),
  },
  { title: "ContextItem" },
);
export type ContextItem = Static<typeof ContextItem>;

export const ContextResponse = Type.Object(
  {
    context: Type.String({ description: "Ready to paste into a prompt; never over the budget" }),
    items: Type.Array(ContextItem),
    tokens_used: Type.Integer({ description: "Tokens of `context`" }),
    token_budget: Type.Integer(),
  },
  { title: "ContextResponse" },
);
export type ContextResponse = Static<typeof ContextResponse>;
