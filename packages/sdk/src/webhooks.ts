import type {
  CreatedWebhook,
  CreateWebhookBody,
  ListWebhookDeliveriesResponse,
  ListWebhooksResponse,
  UpdateWebhookBody,
  Webhook,
  WebhookDelivery,
} from "@engram/contract";
import { allPages, type ClientOptions, request } from "./http.ts";

const enc = encodeURIComponent;

type DeliveryQuery = { limit?: number; cursor?: string; status?: WebhookDelivery["status"] };

/** The project's webhooks and their delivery logs (webhooks:read, webhooks:write). */
export class WebhooksClient {
  constructor(private readonly opts: ClientOptions) {}

  /** POST /v1/webhooks — the secret (given, or a generated whsec_…) is shown only here */
  createWebhook(body: CreateWebhookBody) {
    return request<CreatedWebhook>(this.opts, "POST", "v1/webhooks", { body });
  }

  /** GET /v1/webhooks (one page) */
  listWebhooks(query: { limit?: number; cursor?: string } = {}) {
    return request<ListWebhooksResponse>(this.opts, "GET", "v1/webhooks", { query });
  }

  /** Every webhook of the project, following cursors. */
  listAllWebhooks(query: { limit?: number } = {}) {
    return allPages((cursor) => this.listWebhooks({ ...query, ...cursor }));
  }

  /** GET /v1/webhooks/{id} */
  getWebhook(id: string) {
    return request<Webhook>(this.opts, "GET", `v1/webhooks/${enc(id)}`);
  }

  /** PATCH /v1/webhooks/{id} */
  updateWebhook(id: string, body: UpdateWebhookBody) {
    return request<Webhook>(this.opts, "PATCH", `v1/webhooks/${enc(id)}`, { body });
  }

  /** DELETE /v1/webhooks/{id} */
  deleteWebhook(id: string) {
    return request<{ id: string; deleted: boolean }>(this.opts, "DELETE", `v1/webhooks/${enc(id)}`);
  }

  /** GET /v1/webhooks/{id}/deliveries — the delivery log, newest first (one page) */
  listDeliveries(id: string, query: DeliveryQuery = {}) {
    return request<ListWebhookDeliveriesResponse>(
      this.opts,
      "GET",
      `v1/webhooks/${enc(id)}/deliveries`,
      { query },
    );
  }

  /** The whole delivery log of a webhook, following cursors. */
  listAllDeliveries(id: string, query: Omit<DeliveryQuery, "cursor"> = {}) {
    return allPages((cursor) => this.listDeliveries(id, { ...query, ...cursor }));
  }

  /** POST /v1/webhooks/{id}/deliveries/{delivery_id}/redeliver — sends it again (202) */
  redeliver(id: string, deliveryId: string) {
    return request<WebhookDelivery>(
      this.opts,
      "POST",
      `v1/webhooks/${enc(id)}/deliveries/${enc(deliveryId)}/redeliver`,
    );
  }
}
