import {
  AcceptedAddResponse,
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
  MemoryIdParams,
  SearchMemoriesBody,
  SearchMemoriesResponse,
  UpdateMemoryBody,
} from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { idempotencyOf, problemResponses } from "../http/route-helpers.ts";
import type { MemoryEventService } from "./memory-event-service.ts";
import type { MemoryService } from "./memory-service.ts";

const common = { tags: ["memories"], security: [{ apiKey: [] }] };

/** /v1/memories: thin HTTP adapters over the memory service verbs. */
export function registerMemoryRoutes(
  app: App,
  memories: MemoryService,
  auth: Auth,
  events: MemoryEventService,
) {
  const onRequest = auth.tenant;

  app.post(
    "/v1/memories",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "addMemory",
        summary: "Store a memory (text, or one per chat message)",
        body: AddMemoryBody,
        response: { 201: AddMemoryResponse, 202: AcceptedAddResponse, ...problemResponses },
      },
    },
    async (request, reply) => {
      if (request.body.async) {
        const accepted = events.acceptAdd(ctxOf(request), request.body, idempotencyOf(request));
        return reply.status(202).send(await accepted);
      }
      const result = await memories.addMemory(ctxOf(request), request.body, idempotencyOf(request));
      return reply.status(201).send(result);
    },
  );

  app.post(
    "/v1/memories/batch",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "batchAddMemories",
        summary: "Store up to 1,000 memories in one call",
        body: BatchAddMemoriesBody,
        response: { 201: AddMemoryResponse, 202: AcceptedAddResponse, ...problemResponses },
      },
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      if (request.body.async) {
        const accepted = events.acceptBatchAdd(ctx, request.body, idempotencyOf(request));
        return reply.status(202).send(await accepted);
      }
      const result = await memories.batchAddMemories(ctx, request.body, idempotencyOf(request));
      return reply.status(201).send(result);
    },
  );

  app.post(
    "/v1/memories/search",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "searchMemories",
        summary: "Hybrid (semantic + keyword) search, best first",
        body: SearchMemoriesBody,
        response: { 200: SearchMemoriesResponse, ...problemResponses },
      },
    },
    async (request) => memories.searchMemories(ctxOf(request), request.body),
  );

  app.get(
    "/v1/memories",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "listMemories",
        summary: "List memories, newest first, cursor-paginated",
        querystring: ListMemoriesQuery,
        response: { 200: ListMemoriesResponse, ...problemResponses },
      },
    },
    async (request) => memories.listMemories(ctxOf(request), request.query),
  );

  app.delete(
    "/v1/memories",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "deleteMemories",
        summary: "Delete every memory in a scope (at least one scope id)",
        querystring: DeleteMemoriesQuery,
        response: { 200: DeleteMemoriesResponse, ...problemResponses },
      },
    },
    async (request) => memories.deleteMemories(ctxOf(request), request.query),
  );

  app.get(
    "/v1/memories/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "getMemory",
        params: MemoryIdParams,
        response: { 200: Memory, ...problemResponses },
      },
    },
    async (request) => memories.getMemory(ctxOf(request), request.params.id),
  );

  app.patch(
    "/v1/memories/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "updateMemory",
        summary: "Change a memory's text (re-embedded) and/or metadata",
        params: MemoryIdParams,
        body: UpdateMemoryBody,
        response: { 200: Memory, ...problemResponses },
      },
    },
    async (request) => memories.updateMemory(ctxOf(request), request.params.id, request.body),
  );

  app.delete(
    "/v1/memories/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "deleteMemory",
        params: MemoryIdParams,
        response: { 200: DeleteMemoryResponse, ...problemResponses },
      },
    },
    async (request) => memories.deleteMemory(ctxOf(request), request.params.id),
  );

  app.get(
    "/v1/memories/:id/history",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "getMemoryHistory",
        summary: "Every ADD, UPDATE and DELETE of a memory, oldest first",
        params: MemoryIdParams,
        response: { 200: MemoryHistoryResponse, ...problemResponses },
      },
    },
    async (request) => memories.getMemoryHistory(ctxOf(request), request.params.id),
  );
}
