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

/** Longest base64 or text content a JSON upload may carry (the server's byte limit may be lower). */
export const DOCUMENT_CONTENT_MAX = 128 * 1024 * 1024;
/** Longest knowledge search query, in characters. */
export const KNOWLEDGE_QUERY_MAX = 4_096;

export const DocumentId = PrefixedId("doc");
export const JobId = PrefixedId("job");

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);

const knowledgeScope = {
  user_id: Type.Optional(ScopeId),
  agent_id: Type.Optional(ScopeId),
  session_id: Type.Optional(ScopeId),
  collection: Type.Optional(ScopeId),
};

export const CreateDocumentBody = Type.Object(
  {
    filename: Type.String({ minLength: 1, maxLength: 255 }),
    media_type: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    text: Type.Optional(Type.String({ minLength: 1, maxLength: DOCUMENT_CONTENT_MAX })),
    content_base64: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: DOCUMENT_CONTENT_MAX,
        description: "The file's bytes, base64",
      }),
    ),
    metadata: Type.Optional(Metadata),
    ...knowledgeScope,
  },
  { additionalProperties: false, title: "CreateDocumentBody" },
);
export type CreateDocumentBody = Static<typeof CreateDocumentBody>;

export const CreateDocumentResponse = Type.Object(
  { document_id: DocumentId, job_id: JobId, status: Type.String() },
  { title: "CreateDocumentResponse" },
);
export type CreateDocumentResponse = Static<typeof CreateDocumentResponse>;

export const DocumentStatus = Type.Enum(["queued", "processing", "ready", "failed"] as const);

export const KnowledgeDocument = Type.Object(
  {
    id: DocumentId,
    project_id: Type.String({ description: "The project of the key that uploaded it" }),
    filename: Type.String(),
    media_type: Type.String(),
    status: DocumentStatus,
    error: Nullable(Type.String()),
    size_bytes: Type.Integer(),
    page_count: Nullable(Type.Integer()),
    chunk_count: Type.Integer(),
    user_id: Nullable(Type.String()),
    agent_id: Nullable(Type.String()),
    session_id: Nullable(Type.String()),
    collection: Nullable(Type.String()),
    metadata: Metadata,
    job_id: Nullable(JobId),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: "KnowledgeDocument" },
);
export type KnowledgeDocument = Static<typeof KnowledgeDocument>;

export const ListDocumentsQuery = Type.Object(
  {
    ...knowledgeScope,
    status: Type.Optional(DocumentStatus),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type ListDocumentsQuery = Static<typeof ListDocumentsQuery>;

export const ListDocumentsResponse = Type.Object(
  { results: Type.Array(KnowledgeDocument), next_cursor: Nullable(Type.String()) },
  { title: "ListDocumentsResponse" },
);
export type ListDocumentsResponse = Static<typeof ListDocumentsResponse>;

export const DeleteDocumentResponse = Type.Object({ id: DocumentId, deleted: Type.Boolean() });
export type DeleteDocumentResponse = Static<typeof DeleteDocumentResponse>;

export const JobState = Type.Enum([
  "queued",
  "active",
  "completed",
  "failed",
  "dead",
  "cancelled",
] as const);

export const IngestJob = Type.Object(
  {
    id: JobId,
    document_id: DocumentId,
    state: JobState,
    stage: Nullable(Type.String({ description: "parse, chunk, embed or index while active" })),
    progress: Type.Number({ minimum: 0, maximum: 1 }),
    attempts: Type.Integer(),
    max_attempts: Type.Integer(),
    error: Nullable(Type.String()),
    created_at: DateTime,
    started_at: Nullable(DateTime),
    finished_at: Nullable(DateTime),
  },
  { title: "IngestJob" },
);
export type IngestJob = Static<typeof IngestJob>;

export const ListJobsQuery = Type.Object(
  {
    state: Type.Optional(JobState),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type ListJobsQuery = Static<typeof ListJobsQuery>;

export const ListJobsResponse = Type.Object(
  { results: Type.Array(IngestJob), next_cursor: Nullable(Type.String()) },
  { title: "ListJobsResponse" },
);
export type ListJobsResponse = Static<typeof ListJobsResponse>;

export const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

export const SearchKnowledgeBody = Type.Object(
  {
    query: Type.String({ minLength: 1, maxLength: KNOWLEDGE_QUERY_MAX }),
    ...knowledgeScope,
    filters: Type.Optional(MetadataFilter),
    document_id: Type.Optional(Type.String({ maxLength: 64 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
    mode: Type.Optional(Type.Enum(["hybrid", "vector", "keyword"] as const, { default: "hybrid" })),
    rerank: Type.Optional(RerankRequest),
  },
  { additionalProperties: false, title: "SearchKnowledgeBody" },
);
export type SearchKnowledgeBody = Static<typeof SearchKnowledgeBody>;

export const Citation = Type.Object(
  {
    document_id: DocumentId,
    filename: Type.String(),
    media_type: Type.String(),
    chunk_index: Type.Integer(),
    page: Nullable(Type.Integer()),
    heading_path: Type.Array(Type.String()),
    start_offset: Type.Integer(),
    end_offset: Type.Integer(),
  },
  { title: "Citation" },
);
export type Citation = Static<typeof Citation>;

export const KnowledgeHit = Type.Object(
  {
    type: Type.Literal("knowledge"),
    id: Type.String(),
    text: Type.String(),
    collection: Nullable(Type.String()),
    metadata: Metadata,
    citation: Citation,
    score: Type.Number(),
    scores: Type.Object({
      vector: Nullable(Type.Number()),
      keyword: Nullable(Type.Number()),
      rerank: Type.Union([Type.Number(), Type.Null()], {
        description: "The re-ranker's relevance score; null when the hit was not re-ranked",
      }),
    }),
  },
  { title: "KnowledgeHit" },
);
export type KnowledgeHit = Static<typeof KnowledgeHit>;

export const SearchKnowledgeResponse = Type.Object(
  { results: Type.Array(KnowledgeHit), rerank: Type.Optional(RerankStatus) },
  { title: "SearchKnowledgeResponse" },
);
export type SearchKnowledgeResponse = Static<typeof SearchKnowledgeResponse>;
