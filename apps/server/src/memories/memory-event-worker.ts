import { createHash } from "node:crypto";
import {
  type AddMemoryBody,
  type AddMemoryResponse,
  type BatchAddMemoriesBody,
  type Scope,
  Scopes,
} from "@engram/contract";
import type { IdempotencyKey } from "../db/idempotency.ts";
import { AppError } from "../lib/errors.ts";
import type { PlanCatalog } from "../plans/plans.ts";
import type { TenantContext } from "../tenancy/context.ts";
import type { JobLogger } from "../worker/job.ts";
import type { MemoryAddDelivery, MemoryAddMessage } from "./memory-add-queue.ts";
import type { MemoryEventStore, StartedEvent } from "./memory-event-store.ts";
import type { MemoryService } from "./memory-service.ts";

/**
 * The Idempotency-Key the worker runs an event's add under. It starts with U+0001, which no HTTP
 * header can carry, so no client key can ever equal it; a redelivered event (its worker died
 * after the add committed) replays the committed answer instead of adding twice. Erasing the
 * event's user records an empty answer under it first, so an add already started adds nothing.
 */
export function eventIdempotency(eventId: string): IdempotencyKey {
  return {
    key: `\u0001event:${eventId}`,
    requestHash: createHash("sha256").update(eventId).digest(),
  };
}

/** The add's tenant context, rebuilt for the event: its tenant, project and key, the plan now. */
function contextOf(
  tenantId: string,
  eventId: string,
  started: StartedEvent,
  plans: PlanCatalog,
): TenantContext {
  return {
    tenantId,
    projectId: started.projectId,
    actor: started.keyId ? { kind: "key", keyId: started.keyId } : { kind: "admin" },
    scopes: new Set(
      started.scopes.filter((s): s is Scope => (Scopes as readonly string[]).includes(s)),
    ),
    plan: plans.effective(started.plan, started.overrides),
    expiresAt: null,
    // Usage events are keyed by operation and request id: a redelivery never counts twice.
    requestId: eventId,
  };
}

/**
 * The job handler of asynchronous adds: runs the add through the memory service exactly as the
 * synchronous route would, then records its results. A problem the add itself answers (an
 * AppError: a quota, a bad scope, an LLM budget) fails the event at once with that problem;
 * anything else (the database, the embedder) is retried by the queue with backoff, and the event
 * fails once the retries are spent.
 */
export function createMemoryEventHandler(deps: {
  store: MemoryEventStore;
  memories: Pick<MemoryService, "addMemory" | "batchAddMemories">;
  plans: PlanCatalog;
  maxAttempts: number;
  log: JobLogger;
}) {
  const { store, memories, log } = deps;
  const gaveUp = {
    code: "internal_error",
    detail: `The add did not complete after ${deps.maxAttempts} attempts; send it again`,
  };

  async function handle(d: MemoryAddDelivery): Promise<void> {
    const { tenantId, eventId } = d.message;
    const started = await store.startEvent(tenantId, eventId);
    if (!started) return; // finished already (a redelivery), or gone with its tenant
    if (started.attempts > deps.maxAttempts) {
      // Every attempt so far died without finishing (a crash loop): give up.
      await store.finishEvent(tenantId, eventId, { status: "failed", error: gaveUp });
      log.warn({ tenantId, eventId }, "asynchronous add given up");
      return;
    }
    const ctx = contextOf(tenantId, eventId, started, deps.plans);
    const idem = eventIdempotency(eventId);
    try {
      const response: AddMemoryResponse =
        started.operation === "memory.add"
          ? await memories.addMemory(ctx, started.request as AddMemoryBody, idem)
          : await memories.batchAddMemories(ctx, started.request as BatchAddMemoriesBody, idem);
      await store.finishEvent(tenantId, eventId, {
        status: "succeeded",
        results: response.results,
        inference: response.inference ?? null,
      });
      log.info({ tenantId, eventId, results: response.results.length }, "asynchronous add done");
    } catch (err) {
      if (err instanceof AppError) {
        const error = {
          code: err.code,
          detail: err.message,
          ...(err.field !== undefined ? { field: err.field } : {}),
        };
        await store.finishEvent(tenantId, eventId, { status: "failed", error });
        log.info({ tenantId, eventId, code: err.code }, "asynchronous add failed");
        return;
      }
      await store.requeueEvent(tenantId, eventId).catch(() => {});
      log.warn({ tenantId, eventId, err }, "asynchronous add attempt failed; the queue retries it");
      throw err;
    }
  }

  /** An event whose retries are spent (from the dead-letter queue): it failed. */
  async function dead(m: MemoryAddMessage): Promise<void> {
    await store.finishEvent(m.tenantId, m.eventId, { status: "failed", error: gaveUp });
  }

  return { handle, dead };
}
