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
  SearchKnowledgeBody,
  SearchKnowledgeResponse,
} from "@engram/contract";
import { allPages, type ClientOptions, errorOf, fetchWithRetries, request } from "./http.ts";

const enc = encodeURIComponent;

/** The knowledge API of a tenant key: documents, ingestion jobs and knowledge search. */
export class KnowledgeClient {
  constructor(private readonly opts: ClientOptions) {}

  /** POST /v1/documents (JSON: text or content_base64) */
  createDocument(body: CreateDocumentBody, options: { idempotencyKey?: string } = {}) {
    return request<CreateDocumentResponse>(this.opts, "POST", "v1/documents", {
      body,
      ...options,
    });
  }

  /** POST /v1/documents (multipart): uploads bytes as the `file` part, with optional fields. */
  async uploadDocument(
    file: { bytes: Uint8Array; filename: string; mediaType?: string },
    fields: Omit<CreateDocumentBody, "filename" | "text" | "content_base64" | "metadata"> & {
      metadata?: Record<string, unknown>;
    } = {},
    options: { idempotencyKey?: string } = {},
  ): Promise<CreateDocumentResponse> {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) form.set(k, typeof v === "string" ? v : JSON.stringify(v));
    }
    const type = file.mediaType ?? "application/octet-stream";
    form.set("file", new Blob([new Uint8Array(file.bytes)], { type }), file.filename);
    const url = new URL(
      "v1/documents",
      this.opts.baseUrl.endsWith("/") ? this.opts.baseUrl : `${this.opts.baseUrl}/`,
    );
    const res = await fetchWithRetries(this.opts, url, () => ({
      method: "POST",
      headers: {
        authorization: `Bearer ${this.opts.token}`,
        ...(options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {}),
      },
      body: form,
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 120_000),
    }));
    const data = await res.json();
    if (!res.ok) throw errorOf(res, data);
    return data as CreateDocumentResponse;
  }

  /** GET /v1/documents (one page) */
  listDocuments(query: ListDocumentsQuery = {}) {
    return request<ListDocumentsResponse>(this.opts, "GET", "v1/documents", { query });
  }

  /** Every document matching the query, following cursors. */
  listAllDocuments(query: Omit<ListDocumentsQuery, "cursor"> = {}) {
    return allPages((cursor) => this.listDocuments({ ...query, ...cursor }));
  }

  /** GET /v1/documents/{id} */
  getDocument(id: string) {
    return request<KnowledgeDocument>(this.opts, "GET", `v1/documents/${enc(id)}`);
  }

  /** DELETE /v1/documents/{id} */
  deleteDocument(id: string) {
    return request<DeleteDocumentResponse>(this.opts, "DELETE", `v1/documents/${enc(id)}`);
  }

  /** GET /v1/jobs/{id} */
  getJob(id: string) {
    return request<IngestJob>(this.opts, "GET", `v1/jobs/${enc(id)}`);
  }

  /** GET /v1/jobs (state=dead: the dead-letter queue) */
  listJobs(query: ListJobsQuery = {}) {
    return request<ListJobsResponse>(this.opts, "GET", "v1/jobs", { query });
  }

  /** Every job matching the query, following cursors. */
  listAllJobs(query: Omit<ListJobsQuery, "cursor"> = {}) {
    return allPages((cursor) => this.listJobs({ ...query, ...cursor }));
  }

  /** POST /v1/jobs/{id}/retry */
  retryJob(id: string) {
    return request<IngestJob>(this.opts, "POST", `v1/jobs/${enc(id)}/retry`);
  }

  /** Polls a job until it is no longer queued or active (or the timeout passes). */
  async waitForJob(id: string, opts: { timeoutMs?: number; intervalMs?: number } = {}) {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    for (;;) {
      const job = await this.getJob(id);
      if (job.state !== "queued" && job.state !== "active") return job;
      if (Date.now() > deadline) return job;
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
    }
  }

  /** POST /v1/knowledge/search */
  searchKnowledge(body: SearchKnowledgeBody) {
    return request<SearchKnowledgeResponse>(this.opts, "POST", "v1/knowledge/search", { body });
  }
}
