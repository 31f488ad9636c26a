import type {
  AcceptedAddResponse,
  AddMemoryBody,
  AddMemoryResponse,
  ApiKey,
  BatchAddMemoriesBody,
  CategoriesResponse,
  ContextResponse,
  CreatedKey,
  CreateKeyBody,
  CreateProjectBody,
  DeleteEntityResponse,
  DeleteMemoriesQuery,
  DeleteMemoriesResponse,
  DeleteMemoryResponse,
  EntityDetail,
  GetContextBody,
  GetEntityQuery,
  ListAuditQuery,
  ListAuditResponse,
  ListEntitiesQuery,
  ListEntitiesResponse,
  ListKeysQuery,
  ListKeysResponse,
  ListMemoriesQuery,
  ListMemoriesResponse,
  ListProjectsResponse,
  ListUserErasuresQuery,
  ListUserErasuresResponse,
  Memory,
  MemoryEventRecord,
  MemoryHistoryResponse,
  Project,
  SearchMemoriesBody,
  SearchMemoriesResponse,
  SetCategoriesBody,
  UpdateMemoryBody,
  UsageHistoryQuery,
  UsageHistoryResponse,
  UsageResponse,
  UserErasure,
} from "@engram/contract";
import { AgentsClient } from "./agents.ts";
import { allPages, type ClientOptions, request } from "./http.ts";
import { KnowledgeClient } from "./knowledge.ts";
import { WebhooksClient } from "./webhooks.ts";

const enc = encodeURIComponent;

interface IdempotencyOptions {
  idempotencyKey?: string;
}

/** Client for a tenant's API key: the memory API. */
export class EngramClient {
  /** Documents, ingestion jobs and knowledge search. */
  readonly knowledge: KnowledgeClient;
  /** Agents, their chat (streamed or not) and their conversations. */
  readonly agents: AgentsClient;
  /** The project's webhooks and their delivery logs. */
  readonly webhooks: WebhooksClient;
  constructor(private readonly opts: ClientOptions) {
    this.knowledge = new KnowledgeClient(opts);
    this.agents = new AgentsClient(opts);
    this.webhooks = new WebhooksClient(opts);
  }

  /**
   * POST /v1/memories: 201 with the results. With `async: true` (or through addMemoryAsync) the
   * server answers 202 with an event id instead; poll it with getEvent or waitForEvent.
   */
  addMemory(
    body: AddMemoryBody & { async: true },
    options?: IdempotencyOptions,
  ): Promise<AcceptedAddResponse>;
  addMemory(body: AddMemoryBody, options?: IdempotencyOptions): Promise<AddMemoryResponse>;
  addMemory(body: AddMemoryBody, options: IdempotencyOptions = {}) {
    return request<AddMemoryResponse | AcceptedAddResponse>(this.opts, "POST", "v1/memories", {
      body,
      ...options,
    });
  }

  /** POST /v1/memories with `async: true`: 202 with the event id of the add. */
  addMemoryAsync(body: Omit<AddMemoryBody, "async">, options: IdempotencyOptions = {}) {
    return this.addMemory({ ...body, async: true }, options);
  }

  /** POST /v1/memories/batch: 201 with the results, or with `async: true` 202 with an event id. */
  batchAddMemories(
    body: BatchAddMemoriesBody & { async: true },
    options?: IdempotencyOptions,
  ): Promise<AcceptedAddResponse>;
  batchAddMemories(
    body: BatchAddMemoriesBody,
    options?: IdempotencyOptions,
  ): Promise<AddMemoryResponse>;
  batchAddMemories(body: BatchAddMemoriesBody, options: IdempotencyOptions = {}) {
    return request<AddMemoryResponse | AcceptedAddResponse>(
      this.opts,
      "POST",
      "v1/memories/batch",
      { body, ...options },
    );
  }

  /** POST /v1/memories/batch with `async: true`: 202 with the event id of the batch. */
  batchAddMemoriesAsync(
    body: Omit<BatchAddMemoriesBody, "async">,
    options: IdempotencyOptions = {},
  ) {
    return this.batchAddMemories({ ...body, async: true }, options);
  }

  /** GET /v1/events/{id}: an asynchronous add's status, then its results or its problem. */
  getEvent(id: string) {
    return request<MemoryEventRecord>(this.opts, "GET", `v1/events/${enc(id)}`);
  }

  /** Polls an asynchronous add until it succeeded or failed, or the timeout passes (then its last state). */
  async waitForEvent(id: string, opts: { timeoutMs?: number; intervalMs?: number } = {}) {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    for (;;) {
      const event = await this.getEvent(id);
      if (event.status === "succeeded" || event.status === "failed") return event;
      if (Date.now() > deadline) return event;
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
    }
  }

  /** POST /v1/memories/search */
  searchMemories(body: SearchMemoriesBody) {
    return request<SearchMemoriesResponse>(this.opts, "POST", "v1/memories/search", { body });
  }

