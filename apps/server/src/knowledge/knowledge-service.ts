import { createHash } from "node:crypto";
import type {
  CreateDocumentBody,
  CreateDocumentResponse,
  DeleteDocumentResponse,
  IngestJob,
  KnowledgeDocument,
  ListDocumentsQuery,
  ListDocumentsResponse,
  ListJobsQuery,
  ListJobsResponse,
  Metadata,
  SearchKnowledgeBody,
  SearchKnowledgeResponse,
} from "@engram/contract";
import type { IngestConfig } from "../config/ingest-config.ts";
import { type IdempotencyKey, IdempotencyRace, scopedIdempotency } from "../db/idempotency.ts";
import { decodeIdCursor, nextIdCursor } from "../lib/cursor.ts";
import { AppError, notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import { checkMetadataSize } from "../lib/metadata.ts";
import { rerankedSearch } from "../rerank/rerank-hits.ts";
import type { Reranker } from "../rerank/reranker.ts";
import { checkFilter } from "../search/filter-sql.ts";
import { embeddingQuery, keywordQuery, vectorLiteral } from "../search/query-text.ts";
import { requireScope, type TenantContext } from "../tenancy/context.ts";
import { type QuotaThresholdHook, usageHook } from "../usage/metering.ts";
import type { DocumentStore } from "./document-store.ts";
import type { IngestJobStore } from "./ingest-job-store.ts";
import type { IngestQueue } from "./ingest-queue.ts";
import { type KnowledgeChangeHook, notifyKnowledgeChange } from "./knowledge-change.ts";
import type { KnowledgeSearchStore } from "./knowledge-search-store.ts";
import { MEDIA_TYPES, resolveMediaType } from "./parse-document.ts";

/** An upload as the routes hand it over: bytes already read (multipart) or decoded (JSON). */
export interface Upload {
  filename: string;
  mediaType: string | undefined;
  content: Buffer;
  metadata?: Metadata | undefined;
  user_id?: string | undefined;
  agent_id?: string | undefined;
  session_id?: string | undefined;
  collection?: string | undefined;
}

/**
 * What an internal caller (the chat engine) narrows a knowledge search to beyond the public body.
 * It travels inside the input so existing wiring passes it through; the route's body schema
 * allows no such field, so an API caller cannot set it.
 */
export interface KnowledgeNarrowing {
  /** Chunks of these collections only (an empty list finds nothing). */
  collections?: readonly string[] | undefined;
  /** Shared documents only: of no user and no session, and of no agent or this one. */
  sharedFor?: { agentId: string } | undefined;
}

/** A knowledge search's input: the public body, and an internal caller's narrowing. */
export type KnowledgeSearchInput = SearchKnowledgeBody & { narrowing?: KnowledgeNarrowing };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The knowledge verbs: uploads, documents, jobs and knowledge search. */
export function createKnowledgeService(deps: {
  documents: DocumentStore;
  jobs: IngestJobStore;
  search: KnowledgeSearchStore;
  queue: IngestQueue;
  embedder: { embedQuery(text: string): Promise<Float32Array> };
  /** The optional re-ranker (ENGRAM_RERANK_URL): reorders the best fused hits of a search. */
  reranker?: Reranker | undefined;
  config: IngestConfig;
  /** Quotas and metering (ENGRAM_METERING): a document's bytes count as the tenant's storage. */
  metering?: boolean;
  /** Told of quota thresholds a write crosses (webhooks' quota.threshold). */
  quotaThresholds?: QuotaThresholdHook | undefined;
  /** Seconds an Idempotency-Key is remembered (ENGRAM_IDEMPOTENCY_TTL_S). */
  idempotencyTtlS?: number;
  /** Told after a document is deleted (the chat cache's knowledge generation). */
  onKnowledgeChange?: KnowledgeChangeHook | undefined;
}) {
  const { documents, jobs, queue, config } = deps;
  const usage = (ctx: TenantContext, operation: string) =>
    deps.metering === false ? undefined : usageHook(ctx, operation, deps.quotaThresholds);

  /** A JSON body's content as bytes: text as UTF-8, or base64 decoded (strictly). */
  function decodeJsonBody(body: CreateDocumentBody): Upload {
    if ((body.text === undefined) === (body.content_base64 === undefined)) {
      throw new AppError("validation_failed", "Give exactly one of text or content_base64", "text");
    }
    let content: Buffer;
    if (body.text !== undefined) {
      content = Buffer.from(body.text, "utf8");
    } else {
      const b64 = (body.content_base64 as string).replace(/\s+/g, "");
      if (b64.length % 4 !== 0 || !BASE64.test(b64)) {
        throw new AppError(
          "validation_failed",
          "content_base64 is not valid base64",
          "content_base64",
        );
      }
      content = Buffer.from(b64, "base64");
    }
    return {
      filename: body.filename,
      mediaType:
        body.media_type ??
        (body.text !== undefined && !/\.[a-z]+$/i.test(body.filename) ? "text/plain" : undefined),
      content,
      metadata: body.metadata,
      user_id: body.user_id,
      agent_id: body.agent_id,
      session_id: body.session_id,
      collection: body.collection,
    };
  }

  return {
    decodeJsonBody,

    /** Stores an upload and queues its ingestion; answers at once with the document and job ids. */
    async createDocument(
      ctx: TenantContext,
      upload: Upload,
      key?: IdempotencyKey,
    ): Promise<CreateDocumentResponse> {
      requireScope(ctx, "knowledge:write");
      if (upload.content.length === 0) {
        throw new AppError("validation_failed", "The document is empty", "content");
      }
      if (upload.content.length > config.maxBytes) {
        throw new AppError(
          "payload_too_large",
          `The document is ${upload.content.length} bytes; the limit is ${config.maxBytes}`,
          "content",
        );
      }
      const mediaType = resolveMediaType(upload.mediaType, upload.filename);
      if (!mediaType) {
        throw new AppError(
          "unsupported_media_type",
          `Unsupported document type ${JSON.stringify(upload.mediaType ?? upload.filename).slice(0, 120)}; supported: ${Object.keys(MEDIA_TYPES).join(", ")}`,
          "media_type",
        );
      }
      checkMetadataSize(upload.metadata, "metadata");
      const idem =
        key && scopedIdempotency(key, "documents", ctx.projectId, deps.idempotencyTtlS ?? 86_400);
      if (idem) {
        const earlier = await documents.findIdempotent(ctx.tenantId, idem);
        if (earlier) return earlier as CreateDocumentResponse;
      }
      const id = newId("doc");
      const jobId = newId("job");
      const response = { document_id: id, job_id: jobId, status: "queued" };
      try {
        await documents.insertDocument(
          ctx.tenantId,
          {
            id,
            jobId,
            projectId: ctx.projectId,
            userId: upload.user_id ?? null,
            agentId: upload.agent_id ?? null,
            sessionId: upload.session_id ?? null,
            collection: upload.collection ?? null,
            filename: upload.filename,
            mediaType,
            metadata: upload.metadata ?? {},
            content: upload.content,
            sha256: createHash("sha256").update(upload.content).digest(),
          },
          // Fair share: a tenant's n-th waiting document gets priority -n, so one tenant's backlog
          // interleaves with another's first document instead of going ahead of it (ADR 0013).
          (tx, backlog) =>
            queue.enqueue(tx, { tenantId: ctx.tenantId, documentId: id, jobId }, -backlog),
          usage(ctx, "document.add"),
          idem && { request: idem, response },
        );
      } catch (err) {
        // A concurrent request with the same key committed first: answer with its response.
        if (idem && err instanceof IdempotencyRace) {
          return (await documents.findIdempotent(ctx.tenantId, idem)) as CreateDocumentResponse;
        }
        throw err;
      }
      return response;
    },

    /** One document of the caller's project, with its ingestion status. */
    async getDocument(ctx: TenantContext, id: string): Promise<KnowledgeDocument> {
      requireScope(ctx, "knowledge:read");
      const doc = isId("doc", id)
        ? await documents.getDocument(ctx.tenantId, ctx.projectId, id)
        : undefined;
      if (!doc) throw notFound("Document", id);
      return doc;
    },

    /** Documents newest first, narrowed by owner, collection or status; a page at a time. */
    async listDocuments(
      ctx: TenantContext,
      input: ListDocumentsQuery,
    ): Promise<ListDocumentsResponse> {
      requireScope(ctx, "knowledge:read");
      const before = decodeIdCursor(input.cursor, "doc");
      const page = await documents.listDocuments(
        ctx.tenantId,
        ctx.projectId,
        {
          userId: input.user_id,
          agentId: input.agent_id,
          sessionId: input.session_id,
          collection: input.collection,
          status: input.status,
        },
        input.limit ?? 20,
        before,
      );
      return { results: page.rows, next_cursor: nextIdCursor(page) };
    },

    /** Deletes a document with its chunks and vectors; an unfinished ingestion is cancelled. */
    async deleteDocument(ctx: TenantContext, id: string): Promise<DeleteDocumentResponse> {
      requireScope(ctx, "knowledge:write");
      const deleted = isId("doc", id)
        ? await documents.deleteDocument(
            ctx.tenantId,
            ctx.projectId,
            id,
            usage(ctx, "document.delete"),
          )
        : undefined;
      if (!deleted) throw notFound("Document", id);
      // After the commit, best effort: a job the queue still delivers finds no document.
      for (const q of deleted.queueJobIds) await queue.cancel(q).catch(() => {});
      await notifyKnowledgeChange(deps.onKnowledgeChange, ctx.tenantId, ctx.projectId);
      return { id, deleted: true };
    },

    /** One ingestion job of the caller's project. */
    async getJob(ctx: TenantContext, id: string): Promise<IngestJob> {
      requireScope(ctx, "knowledge:read");
      const job = isId("job", id) ? await jobs.getJob(ctx.tenantId, ctx.projectId, id) : undefined;
      if (!job) throw notFound("Job", id);
      return job;
    },

    /** Jobs newest first; `state: "dead"` lists the dead-letter queue. */
    async listJobs(ctx: TenantContext, input: ListJobsQuery): Promise<ListJobsResponse> {
      requireScope(ctx, "knowledge:read");
      const page = await jobs.listJobs(
        ctx.tenantId,
        ctx.projectId,
        input.state,
        input.limit ?? 20,
        decodeIdCursor(input.cursor, "job"),
      );
      return { results: page.rows, next_cursor: nextIdCursor(page) };
    },

    /** Puts a dead-lettered job back on the queue. */
    async retryJob(ctx: TenantContext, id: string): Promise<IngestJob> {
      requireScope(ctx, "knowledge:write");
      const job = await this.getJob(ctx, id);
      const retried = await jobs.retryJob(ctx.tenantId, ctx.projectId, id, (tx, documentId) =>
        queue.enqueue(tx, { tenantId: ctx.tenantId, documentId, jobId: id }, 0),
      );
      if (!retried) {
        throw new AppError(
          "conflict",
          `Job ${id} is ${job.state}; only a dead job can be retried`,
          "id",
        );
      }
      return (await jobs.getJob(ctx.tenantId, ctx.projectId, id)) as IngestJob;
    },

    /**
     * Hybrid search over the project's document chunks, each hit with its citation. A user_id
     * (agent_id, session_id) finds that user's documents and the shared ones, uploaded without a
     * user (agent, session); `filters` match the documents' metadata.
     */
    async searchKnowledge(
      ctx: TenantContext,
      input: KnowledgeSearchInput,
    ): Promise<SearchKnowledgeResponse> {
      requireScope(ctx, "knowledge:read");
      checkFilter(input.filters);
      if (input.document_id !== undefined && !isId("doc", input.document_id)) {
        return { results: [] };
      }
      const vector = await deps.embedder.embedQuery(embeddingQuery(input.query));
      const { hits: results, rerank } = await rerankedSearch({
        reranker: deps.reranker,
        requested: input.rerank,
        query: input.query,
        limit: input.limit ?? 10,
        search: (limit) =>
          deps.search(ctx.tenantId, {
            projectId: ctx.projectId,
            scope: {
              userId: input.user_id,
              agentId: input.agent_id,
              sessionId: input.session_id,
              collection: input.collection,
            },
            collections: input.narrowing?.collections,
            sharedFor: input.narrowing?.sharedFor,
            filter: input.filters,
            documentId: input.document_id,
            vector: vectorLiteral(vector),
            keywords: keywordQuery(input.query),
            limit,
            mode: input.mode ?? "hybrid",
          }),
        // The headings place a chunk in its document, as they do for the keyword side.
        text: (hit) => [...hit.citation.heading_path, hit.text].join("\n"),
      });
      return rerank ? { results, rerank } : { results };
    },
  };
}
export type KnowledgeService = ReturnType<typeof createKnowledgeService>;
