import Type, { type Static } from "typebox";
import { DateTime, Metadata, PrefixedId, ScopeId } from "./common.ts";
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
    infer: Type.Optional(Type.Boolean()),
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
});
export type AddMemoryResult = Static<typeof AddMemoryResult>;

export const AddMemoryResponse = Type.Object(
  { results: Type.Array(AddMemoryResult) },
  { title: "AddMemoryResponse" },
);
export type AddMemoryResponse = Static<typeof AddMemoryResponse>;

export const BatchAddMemoriesBody = Type.Object(
  { memories: Type.Array(AddMemoryBody, { minItems: 1, maxItems: BATCH_MAX }) },
  { additionalProperties: false, title: "BatchAddMemoriesBody" },
);
export type BatchAddMemoriesBody = Static<typeof BatchAddMemoriesBody>;

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
    filters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
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
  },
  { additionalProperties: false, title: "SearchMemoriesBody" },
);
export type SearchMemoriesBody = Static<typeof SearchMemoriesBody>;

export const SearchHit = Type.Object({
  ...Memory.properties,
  score: Type.Number(),
  scores: Type.Object({
    vector: Type.Union([Type.Number(), Type.Null()]),
    keyword: Type.Union([Type.Number(), Type.Null()]),
  }),
});
export type SearchHit = Static<typeof SearchHit>;

export const SearchMemoriesResponse = Type.Object(
  { results: Type.Array(SearchHit), knowledge: Type.Optional(Type.Array(KnowledgeHit)) },
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

export const HistoryEntry = Type.Object({
  id: Type.String(),
  memory_id: MemoryId,
  event: MemoryEvent,
  old_memory: Type.Union([Type.String(), Type.Null()]),
  new_memory: Type.Union([Type.String(), Type.Null()]),
  old_metadata: Type.Union([Metadata, Type.Null()]),
  new_metadata: Type.Union([Metadata, Type.Null()]),
  created_at: DateTime,
});
export type HistoryEntry = Static<typeof HistoryEntry>;

export const MemoryHistoryResponse = Type.Object(
  { results: Type.Array(HistoryEntry) },
  { title: "MemoryHistoryResponse" },
);
export type MemoryHistoryResponse = Static<typeof MemoryHistoryResponse>;
