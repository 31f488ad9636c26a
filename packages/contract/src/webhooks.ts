import Type, { type Static } from "typebox";
import { DateTime, PrefixedId } from "./common.ts";

const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const WebhookId = PrefixedId("whk");
export const WebhookDeliveryId = PrefixedId("dlv");

/** Every event a webhook can subscribe to (docs/webhooks.md#events). */
export const WebhookEventTypes = [
  "memory.created",
  "memory.updated",
  "memory.deleted",
  "memory.superseded",
  "document.ready",
  "document.failed",
  "job.dead",
  "quota.threshold",
] as const;
export type WebhookEventType = (typeof WebhookEventTypes)[number];

/** Most webhooks one project may have. */
export const WEBHOOKS_PER_PROJECT_MAX = 20;
/** Longest webhook URL, in characters. */
export const WEBHOOK_URL_MAX = 2_000;

const WebhookUrl = Type.String({
  minLength: 8,
  maxLength: WEBHOOK_URL_MAX,
  pattern: "^[Hh][Tt][Tt][Pp][Ss]?://",
  description: "Where events are POSTed: https:// (http:// only where the operator allows it)",
});

const Events = Type.Array(Type.Enum(WebhookEventTypes), {
  minItems: 1,
  maxItems: WebhookEventTypes.length,
  uniqueItems: true,
  description: "The events this webhook receives",
});

/** A signing secret as Standard Webhooks writes it: whsec_ and base64 of 24 to 64 bytes. */
const WebhookSecret = Type.String({
  pattern: "^whsec_[A-Za-z0-9+/]{32,88}={0,2}$",
  description: "whsec_ followed by base64 of 24 to 64 random bytes; generated when absent",
});

export const CreateWebhookBody = Type.Object(
  {
    url: WebhookUrl,
    events: Events,
    secret: Type.Optional(WebhookSecret),
  },
  { additionalProperties: false, title: "CreateWebhookBody" },
);
export type CreateWebhookBody = Static<typeof CreateWebhookBody>;

export const UpdateWebhookBody = Type.Object(
  {
    url: Type.Optional(WebhookUrl),
    events: Type.Optional(Events),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1, title: "UpdateWebhookBody" },
);
export type UpdateWebhookBody = Static<typeof UpdateWebhookBody>;

const webhookFields = {
  id: WebhookId,
  url: Type.String(),
  events: Type.Array(Type.Enum(WebhookEventTypes)),
  enabled: Type.Boolean(),
  created_at: DateTime,
  updated_at: DateTime,
};

export const Webhook = Type.Object(webhookFields, { title: "Webhook" });
export type Webhook = Static<typeof Webhook>;

/** The creation's answer: the webhook and its signing secret, shown this once. */
export const CreatedWebhook = Type.Object(
  { ...webhookFields, secret: Type.String() },
  { title: "CreatedWebhook" },
);
export type CreatedWebhook = Static<typeof CreatedWebhook>;

export const ListWebhooksResponse = Type.Object(
  { results: Type.Array(Webhook), next_cursor: Nullable(Type.String()) },
  { title: "ListWebhooksResponse" },
);
export type ListWebhooksResponse = Static<typeof ListWebhooksResponse>;

export const DeleteWebhookResponse = Type.Object(
  { id: Type.String(), deleted: Type.Boolean() },
  { title: "DeleteWebhookResponse" },
);

/** One delivery of one event to one webhook, as the delivery log shows it (never the secret). */
export const WebhookDelivery = Type.Object(
  {
    id: WebhookDeliveryId,
    webhook_id: WebhookId,
    event_id: Type.String(),
    event_type: Type.Enum(WebhookEventTypes),
    status: Type.Enum(["pending", "succeeded", "failed"] as const),
    attempts: Type.Integer(),
    response_status: Nullable(Type.Integer()),
    duration_ms: Nullable(Type.Integer()),
    error: Nullable(Type.String()),
    created_at: DateTime,
    last_attempt_at: Nullable(DateTime),
    delivered_at: Nullable(DateTime),
  },
  { title: "WebhookDelivery" },
);
export type WebhookDelivery = Static<typeof WebhookDelivery>;

export const ListWebhookDeliveriesResponse = Type.Object(
  { results: Type.Array(WebhookDelivery), next_cursor: Nullable(Type.String()) },
  { title: "ListWebhookDeliveriesResponse" },
);
export type ListWebhookDeliveriesResponse = Static<typeof ListWebhookDeliveriesResponse>;

export const ListWebhooksQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const ListWebhookDeliveriesQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    status: Type.Optional(Type.Enum(["pending", "succeeded", "failed"] as const)),
  },
  { additionalProperties: false },
);

export const WebhookDeliveryParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  delivery_id: Type.String({ minLength: 1, maxLength: 64 }),
});
