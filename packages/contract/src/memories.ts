import Type, { type Static } from "typebox";
import {
  DateTime,
  Metadata,
  MetadataFilter,
  PrefixedId,
  RerankRequest,
  RerankStatus,
  ScopeId,
} from "./common.ts";
import { KnowledgeHit } from "./knowledge.ts";

/** Longest memory text or message content accepted, in characters. */
export const MEMORY_TEXT_MAX = 16_384;
/** Most messages in one add request. */
export const MESSAGES_MAX = 100;
/** Most memories in one batch add. */
export const BATCH_MAX = 1_000;
/** Longest search query, in characters. */
export const QUERY_MAX = 4_096;

export const MemoryId = PrefixedId("mem");

export const Message = Type.Object(
  {
    role: Type.Union([
      Type.Literal("user"),
      Type.Literal("assistant"),
      Type.Literal("system"),
      Type.Literal("tool"),
    ]),
    content: Type.String({ minLength: 1, maxLength: MEMORY_TEXT_MAX }),
    name: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description: "The speaker; first-person statements are attributed to it (infer: true)",
      }),
    ),
    id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: "The caller's id for the message, kept in inferred memories' provenance",
      }),
    ),
    timestamp: Type.Optional(
      Type.String({
        format: "date-time",
        description: "When it was said; relative dates in it resolve against this",
      }),
    ),
  },
  { additionalProperties: false },
);
export type Message = Static<typeof Message>;

const scopeFields = {
  user_id: Type.Optional(ScopeId),
  agent_id: Type.Optional(ScopeId),
  session_id: Type.Optional(ScopeId),
};

export const AddMemoryBody = Type.Object(
  {
    text: Type.Optional(Type.String({ minLength: 1, maxLength: MEMORY_TEXT_MAX })),
    messages: Type.Optional(Type.Array(Message, { minItems: 1, maxItems: MESSAGES_MAX })),
    ...scopeFields,
    metadata: Type.Optional(Metadata),
    timestamp: Type.Optional(DateTime),
    infer: Type.Optional(
      Type.Boolean({
        description:
          "Extract facts and reconcile them with the scope's memories (ADD, UPDATE, DELETE, NOOP)",
      }),
    ),
    async: Type.Optional(
      Type.Boolean({
        description: "Answer 202 with an event id at once; GET /v1/events/{id} gives the results",
      }),
    ),
  },
  { additionalProperties: false, title: "AddMemoryBody" },
);
export type AddMemoryBody = Static<typeof AddMemoryBody>;

export const MemoryEvent = Type.Union([
  Type.Literal("ADD"),
  Type.Literal("UPDATE"),
  Type.Literal("DELETE"),
  Type.Literal("NOOP"),
]);
export type MemoryEvent = Static<typeof MemoryEvent>;

export const AddMemoryResult = Type.Object({
  id: MemoryId,
  memory: Type.String(),
  event: MemoryEvent,
  role: Type.Optional(Type.String()),
  previous_memory: Type.Optional(
    Type.String({ description: "UPDATE and DELETE: the text before this decision" }),
  ),
  supersedes: Type.Optional(
    Type.String({ description: "UPDATE by supersession: the memory this one replaced" }),
  ),
  reason: Type.Optional(Type.String({ description: "infer: true: why this decision was made" })),
});
export type AddMemoryResult = Static<typeof AddMemoryResult>;

/** Which inference engine decided, and why it fell back to the local one if it did. */
export const InferenceReport = Type.Object({
  engine: Type.Enum(["local", "llm"] as const),
  fallback: Type.Optional(
    Type.String({ description: "Why the LLM engine's work was handed to the local engine" }),
  ),
});
export type InferenceReport = Static<typeof InferenceReport>;

export const AddMemoryResponse = Type.Object(
  { results: Type.Array(AddMemoryResult), inference: Type.Optional(InferenceReport) },
  { title: "AddMemoryResponse" },
);
export type AddMemoryResponse = Static<typeof AddMemoryResponse>;

export const BatchAddMemoriesBody = Type.Object(
  {
    memories: Type.Array(AddMemoryBody, { minItems: 1, maxItems: BATCH_MAX }),
    async: Type.Optional(
      Type.Boolean({
        description:
          "Answer 202 with an event id at once; GET /v1/events/{id} gives the results (an item's own `async` is ignored)",
      }),
    ),
  },
  { additionalProperties: false, title: "BatchAddMemoriesBody" },
);
export type BatchAddMemoriesBody = Static<typeof BatchAddMemoriesBody>;

/** Provenance: one message an inferred memory came from. */
export const MessageSource = Type.Object({
  index: Type.Integer({ minimum: 0, description: "Position in the request's messages" }),
  id: Type.Optional(Type.String({ description: "The message's id, when the caller gave one" })),
  role: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
});
export type MessageSource = Static<typeof MessageSource>;