  /**
   * POST /v1/context: the best memories and knowledge for a query, packed into `token_budget`
   * tokens (default 1,000) as prompt-ready text, or JSON with `format: "json"`.
   */
  context(body: GetContextBody) {
    return request<ContextResponse>(this.opts, "POST", "v1/context", { body });
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
  listAllMemories(query: Omit<ListMemoriesQuery, "cursor"> = {}) {
    return allPages((cursor) => this.listMemories({ ...query, ...cursor }));
  }

  /** DELETE /v1/memories?user_id=… (bulk, by scope) */
  deleteMemories(query: DeleteMemoriesQuery) {
    return request<DeleteMemoriesResponse>(this.opts, "DELETE", "v1/memories", { query });
  }

  /** GET /v1/memories/{id}/history */
  getMemoryHistory(id: string) {
    return request<MemoryHistoryResponse>(this.opts, "GET", `v1/memories/${enc(id)}/history`);
  }

  /**
   * DELETE /v1/users/{user_id} — erases the end user: every memory, history row, event and
   * document of the user in the key's project; answers the receipt (memories:write and
   * knowledge:write)
   */
  eraseUser(userId: string) {
    return request<UserErasure>(this.opts, "DELETE", `v1/users/${enc(userId)}`);
  }

  /** GET /v1/users/{user_id}/erasures — the receipts of this user id's erasures (memories:read) */
  listUserErasures(userId: string, query: ListUserErasuresQuery = {}) {
    return request<ListUserErasuresResponse>(this.opts, "GET", `v1/users/${enc(userId)}/erasures`, {
      query,
    });
  }

  /** Every erasure receipt of this user id, following cursors. */
  listAllUserErasures(userId: string, query: Omit<ListUserErasuresQuery, "cursor"> = {}) {
    return allPages((cursor) => this.listUserErasures(userId, { ...query, ...cursor }));
  }

  /** GET /v1/erasures/{id} — an erasure's receipt (memories:read) */
  getErasure(id: string) {
    return request<UserErasure>(this.opts, "GET", `v1/erasures/${enc(id)}`);
  }

  /**
   * GET /v1/entities — named entities, newest first; with `type: "user" | "agent" | "session"`,
   * the scope ids that have memories (memories:read)
   */
  listEntities(query: ListEntitiesQuery = {}) {
    return request<ListEntitiesResponse>(this.opts, "GET", "v1/entities", { query });
  }

  /** Every entity matching the query, following cursors. */
  listAllEntities(query: Omit<ListEntitiesQuery, "cursor"> = {}) {
    return allPages((cursor) => this.listEntities({ ...query, ...cursor }));
  }

  /** GET /v1/entities/{id} — with its current memories and relations (memories:read) */
  getEntity(id: string, query: GetEntityQuery = {}) {
    return request<EntityDetail>(this.opts, "GET", `v1/entities/${enc(id)}`, { query });
  }

  /**
   * DELETE /v1/entities/{id} — a named entity with its links and relations; `agent:…` and
   * `session:…` delete that scope's memories (memories:write)
   */
  deleteEntity(id: string) {
    return request<DeleteEntityResponse>(this.opts, "DELETE", `v1/entities/${enc(id)}`);
  }

  /** GET /v1/categories — the project's memory categories, or the defaults (memories:read) */
  getCategories() {
    return request<CategoriesResponse>(this.opts, "GET", "v1/categories");
  }

  /** PUT /v1/categories — replaces the project's memory categories (memories:write) */
  setCategories(body: SetCategoriesBody) {
    return request<CategoriesResponse>(this.opts, "PUT", "v1/categories", { body });
  }

  /** DELETE /v1/categories — back to the default memory categories (memories:write) */
  resetCategories() {
    return request<CategoriesResponse>(this.opts, "DELETE", "v1/categories");
  }

  /** GET /v1/usage — this period's usage against the plan (usage:read) */
  getUsage() {
    return request<UsageResponse>(this.opts, "GET", "v1/usage");
  }

  /** GET /v1/usage/history — operations per past period (usage:read) */
  getUsageHistory(query: UsageHistoryQuery = {}) {
    return request<UsageHistoryResponse>(this.opts, "GET", "v1/usage/history", { query });
  }

  /** Every past period's usage, newest first, following cursors. */
  listAllUsageHistory(query: Omit<UsageHistoryQuery, "cursor"> = {}) {
    return allPages((cursor) => this.getUsageHistory({ ...query, ...cursor }));
  }

  /** POST /v1/keys — keys:manage; at most the caller's scopes; the secret is shown once */
  createKey(body: CreateKeyBody = {}) {
    return request<CreatedKey>(this.opts, "POST", "v1/keys", { body });
  }

  /** GET /v1/keys (keys:manage) */
  listKeys(query: ListKeysQuery = {}) {
    return request<ListKeysResponse>(this.opts, "GET", "v1/keys", { query });
  }

  /** Every key of the tenant, following cursors. */
  listAllKeys(query: Omit<ListKeysQuery, "cursor"> = {}) {
    return allPages((cursor) => this.listKeys({ ...query, ...cursor }));
  }

  /** DELETE /v1/keys/{key_id} — revokes at once (keys:manage) */
  revokeKey(keyId: string) {
    return request<ApiKey>(this.opts, "DELETE", `v1/keys/${enc(keyId)}`);
  }

  /** GET /v1/projects (keys:manage) */
  listProjects() {
    return request<ListProjectsResponse>(this.opts, "GET", "v1/projects");
  }

  /** POST /v1/projects (keys:manage; the plan bounds how many) */
  createProject(body: CreateProjectBody) {
    return request<Project>(this.opts, "POST", "v1/projects", { body });
  }

  /** GET /v1/audit — the tenant's append-only audit log, newest first (keys:manage) */
  listAudit(query: ListAuditQuery = {}) {
    return request<ListAuditResponse>(this.opts, "GET", "v1/audit", { query });
  }

  /** The whole audit log, newest first, following cursors. */
  listAllAudit(query: Omit<ListAuditQuery, "cursor"> = {}) {
    return allPages((cursor) => this.listAudit({ ...query, ...cursor }));
  }
}
