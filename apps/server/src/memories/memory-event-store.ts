import type {
  AcceptedAddResponse,
  AddMemoryResult,
  InferenceReport,
  MemoryEventRecord,
  PlanOverrides,
} from "@engram/contract";
import type { Database, Queryable } from "../db/database.ts";
import {
  findIdempotentResponse,
  IdempotencyRace,
  type IdempotencyRequest,
  saveIdempotentResponse,
} from "../db/idempotency.ts";

export type EventOperation = MemoryEventRecord["operation"];
type EventStatus = MemoryEventRecord["status"];
type EventError = NonNullable<MemoryEventRecord["error"]>;

export interface NewEvent {
  id: string;
  projectId: string;
  keyId: string | null;
  operation: EventOperation;
  /** The validated body without `async`. */
  request: unknown;
}

/** What the worker needs to run an event's add: who asked, under which plan, and what. */
export interface StartedEvent {
  projectId: string;
  keyId: string | null;
  operation: EventOperation;
  request: unknown;
  attempts: number;
  createdAt: Date;
  plan: string;
  overrides: PlanOverrides;
  /** The asking key's scopes now (empty when the key row is gone). */
  scopes: string[];
}

export type EventOutcome =
  | { status: "succeeded"; results: AddMemoryResult[]; inference: InferenceReport | null }
  | { status: "failed"; error: EventError };

const COLUMNS = "id, status, operation, results, inference, error, created_at, updated_at";

function toRecord(r: Record<string, unknown>): MemoryEventRecord {
  return {
    id: r.id as string,
    status: r.status as EventStatus,
    operation: r.operation as EventOperation,
    results: (r.results as AddMemoryResult[] | null) ?? null,
    inference: (r.inference as InferenceReport | null) ?? null,
    error: (r.error as EventError | null) ?? null,
    created_at: (r.created_at as Date).toISOString(),
    updated_at: (r.updated_at as Date).toISOString(),
  };
}

/** The accepted answer of an earlier request with the same key, with the event's status now. */
async function replay(
  tx: Queryable,
  tenantId: string,
  earlier: AcceptedAddResponse,
): Promise<AcceptedAddResponse> {
  const [row] = await tx.query<{ status: EventStatus }>(
    "SELECT status FROM memory_events WHERE tenant_id = $1 AND id = $2",
    [tenantId, earlier.event_id],
  );
  return { event_id: earlier.event_id, status: row?.status ?? earlier.status };
}

/**
 * Asynchronous adds' records (memory_events); every method runs under the tenant's RLS. The
 * request side also takes the caller's project: another project's event is not found. The
 * worker's side goes by event id (from the queue) and keeps the event's project.
 */
