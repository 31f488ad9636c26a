import type {
  AcceptedAddResponse,
  AddMemoryBody,
  BatchAddMemoriesBody,
  MemoryEventRecord,
} from "@engram/contract";
import type { Queryable } from "../db/database.ts";
import { type IdempotencyKey, scopedIdempotency } from "../db/idempotency.ts";
import { notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import { requireScope, type TenantContext } from "../tenancy/context.ts";
import { assertQuotaHeadroom } from "../usage/metering.ts";
import type { MemoryAddQueue } from "./memory-add-queue.ts";
import type { EventOperation, MemoryEventStore } from "./memory-event-store.ts";
import type { MemoryService } from "./memory-service.ts";

/** A body as the worker runs it: the same add, without `async` (at any level). */
function withoutAsync<T extends { async?: boolean | undefined }>(body: T): Omit<T, "async"> {
  const { async: _, ...rest } = body;
  return rest;
}

/**
 * Asynchronous adds (ADR 0027): `async: true` validates the body as the synchronous add would,
 * refuses at once when the tenant's quota is already used up, then stores the event and enqueues
 * it in one transaction and answers 202; a worker runs the add (memory-event-worker.ts).
 */
export function createMemoryEventService(deps: {
  store: MemoryEventStore;
  queue: MemoryAddQueue;
  memories: Pick<MemoryService, "checkAddMemory" | "checkBatchAddMemories">;
  idempotencyTtlS: number;
  /** Quotas (ENGRAM_METERING): off, nothing is refused up front either. */
  metering: boolean;
  /**
   * The LLM budget check for `infer: true` (the LLM engine configured): throws 402
   * llm_budget_exceeded past the budget unless the operator lets the local engine take over.
   */
  admitInference?: ((tx: Queryable, ctx: TenantContext) => Promise<void>) | undefined;
}) {
  const { store, queue } = deps;

  function accept(
    ctx: TenantContext,
    operation: EventOperation,
    request: unknown,
    infer: boolean,
    key: IdempotencyKey | undefined,
  ): Promise<AcceptedAddResponse> {
    const id = newId("evt");
    const idem = key && scopedIdempotency(key, "memories", ctx.projectId, deps.idempotencyTtlS);
    return store.acceptEvent(
      ctx.tenantId,
      {
        id,
        projectId: ctx.projectId,
        keyId: ctx.actor.kind === "key" ? ctx.actor.keyId : null,
        operation,
        request,
      },
      idem,
      async (tx) => {
        if (deps.metering) await assertQuotaHeadroom(tx, ctx);
        if (infer) await deps.admitInference?.(tx, ctx);
      },
      (tx) => queue.enqueue(tx, { tenantId: ctx.tenantId, eventId: id }),
    );
  }

  return {
    /** POST /v1/memories with `async: true`: 202 with the event's id. */
    acceptAdd(
      ctx: TenantContext,
      body: AddMemoryBody,
      idem?: IdempotencyKey,
    ): Promise<AcceptedAddResponse> {
      deps.memories.checkAddMemory(ctx, body);
      return accept(ctx, "memory.add", withoutAsync(body), body.infer === true, idem);
    },

    /** POST /v1/memories/batch with `async: true`: 202 with the event's id. */
    acceptBatchAdd(
      ctx: TenantContext,
      body: BatchAddMemoriesBody,
      idem?: IdempotencyKey,
    ): Promise<AcceptedAddResponse> {
      deps.memories.checkBatchAddMemories(ctx, body);
      const request = { memories: body.memories.map((m) => withoutAsync(m)) };
      const infer = body.memories.some((m) => m.infer === true);
      return accept(ctx, "memory.batch_add", request, infer, idem);
    },

    /** GET /v1/events/{id}: an event of the caller's project; anything else is 404. */
    async getEvent(ctx: TenantContext, id: string): Promise<MemoryEventRecord> {
      requireScope(ctx, "memories:read");
      const event = isId("evt", id)
        ? await store.getEvent(ctx.tenantId, ctx.projectId, id)
        : undefined;
      if (!event) throw notFound("Event", id);
      return event;
    },
  };
}
export type MemoryEventService = ReturnType<typeof createMemoryEventService>;
