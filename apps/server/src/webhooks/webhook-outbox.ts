import type { WebhookEventType } from "@engram/contract";
import type { Queryable } from "../db/database.ts";
import { newId } from "../lib/ids.ts";
import type { QuotaThresholdHook } from "../usage/metering.ts";
import { queueKey, type WebhookQueue } from "./webhook-queue.ts";

/** One event of a change, as the change's store reports it. */
export interface WebhookEvent {
  type: WebhookEventType;
  /** What the event's deliveries are ordered by: the memory's or document's id. */
  key: string;
  data: Record<string, unknown>;
  /** The end user it is about (memory events): erasing them erases the payloads too. */
  userId?: string | null | undefined;
}

/**
 * Called by a store inside the change's transaction: records one delivery per subscribed webhook
 * of the project (null: every project of the tenant, for tenant-wide events) and enqueues its
 * job in the same transaction, so a committed change always has its deliveries and a rolled-back
 * one never does (the outbox is the delivery table itself).
 */
export type EmitWebhooks = (
  tx: Queryable,
  tenantId: string,
  projectId: string | null,
  events: WebhookEvent[],
) => Promise<void>;

export function createWebhookOutbox(queue: WebhookQueue): EmitWebhooks {
  return async (tx, tenantId, projectId, events) => {
    if (events.length === 0) return;
    const types = [...new Set(events.map((e) => e.type))];
    const hooks = await tx.query<{ id: string; project_id: string; events: string[] }>(
      `SELECT id, project_id, events FROM webhooks
       WHERE tenant_id = $1 AND ($2::text IS NULL OR project_id = $2) AND enabled
         AND events && $3::text[]
       ORDER BY id`,
      [tenantId, projectId, types],
    );
    if (hooks.length === 0) return;
    const rows: {
      id: string;
      projectId: string;
      webhookId: string;
      eventId: string;
      type: string;
      key: string;
      payload: string;
      userId: string | null;
    }[] = [];
    const timestamp = new Date().toISOString();
    for (const e of events) {
      const eventId = newId("whmsg");
      const payload = JSON.stringify({ type: e.type, timestamp, data: e.data });
      for (const h of hooks) {
        if (!h.events.includes(e.type)) continue;
        rows.push({
          id: newId("dlv"),
          projectId: h.project_id,
          webhookId: h.id,
          eventId,
          type: e.type,
          key: e.key,
          payload,
          userId: e.userId ?? null,
        });
      }
    }
    if (rows.length === 0) return;
    // One statement; seq (an identity) numbers the rows in this order.
    await tx.query(
      `INSERT INTO webhook_deliveries (id, tenant_id, project_id, webhook_id, event_id, event_type,
                                       ordering_key, payload, user_id)
       SELECT d.id, $2, d.project_id, d.webhook_id, d.event_id, d.event_type, d.ordering_key,
              d.payload, d.user_id
       FROM unnest($1::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                   $8::jsonb[], $9::text[]) WITH ORDINALITY
         AS d(id, project_id, webhook_id, event_id, event_type, ordering_key, payload, user_id, n)
       ORDER BY d.n`,
      [
        rows.map((r) => r.id),
        tenantId,
        rows.map((r) => r.projectId),
        rows.map((r) => r.webhookId),
        rows.map((r) => r.eventId),
        rows.map((r) => r.type),
        rows.map((r) => r.key),
        rows.map((r) => r.payload),
        rows.map((r) => r.userId),
      ],
    );
    for (const r of rows) {
      await queue.enqueue(
        tx,
        { tenantId, webhookId: r.webhookId, key: r.key },
        0,
        queueKey(r.webhookId, r.key),
      );
    }
  };
}

/**
 * quota.threshold for every project of the tenant (a quota is the tenant's, whichever project's
 * write crossed it), ordered per metric.
 */
export function quotaThresholdHook(emit: EmitWebhooks): QuotaThresholdHook {
  return (tx, tenantId, crossed) =>
    emit(
      tx,
      tenantId,
      null,
      crossed.map((c) => ({
        type: "quota.threshold",
        key: `quota:${c.metric}`,
        data: {
          metric: c.metric,
          threshold: c.threshold,
          used: c.used,
          limit: c.limit,
          period_start: c.periodStart,
        },
      })),
    );
}
