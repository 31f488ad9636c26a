import type { Database, Queryable } from "../db/database.ts";
import { type AuditEntry, appendAudit } from "../tenancy/audit.ts";

export interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  status: "pending" | "succeeded" | "failed";
  attempts: number;
  response_status: number | null;
  duration_ms: number | null;
  error: string | null;
  created_at: Date;
  last_attempt_at: Date | null;
  delivered_at: Date | null;
}

/** The next delivery of an ordering key, with what sending it needs. */
export interface PendingDelivery {
  id: string;
  event_id: string;
  payload: unknown;
  url: string;
  secret: string;
  enabled: boolean;
}

/** The outcome of one attempt, and the status it leaves the delivery in. */
export interface AttemptRecord {
  status: "pending" | "succeeded" | "failed";
  responseStatus: number | null;
  durationMs: number;
  error: string | null;
  /** False for a delivery failed without an attempt (its webhook was disabled). */
  attempted: boolean;
}

const COLUMNS = "id, url, events, enabled, created_at, updated_at";
const DELIVERY_COLUMNS = `id, webhook_id, event_id, event_type, status, attempts, response_status,
  duration_ms, error, created_at, last_attempt_at, delivered_at`;

type Creation = { status: "exceeded"; count: number } | { status: "created"; row: WebhookRow };

