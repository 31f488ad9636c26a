import { ContextResponse, GetContextBody } from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { ContextService } from "./context-service.ts";

/** POST /v1/context: a thin adapter over the context verb. */
export function registerContextRoutes(app: App, context: ContextService, auth: Auth) {
  app.post(
    "/v1/context",
    {
      onRequest: auth.tenant,
      schema: {
        tags: ["context"],
        security: [{ apiKey: [] }],
        operationId: "getContext",
        summary:
          "The best memories and knowledge for a query, packed into a token budget for a prompt",
        body: GetContextBody,
        response: { 200: ContextResponse, ...problemResponses },
      },
    },
    async (request) => context.getContext(ctxOf(request), request.body),
  );
}
