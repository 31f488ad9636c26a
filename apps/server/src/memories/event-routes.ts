import { EventIdParams, MemoryEventRecord } from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { MemoryEventService } from "./memory-event-service.ts";

/** /v1/events: what became of an asynchronous add (ADR 0027). */
export function registerEventRoutes(app: App, events: MemoryEventService, auth: Auth) {
  app.get(
    "/v1/events/:id",
    {
      onRequest: auth.tenant,
      schema: {
        tags: ["memories"],
        security: [{ apiKey: [] }],
        operationId: "getEvent",
        summary: "An asynchronous add: its status, then its results or its problem",
        params: EventIdParams,
        response: { 200: MemoryEventRecord, ...problemResponses },
      },
    },
    async (request) => events.getEvent(ctxOf(request), request.params.id),
  );
}