export function createMemoryEventStore(db: Database) {
  async function findAccepted(tenantId: string, idem: IdempotencyRequest) {
    return db.withTenant(tenantId, async (tx) => {
      const earlier = await findIdempotentResponse(tx, tenantId, idem);
      return earlier ? replay(tx, tenantId, earlier as AcceptedAddResponse) : undefined;
    });
  }

  return {
    /**
     * Stores the event (queued), enqueues it and records the Idempotency-Key's answer, in one
     * transaction; `admit` runs first inside it (the quota check). A key seen before answers
     * that request's event, with its current status.
     */
    async acceptEvent(
      tenantId: string,
      event: NewEvent,
      idem: IdempotencyRequest | undefined,
      admit: (tx: Queryable) => Promise<void>,
      enqueue: (tx: Queryable) => Promise<string>,
    ): Promise<AcceptedAddResponse> {
      if (idem) {
        const earlier = await findAccepted(tenantId, idem);
        if (earlier) return earlier;
      }
      try {
        return await db.withTenant(tenantId, async (tx) => {
          await admit(tx);
          await tx.query(
            `INSERT INTO memory_events (id, tenant_id, project_id, key_id, operation, request, status)
             VALUES ($1, $2, $3, $4, $5, $6, 'queued')`,
            [
              event.id,
              tenantId,
              event.projectId,
              event.keyId,
              event.operation,
              JSON.stringify(event.request),
            ],
          );
          const queueJobId = await enqueue(tx);
          await tx.query("UPDATE memory_events SET queue_job_id = $2 WHERE id = $1", [
            event.id,
            queueJobId,
          ]);
          const accepted: AcceptedAddResponse = { event_id: event.id, status: "queued" };
          if (idem && !(await saveIdempotentResponse(tx, tenantId, idem, 202, accepted))) {
            throw new IdempotencyRace();
          }
          return accepted;
        });
      } catch (err) {
        // A concurrent request with the same key committed first: answer with its event.
        if (idem && err instanceof IdempotencyRace) {
          const earlier = await findAccepted(tenantId, idem);
          if (earlier) return earlier;
        }
        throw err;
      }
    },

    async getEvent(
      tenantId: string,
      projectId: string,
      id: string,
    ): Promise<MemoryEventRecord | undefined> {
      const [row] = await db.withTenant(tenantId, (tx) =>
        tx.query(
          `SELECT ${COLUMNS} FROM memory_events WHERE tenant_id = $1 AND project_id = $2 AND id = $3`,
          [tenantId, projectId, id],
        ),
      );
      return row && toRecord(row);
    },

    // --- the worker's side ----------------------------------------------------------------

    /**
     * Starts a delivery: the event becomes running and the attempt is counted before any work.
     * Undefined when there is nothing to do (the event finished, or is gone with its tenant).
     */
    startEvent(tenantId: string, id: string): Promise<StartedEvent | undefined> {
      return db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<{
          project_id: string;
          key_id: string | null;
          operation: EventOperation;
          request: unknown;
          attempts: number;
          created_at: Date;
        }>(
          `UPDATE memory_events SET status = 'running', attempts = attempts + 1, updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')
           RETURNING project_id, key_id, operation, request, attempts, created_at`,
          [tenantId, id],
        );
        if (!row) return undefined;
        const [tenant] = await tx.query<{ plan: string; overrides: PlanOverrides }>(
          "SELECT plan, overrides FROM tenants WHERE id = $1",
          [tenantId],
        );
        const [key] = row.key_id
          ? await tx.query<{ scopes: string[] }>(
              "SELECT scopes FROM api_keys WHERE tenant_id = $1 AND id = $2",
              [tenantId, row.key_id],
            )
          : [];
        return {
          scopes: key?.scopes ?? [],
          projectId: row.project_id,
          keyId: row.key_id,
          operation: row.operation,
          request: row.request,
          attempts: Number(row.attempts),
          createdAt: row.created_at,
          plan: tenant?.plan ?? "",
          overrides: tenant?.overrides ?? {},
        };
      });
    },

    /** Back to queued after a failed attempt the queue retries. */
    async requeueEvent(tenantId: string, id: string): Promise<void> {
      await db.withTenant(tenantId, (tx) =>
        tx.query(
          `UPDATE memory_events SET status = 'queued', updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND status = 'running'`,
          [tenantId, id],
        ),
      );
    },

    /** Records how the event ended, unless it already has (a redelivery). */
    async finishEvent(tenantId: string, id: string, outcome: EventOutcome): Promise<void> {
      const ok = outcome.status === "succeeded";
      await db.withTenant(tenantId, (tx) =>
        tx.query(
          `UPDATE memory_events SET status = $3, results = $4, inference = $5, error = $6,
             updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')`,
          [
            tenantId,
            id,
            outcome.status,
            ok ? JSON.stringify(outcome.results) : null,
            ok && outcome.inference ? JSON.stringify(outcome.inference) : null,
            ok ? null : JSON.stringify(outcome.error),
          ],
        ),
      );
    },
  };
}
export type MemoryEventStore = ReturnType<typeof createMemoryEventStore>;