/** An instant memories are read at (search, list, context). */
export const AsOf = Type.String({
  format: "date-time",
  description: "Only memories valid at this instant (valid_from <= as_of < valid_to)",
});

/** The instant a query's relative times are read against (search, context); default now. */
export const ReferenceTime = Type.String({
  format: "date-time",
  description:
    'The "now" that time words in the query ("last summer", "two weeks ago") resolve against, and that recency counts from; default: now',
});

/** Validity selection shared by search and list. */
const timeFields = {
  as_of: Type.Optional(AsOf),
  include_superseded: Type.Optional(
    Type.Boolean({ description: "Also memories no longer valid, with their validity" }),
  ),
};

export const Memory = Type.Object(
  {
    id: MemoryId,
    project_id: Type.String({ description: "The project of the key that stored it" }),
    memory: Type.String(),
    role: Type.Union([Type.String(), Type.Null()]),
    user_id: Type.Union([Type.String(), Type.Null()]),
    agent_id: Type.Union([Type.String(), Type.Null()]),
    session_id: Type.Union([Type.String(), Type.Null()]),
    metadata: Metadata,
    timestamp: Type.Union([DateTime, Type.Null()]),
    valid_from: Type.Union([DateTime, Type.Null()], {
      description: "When it became true: the resolved event date, else when it was said or stored",
    }),
    valid_to: Type.Union([DateTime, Type.Null()], {
      description: "When it stopped being true (superseded or contradicted); null while current",
    }),
    superseded_by: Type.Union([MemoryId, Type.Null()]),
    categories: Type.Array(Type.String()),
    sources: Type.Array(MessageSource, {
      description: "The messages it came from (infer: true), by position in the request",
    }),
    embedding_model: Type.String(),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: "Memory" },
);
export type Memory = Static<typeof Memory>;

export const SearchMemoriesBody = Type.Object(
  {
    query: Type.String({ minLength: 1, maxLength: QUERY_MAX }),
    ...scopeFields,
    filters: Type.Optional(MetadataFilter),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
    threshold: Type.Optional(
      Type.Number({
        minimum: -1,
        maximum: 1,
        description: "Minimum cosine similarity (scores.vector) a result must have",
      }),
    ),
    mode: Type.Optional(
      Type.Enum(["hybrid", "vector", "keyword"] as const, {
        default: "hybrid",
        description: "Ranking: fused (default), semantic only, or full-text only",
      }),
    ),
    include: Type.Optional(
      Type.Array(Type.Enum(["memories", "knowledge"] as const), {
        maxItems: 2,
        uniqueItems: true,
        description: 'Add "knowledge" to also search document chunks (returned in `knowledge`)',
      }),
    ),
    reference_time: Type.Optional(ReferenceTime),
    ...timeFields,
    rerank: Type.Optional(RerankRequest),
    recency: Type.Optional(
      Type.Object(
        {
          half_life_days: Type.Number({ minimum: 0.01, maximum: 36500 }),
          weight: Type.Optional(
            Type.Number({
              minimum: 0,
              maximum: 1,
              default: 0.5,
              description: "Share of the score that decays: 1 weighs by recency alone",
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            "Favour newer memories: a memory's score decays by half every half_life_days of age (valid_from to reference_time)",
        },
      ),
    ),
    signals: Type.Optional(
      Type.Object(
        {
          entities: Type.Optional(Type.Boolean({ default: true })),
          time: Type.Optional(Type.Boolean({ default: true })),
          context: Type.Optional(Type.Boolean({ default: true })),
        },
        {
          additionalProperties: false,
          description:
            "Hybrid ranking's signals besides vector and keyword, each on by default: memories linked to the query's entities, the time window the query names, and session neighbours' scores (context). All off: the plain two-list fusion",
        },
      ),
    ),
  },
  { additionalProperties: false, title: "SearchMemoriesBody" },
);
export type SearchMemoriesBody = Static<typeof SearchMemoriesBody>;

export const SearchHit = Type.Object({
  ...Memory.properties,
  score: Type.Number(),
  scores: Type.Object(
    {
      vector: Type.Union([Type.Number(), Type.Null()]),
      keyword: Type.Union([Type.Number(), Type.Null()]),
      entity: Type.Optional(
        Type.Union([Type.Number(), Type.Null()], {
          description:
            "Weighted links to the query's entities (null: the query named none of the scope's)",
        }),
      ),
      time: Type.Optional(
        Type.Union([Type.Number(), Type.Null()], {
          description:
            "1 when valid_from is inside the time window the query names, else 0 (null: none named)",
        }),
      ),
      recency: Type.Optional(
        Type.Number({
          description: "The recency factor applied (0..1), when recency was asked for",
        }),
      ),
      rerank: Type.Union([Type.Number(), Type.Null()], {
        description: "The re-ranker's relevance score; null when the hit was not re-ranked",
      }),
    },
    { description: "Why the hit ranks where it does: its score on each signal" },
  ),
});
export type SearchHit = Static<typeof SearchHit>;

export const SearchMemoriesResponse = Type.Object(
  {
    results: Type.Array(SearchHit),
    knowledge: Type.Optional(Type.Array(KnowledgeHit)),
    rerank: Type.Optional(RerankStatus),
  },
  { title: "SearchMemoriesResponse" },
);
export type SearchMemoriesResponse = Static<typeof SearchMemoriesResponse>;

export const UpdateMemoryBody = Type.Object(
  {
    text: Type.Optional(Type.String({ minLength: 1, maxLength: MEMORY_TEXT_MAX })),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false, minProperties: 1, title: "UpdateMemoryBody" },
);
export type UpdateMemoryBody = Static<typeof UpdateMemoryBody>;

export const MemoryIdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

export const ListMemoriesQuery = Type.Object(
  {
    ...scopeFields,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 64 })),
    ...timeFields,
  },
  { additionalProperties: false },
);
export type ListMemoriesQuery = Static<typeof ListMemoriesQuery>;

