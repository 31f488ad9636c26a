import {
  type CreatedWebhook,
  type CreateWebhookBody,
  type ListWebhookDeliveriesResponse,
  type ListWebhooksResponse,
  type UpdateWebhookBody,
  WEBHOOKS_PER_PROJECT_MAX,
  type Webhook,
  type WebhookDelivery,
  type WebhookEventType,
} from "@engram/contract";
import type { WebhooksConfig } from "../config/webhooks-config.ts";
import { decodeIdCursor, pageOf } from "../lib/cursor.ts";
import { AppError, notFound } from "../lib/errors.ts";
import { isId, newId } from "../lib/ids.ts";
import { actorName, requireScope, type TenantContext } from "../tenancy/context.ts";
import { queueKey, type WebhookQueue } from "./webhook-queue.ts";
import { checkWebhookUrl, RefusedDestination } from "./webhook-sender.ts";
import { newWebhookSecret } from "./webhook-signature.ts";
import type { DeliveryRow, WebhookRow, WebhookStore } from "./webhook-store.ts";

function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    events: row.events as WebhookEventType[],
    enabled: row.enabled,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    webhook_id: row.webhook_id,
    event_id: row.event_id,
    event_type: row.event_type as WebhookEventType,
    status: row.status,
    attempts: row.attempts,
    response_status: row.response_status,
    duration_ms: row.duration_ms,
    error: row.error,
    created_at: row.created_at.toISOString(),
    last_attempt_at: row.last_attempt_at?.toISOString() ?? null,
    delivered_at: row.delivered_at?.toISOString() ?? null,
  };
}

/** Webhooks of the key's project: created, listed, changed, deleted; their log and redelivery. */
export function createWebhookService(deps: {
  store: WebhookStore;
  queue: WebhookQueue;
  config: Pick<WebhooksConfig, "allowHttp" | "allowPrivate">;
}) {
  const { store, queue, config } = deps;

  /** A URL's form: https (unless allowed), no credentials, no non-public IP literal (unless allowed). */
  function validUrl(url: string): string {
    try {
      return checkWebhookUrl(url, config).toString();
    } catch (err) {
      if (err instanceof RefusedDestination)
        throw new AppError("validation_failed", err.message, "url");
      throw err;
    }
  }

  async function find(ctx: TenantContext, id: string): Promise<WebhookRow> {
    const row = isId("whk", id)
      ? await store.getWebhook(ctx.tenantId, ctx.projectId, id)
      : undefined;
    if (!row) throw notFound("Webhook", id);
    return row;
  }

  return {
    /** Creates a webhook; its signing secret is generated unless given, and shown this once. */
    async createWebhook(ctx: TenantContext, input: CreateWebhookBody): Promise<CreatedWebhook> {
      requireScope(ctx, "webhooks:write");
      const url = validUrl(input.url);
      const secret = input.secret ?? newWebhookSecret();
      const id = newId("whk");
      const out = await store.insertWebhook(
        ctx.tenantId,
        { id, projectId: ctx.projectId, url, events: input.events, secret },
        WEBHOOKS_PER_PROJECT_MAX,
        {
          actor: actorName(ctx.actor),
          action: "webhook.create",
          details: { project_id: ctx.projectId, url, events: input.events },
        },
      );
      if (out.status === "exceeded") {
        throw new AppError(
          "conflict",
          `A project has at most ${WEBHOOKS_PER_PROJECT_MAX} webhooks (it has ${out.count}); delete one first`,
        );
      }
      return { ...toWebhook(out.row), secret };
    },

    async listWebhooks(
      ctx: TenantContext,
      query: { limit?: number | undefined; cursor?: string | undefined },
    ): Promise<ListWebhooksResponse> {
      requireScope(ctx, "webhooks:read");
      const after = decodeIdCursor(query.cursor, "whk");
      const page = await store.listWebhooks(ctx.tenantId, ctx.projectId, query.limit ?? 20, after);
      return pageOf(page, toWebhook);
    },

    async getWebhook(ctx: TenantContext, id: string): Promise<Webhook> {
      requireScope(ctx, "webhooks:read");
      return toWebhook(await find(ctx, id));
    },

    async updateWebhook(
      ctx: TenantContext,
      id: string,
      input: UpdateWebhookBody,
    ): Promise<Webhook> {
      requireScope(ctx, "webhooks:write");
      const url = input.url === undefined ? undefined : validUrl(input.url);
      const row = isId("whk", id)
        ? await store.updateWebhook(
            ctx.tenantId,
            ctx.projectId,
            id,
            { url, events: input.events, enabled: input.enabled },
            {
              actor: actorName(ctx.actor),
              action: "webhook.update",
              details: { project_id: ctx.projectId, fields: Object.keys(input) },
            },
          )
        : undefined;
      if (!row) throw notFound("Webhook", id);
      return toWebhook(row);
    },

    async deleteWebhook(ctx: TenantContext, id: string) {
      requireScope(ctx, "webhooks:write");
      const gone =
        isId("whk", id) &&
        (await store.deleteWebhook(ctx.tenantId, ctx.projectId, id, {
          actor: actorName(ctx.actor),
          action: "webhook.delete",
          details: { project_id: ctx.projectId },
        }));
      if (!gone) throw notFound("Webhook", id);
      return { id, deleted: true };
    },

    async listWebhookDeliveries(
      ctx: TenantContext,
      id: string,
      query: {
        limit?: number | undefined;
        cursor?: string | undefined;
        status?: string | undefined;
      },
    ): Promise<ListWebhookDeliveriesResponse> {
      requireScope(ctx, "webhooks:read");
      await find(ctx, id);
      const before = decodeIdCursor(query.cursor, "dlv");
      const page = await store.listDeliveries(ctx.tenantId, ctx.projectId, id, {
        limit: query.limit ?? 20,
        before,
        status: query.status,
      });
      return pageOf(page, toDelivery);
    },

    /** Sends a delivery again (its event id unchanged), whatever became of it. */
    async redeliverWebhookDelivery(
      ctx: TenantContext,
      id: string,
      deliveryId: string,
    ): Promise<WebhookDelivery> {
      requireScope(ctx, "webhooks:write");
      await find(ctx, id);
      const row = isId("dlv", deliveryId)
        ? await store.redeliver(ctx.tenantId, ctx.projectId, id, deliveryId, (tx, key) =>
            queue.enqueue(tx, { tenantId: ctx.tenantId, webhookId: id, key }, 0, queueKey(id, key)),
          )
        : undefined;
      if (!row) throw notFound("Delivery", deliveryId);
      return toDelivery(row);
    },
  };
}
export type WebhookService = ReturnType<typeof createWebhookService>;
