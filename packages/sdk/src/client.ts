import type {
  AddMemoryBody,
  AddMemoryResponse,
  BatchAddMemoriesBody,
  DeleteMemoriesQuery,
  DeleteMemoriesResponse,
  DeleteMemoryResponse,
  ListMemoriesQuery,
  ListMemoriesResponse,
  Memory,
  MemoryHistoryResponse,
  SearchMemoriesBody,
  SearchMemoriesResponse,
  UpdateMemoryBody,
} from "@engram/contract";
import { type ClientOptions, request } from "./http.ts";
import { KnowledgeClient } from "./knowledge.ts";

const enc = encodeURIComponent;

/** Client for a tenant's API key: the memory API. */
export class EngramClient {
  /** Documents, ingestion jobs and knowledge search. */
  readonly knowledge: KnowledgeClient;
  constructor(private readonly opts: ClientOptions) {
    this.knowledge = new KnowledgeClient(opts);
  }

  /** POST /v1/memories */
  addMemory(body: AddMemoryBody, options: { idempotencyKey?: string } = {}) {
    return request<AddMemoryResponse>(this.opts, "POST", "v1/memories", { body, ...options });
  }

  /** POST /v1/memories/batch */
  batchAddMemories(body: BatchAddMemoriesBody, options: { idempotencyKey?: string } = {}) {
    return request<AddMemoryResponse>(this.opts, "POST", "v1/memories/batch", { body, ...options });
  }

  /** POST /v1/memories/search */
  searchMemories(body: SearchMemoriesBody) {
    return request<SearchMemoriesResponse>(this.opts, "POST", "v1/memories/search", { body });
  }

  /** GET /v1/memories/{id} */
  getMemory(id: string) {
    return request<Memory>(this.opts, "GET", `v1/memories/${enc(id)}`);
  }

  /** PATCH /v1/memories/{id} */
  updateMemory(id: string, body: UpdateMemoryBody) {
    return request<Memory>(this.opts, "PATCH", `v1/memories/${enc(id)}`, { body });
  }

  /** DELETE /v1/memories/{id} */
  deleteMemory(id: string) {
    return request<DeleteMemoryResponse>(this.opts, "DELETE", `v1/memories/${enc(id)}`);
  }

  /** GET /v1/memories (one page) */
  listMemories(query: ListMemoriesQuery = {}) {
    return request<ListMemoriesResponse>(this.opts, "GET", "v1/memories", { query });
  }

  /** Every memory matching the scope, following cursors. */
  async *listAllMemories(query: Omit<ListMemoriesQuery, "cursor"> = {}) {
    let cursor: string | undefined;
    do {
      const page = await this.listMemories({ ...query, ...(cursor ? { cursor } : {}) });
      yield* page.results;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** DELETE /v1/memories?user_id=… (bulk, by scope) */
  deleteMemories(query: DeleteMemoriesQuery) {
    return request<DeleteMemoriesResponse>(this.opts, "DELETE", "v1/memories", { query });
  }

  /** GET /v1/memories/{id}/history */
  getMemoryHistory(id: string) {
    return request<MemoryHistoryResponse>(this.opts, "GET", `v1/memories/${enc(id)}/history`);
  }
}