export const ListMemoriesResponse = Type.Object(
  { results: Type.Array(Memory), next_cursor: Type.Union([Type.String(), Type.Null()]) },
  { title: "ListMemoriesResponse" },
);
export type ListMemoriesResponse = Static<typeof ListMemoriesResponse>;

export const DeleteMemoriesQuery = Type.Object({ ...scopeFields }, { additionalProperties: false });
export type DeleteMemoriesQuery = Static<typeof DeleteMemoriesQuery>;

export const DeleteMemoriesResponse = Type.Object(
  { deleted: Type.Integer() },
  { title: "DeleteMemoriesResponse" },
);
export type DeleteMemoriesResponse = Static<typeof DeleteMemoriesResponse>;

export const DeleteMemoryResponse = Type.Object({ id: MemoryId, deleted: Type.Boolean() });
export type DeleteMemoryResponse = Static<typeof DeleteMemoryResponse>;

export const HistorySource = Type.Object({
  ...MessageSource.properties,
  content: Type.String(),
});
export type HistorySource = Static<typeof HistorySource>;

export const HistoryEntry = Type.Object({
  id: Type.String(),
  memory_id: MemoryId,
  event: MemoryEvent,
  old_memory: Type.Union([Type.String(), Type.Null()]),
  new_memory: Type.Union([Type.String(), Type.Null()]),
  old_metadata: Type.Union([Metadata, Type.Null()]),
  new_metadata: Type.Union([Metadata, Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  related_memory_id: Type.Union([MemoryId, Type.Null()], {
    description: "The memory this one superseded, or was superseded by, or duplicated",
  }),
  sources: Type.Union([Type.Array(HistorySource), Type.Null()], {
    description: "The messages this decision came from, with their text",
  }),
  engine: Type.Union([Type.Enum(["local", "llm"] as const), Type.Null()]),
  created_at: DateTime,
});
export type HistoryEntry = Static<typeof HistoryEntry>;

export const MemoryHistoryResponse = Type.Object(
  { results: Type.Array(HistoryEntry) },
  { title: "MemoryHistoryResponse" },
);
export type MemoryHistoryResponse = Static<typeof MemoryHistoryResponse>;

/** 202 for `async: true`: the add runs on the queue; poll GET /v1/events/{id}. */
export const AcceptedAddResponse = Type.Object(
  {
    event_id: PrefixedId("evt"),
    status: Type.Enum(["queued", "running", "succeeded", "failed"] as const),
  },
  { title: "AcceptedAddResponse" },
);
export type AcceptedAddResponse = Static<typeof AcceptedAddResponse>;

export const EventIdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

/** An asynchronous add: its status, then its per-fact results (or the problem it ended with). */
export const MemoryEventRecord = Type.Object(
  {
    id: PrefixedId("evt"),
    status: Type.Enum(["queued", "running", "succeeded", "failed"] as const),
    operation: Type.Enum(["memory.add", "memory.batch_add"] as const),
    results: Type.Union([Type.Array(AddMemoryResult), Type.Null()]),
    inference: Type.Union([InferenceReport, Type.Null()]),
    error: Type.Union([
      Type.Object({
        code: Type.String(),
        detail: Type.String(),
        field: Type.Optional(Type.String()),
      }),
      Type.Null(),
    ]),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: "MemoryEventRecord" },
);
export type MemoryEventRecord = Static<typeof MemoryEventRecord>;