/** SQL for webhooks and their deliveries; every method under the tenant's RLS context. */
export function createWebhookStore(db: Database) {
  return {
    /** Creates a webhook unless the project has `limit` already (its row lock serialises). */
    insertWebhook: (
      tenantId: string,
      hook: { id: string; projectId: string; url: string; events: string[]; secret: string },
      limit: number,
      audit: AuditEntry,
    ) =>
      db.withTenant(tenantId, async (tx): Promise<Creation> => {
        await tx.query("SELECT 1 FROM projects WHERE id = $1 FOR NO KEY UPDATE", [hook.projectId]);
        const [c] = await tx.query<{ n: string }>(
          "SELECT count(*) AS n FROM webhooks WHERE tenant_id = $1 AND project_id = $2",
          [tenantId, hook.projectId],
        );
        const count = Number(c?.n ?? 0);
        if (count >= limit) return { status: "exceeded", count };
        const [row] = await tx.query<WebhookRow>(
          `INSERT INTO webhooks (id, tenant_id, project_id, url, events, secret)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
          [hook.id, tenantId, hook.projectId, hook.url, hook.events, hook.secret],
        );
        await appendAudit(tx, tenantId, { ...audit, targetId: hook.id });
        return { status: "created", row: row as WebhookRow };
      }),

    listWebhooks: (tenantId: string, projectId: string, limit: number, after?: string) =>
      db.withTenant(tenantId, async (tx) => {
        const rows = await tx.query<WebhookRow>(
          `SELECT ${COLUMNS} FROM webhooks
           WHERE tenant_id = $1 AND project_id = $2 AND ($3::text IS NULL OR id > $3)
           ORDER BY id LIMIT $4`,
          [tenantId, projectId, after ?? null, limit + 1],
        );
        return { rows: rows.slice(0, limit), more: rows.length > limit };
      }),

    getWebhook: (tenantId: string, projectId: string, id: string) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<WebhookRow>(
          `SELECT ${COLUMNS} FROM webhooks WHERE tenant_id = $1 AND project_id = $2 AND id = $3`,
          [tenantId, projectId, id],
        );
        return row;
      }),

    updateWebhook: (
      tenantId: string,
      projectId: string,
      id: string,
      patch: {
        url?: string | undefined;
        events?: string[] | undefined;
        enabled?: boolean | undefined;
      },
      audit: AuditEntry,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<WebhookRow>(
          `UPDATE webhooks SET url = coalesce($4, url), events = coalesce($5, events),
                  enabled = coalesce($6, enabled), updated_at = now()
           WHERE tenant_id = $1 AND project_id = $2 AND id = $3 RETURNING ${COLUMNS}`,
          [tenantId, projectId, id, patch.url ?? null, patch.events ?? null, patch.enabled ?? null],
        );
        if (row) await appendAudit(tx, tenantId, { ...audit, targetId: id });
        return row;
      }),

    /** Deletes a webhook with its delivery log; its queued jobs then find nothing to send. */
    deleteWebhook: (tenantId: string, projectId: string, id: string, audit: AuditEntry) =>
      db.withTenant(tenantId, async (tx) => {
        const gone = await tx.query(
          "DELETE FROM webhooks WHERE tenant_id = $1 AND project_id = $2 AND id = $3 RETURNING id",
          [tenantId, projectId, id],
        );
        if (gone.length > 0) await appendAudit(tx, tenantId, { ...audit, targetId: id });
        return gone.length > 0;
      }),

    /** A webhook's deliveries, newest first. */
    listDeliveries: (
      tenantId: string,
      projectId: string,
      webhookId: string,
      opts: { limit: number; before?: string | undefined; status?: string | undefined },
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const rows = await tx.query<DeliveryRow>(
          `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
           WHERE tenant_id = $1 AND project_id = $2 AND webhook_id = $3
             AND ($4::text IS NULL OR id < $4) AND ($5::text IS NULL OR status = $5)
           ORDER BY id DESC LIMIT $6`,
          [
            tenantId,
            projectId,
            webhookId,
            opts.before ?? null,
            opts.status ?? null,
            opts.limit + 1,
          ],
        );
        return { rows: rows.slice(0, opts.limit), more: rows.length > opts.limit };
      }),

    /**
     * Puts a delivery back to pending and enqueues a job for its ordering key, in one
     * transaction; undefined when it is not this webhook's.
     */
    redeliver: (
      tenantId: string,
      projectId: string,
      webhookId: string,
      deliveryId: string,
      enqueue: (tx: Queryable, key: string) => Promise<unknown>,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<DeliveryRow & { ordering_key: string }>(
          `UPDATE webhook_deliveries SET status = 'pending', error = NULL
           WHERE tenant_id = $1 AND project_id = $2 AND webhook_id = $3 AND id = $4
           RETURNING ${DELIVERY_COLUMNS}, ordering_key`,
          [tenantId, projectId, webhookId, deliveryId],
        );
        if (row) await enqueue(tx, row.ordering_key);
        return row;
      }),

    /** The oldest pending delivery of an ordering key, with its webhook's URL and secret. */
    nextPending: (tenantId: string, webhookId: string, key: string) =>
      db.withTenant(tenantId, async (tx) => {
        const [row] = await tx.query<PendingDelivery>(
          `SELECT d.id, d.event_id, d.payload, w.url, w.secret, w.enabled
           FROM webhook_deliveries d JOIN webhooks w ON w.tenant_id = d.tenant_id AND w.id = d.webhook_id
           WHERE d.tenant_id = $1 AND d.webhook_id = $2 AND d.ordering_key = $3
             AND d.status = 'pending'
           ORDER BY d.seq LIMIT 1`,
          [tenantId, webhookId, key],
        );
        return row;
      }),

    recordAttempt: (tenantId: string, deliveryId: string, r: AttemptRecord) =>
      db.withTenant(tenantId, async (tx) => {
        await tx.query(
          `UPDATE webhook_deliveries SET status = $3, attempts = attempts + $4,
                  response_status = $5, duration_ms = $6, error = $7,
                  last_attempt_at = CASE WHEN $4 > 0 THEN now() ELSE last_attempt_at END,
                  delivered_at = CASE WHEN $3 = 'succeeded' THEN now() ELSE delivered_at END
           WHERE tenant_id = $1 AND id = $2`,
          [
            tenantId,
            deliveryId,
            r.status,
            r.attempted ? 1 : 0,
            r.responseStatus,
            r.durationMs,
            r.error,
          ],
        );
      }),
  };
}
export type WebhookStore = ReturnType<typeof createWebhookStore>;
