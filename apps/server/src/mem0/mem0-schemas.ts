import {
  BATCH_MAX,
  MEMORY_TEXT_MAX,
  MESSAGES_MAX,
  Metadata,
  MetadataFilter,
  QUERY_MAX,
  ScopeId,
} from "@engram/contract";
import Type, { type Static } from "typebox";

// What mem0's MemoryClient (mem0ai 3.3.1) sends, bounded like Engram's own bodies. Fields mem0
// has and Engram cannot honour are left out, so they are refused as unknown fields (400 naming
// them) rather than silently ignored; fields that change nothing Engram returns (output formats,
// the calling surface) are accepted and ignored. docs/mem0-compatibility.md lists both.

const scopeIds = {
  user_id: Type.Optional(ScopeId),
  agent_id: Type.Optional(ScopeId),
  run_id: Type.Optional(ScopeId),
  /** Refused when given (Engram has no apps), named in the problem. */
  app_id: Type.Optional(ScopeId),
};

const ignored = {
  version: Type.Optional(Type.String({ maxLength: 16 })),
  output_format: Type.Optional(Type.String({ maxLength: 16 })),
  source: Type.Optional(Type.String({ maxLength: 64 })),
};

const Mem0Message = Type.Object(
  {
    role: Type.Union([Type.Literal("user"), Type.Literal("assistant"), Type.Literal("system")]),
    content: Type.String({ minLength: 1, maxLength: MEMORY_TEXT_MAX }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);

/** POST /v3/memories/add/ */
export const Mem0AddBody = Type.Object(
  {
    messages: Type.Union([
      Type.String({ minLength: 1, maxLength: MEMORY_TEXT_MAX }),
      Type.Array(Mem0Message, { minItems: 1, maxItems: MESSAGES_MAX }),
    ]),
    ...scopeIds,
    metadata: Type.Optional(Metadata),
    infer: Type.Optional(Type.Boolean({ default: true })),
    async_mode: Type.Optional(Type.Boolean({ default: true })),
    /** Unix seconds, as mem0 sends it. */
    timestamp: Type.Optional(Type.Number({ minimum: 0, maximum: 253_402_300_799 })),
    enable_graph: Type.Optional(Type.Boolean()),
    ...ignored,
  },
  { additionalProperties: false },
);
export type Mem0AddBody = Static<typeof Mem0AddBody>;

/** POST /v3/memories/search/ */
export const Mem0SearchBody = Type.Object(
  {
    query: Type.String({ minLength: 1, maxLength: QUERY_MAX }),
    filters: Type.Optional(MetadataFilter),
    top_k: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    rerank: Type.Optional(Type.Boolean()),
    categories: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { minItems: 1, maxItems: 100 }),
    ),
    metadata: Type.Optional(Metadata),
    latest_only: Type.Optional(Type.Boolean()),
    reference_date: Type.Optional(
      Type.Union([Type.String({ format: "date-time" }), Type.Number({ minimum: 0 })]),
    ),
    keyword_search: Type.Optional(Type.Boolean()),
    show_expired: Type.Optional(Type.Boolean()),
    fields: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
    ...ignored,
  },
  { additionalProperties: false },
);
export type Mem0SearchBody = Static<typeof Mem0SearchBody>;

/** POST /v3/memories/ (get all) */
export const Mem0GetAllBody = Type.Object(
  {
    filters: Type.Optional(MetadataFilter),
    latest_only: Type.Optional(Type.Boolean()),
    show_expired: Type.Optional(Type.Boolean()),
    fields: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
    ...ignored,
  },
  { additionalProperties: false },
);
export type Mem0GetAllBody = Static<typeof Mem0GetAllBody>;

/** mem0's page numbers (1-based) and page size on get all and the entity list. */
export const Mem0PageQuery = Type.Object(
  {
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
);
export type Mem0PageQuery = Static<typeof Mem0PageQuery>;

export const Mem0MemoryParams = Type.Object({ memory_id: Type.String({ maxLength: 64 }) });

export const Mem0EventParams = Type.Object({ event_id: Type.String({ maxLength: 64 }) });

/** PUT /v1/memories/{id}/ */
export const Mem0UpdateBody = Type.Object(
  {
    text: Type.Optional(Type.String({ minLength: 1, maxLength: MEMORY_TEXT_MAX })),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type Mem0UpdateBody = Static<typeof Mem0UpdateBody>;

/** DELETE /v1/memories/{id}/ */
export const Mem0DeleteQuery = Type.Object(
  { delete_linked: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

/** DELETE /v1/memories/ (delete all of a scope) */
export const Mem0DeleteAllQuery = Type.Object({ ...scopeIds }, { additionalProperties: false });
export type Mem0DeleteAllQuery = Static<typeof Mem0DeleteAllQuery>;

/** PUT /v1/batch/ */
export const Mem0BatchUpdateBody = Type.Object(
  {
    memories: Type.Array(
      Type.Object(
        {
          memory_id: Type.String({ maxLength: 64 }),
          text: Type.String({ minLength: 1, maxLength: MEMORY_TEXT_MAX }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: BATCH_MAX },
    ),
  },
  { additionalProperties: false },
);
export type Mem0BatchUpdateBody = Static<typeof Mem0BatchUpdateBody>;

/** DELETE /v1/batch/ */
export const Mem0BatchDeleteBody = Type.Object(
  {
    memories: Type.Array(
      Type.Object({ memory_id: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
      { minItems: 1, maxItems: BATCH_MAX },
    ),
  },
  { additionalProperties: false },
);
export type Mem0BatchDeleteBody = Static<typeof Mem0BatchDeleteBody>;

/** DELETE /v2/entities/{type}/{name}/ (and mem0's older /v1/entities/{type}/{id}/) */
export const Mem0EntityParams = Type.Object(
  {
    entity_type: Type.String({ maxLength: 16 }),
    entity_name: ScopeId,
  },
  { additionalProperties: false },
);
