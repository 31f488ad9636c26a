import {
  CreatedWebhook,
  CreateWebhookBody,
  DeleteWebhookResponse,
  ListWebhookDeliveriesQuery,
  ListWebhookDeliveriesResponse,
  ListWebhooksQuery,
  ListWebhooksResponse,
  ObjectIdParams,
  UpdateWebhookBody,
  Webhook,
  WebhookDelivery,
  WebhookDeliveryParams,
} from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { WebhookService } from "./webhook-service.ts";

const common = { tags: ["webhooks"], security: [{ apiKey: [] }] };

/** /v1/webhooks: events pushed to the project's receivers, signed (docs/webhooks.md). */
export function registerWebhookRoutes(app: App, webhooks: WebhookService, auth: Auth) {
  const onRequest = auth.tenant;

  app.post(
    "/v1/webhooks",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "createWebhook",
        summary: "Create a webhook (its signing secret is shown this once)",
        body: CreateWebhookBody,
        response: { 201: CreatedWebhook, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await webhooks.createWebhook(ctxOf(request), request.body)),
  );

  app.get(
    "/v1/webhooks",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "listWebhooks",
        summary: "The project's webhooks, oldest first",
        querystring: ListWebhooksQuery,
        response: { 200: ListWebhooksResponse, ...problemResponses },
      },
    },
    async (request) => webhooks.listWebhooks(ctxOf(request), request.query),
  );

  app.get(
    "/v1/webhooks/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "getWebhook",
        summary: "A webhook (without its secret)",
        params: ObjectIdParams,
        response: { 200: Webhook, ...problemResponses },
      },
    },
    async (request) => webhooks.getWebhook(ctxOf(request), request.params.id),
  );

  app.patch(
    "/v1/webhooks/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "updateWebhook",
        summary: "Change a webhook's URL, events or whether it is enabled",
        params: ObjectIdParams,
        body: UpdateWebhookBody,
        response: { 200: Webhook, ...problemResponses },
      },
    },
    async (request) => webhooks.updateWebhook(ctxOf(request), request.params.id, request.body),
  );

  app.delete(
    "/v1/webhooks/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "deleteWebhook",
        summary: "Delete a webhook with its delivery log",
        params: ObjectIdParams,
        response: { 200: DeleteWebhookResponse, ...problemResponses },
      },
    },
    async (request) => webhooks.deleteWebhook(ctxOf(request), request.params.id),
  );

  app.get(
    "/v1/webhooks/:id/deliveries",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "listWebhookDeliveries",
        summary:
          "A webhook's deliveries, newest first: status, attempts, response, duration, error",
        params: ObjectIdParams,
        querystring: ListWebhookDeliveriesQuery,
        response: { 200: ListWebhookDeliveriesResponse, ...problemResponses },
      },
    },
    async (request) =>
      webhooks.listWebhookDeliveries(ctxOf(request), request.params.id, request.query),
  );

  app.post(
    "/v1/webhooks/:id/deliveries/:delivery_id/redeliver",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "redeliverWebhookDelivery",
        summary: "Send a delivery again (same event id), after the key's pending ones",
        params: WebhookDeliveryParams,
        response: { 202: WebhookDelivery, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply
        .status(202)
        .send(
          await webhooks.redeliverWebhookDelivery(
            ctxOf(request),
            request.params.id,
            request.params.delivery_id,
          ),
        ),
  );
}
