import {
  ErasureIdParams,
  ListUserErasuresQuery,
  ListUserErasuresResponse,
  UserErasure,
  UserIdParams,
} from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { ErasureService } from "./erasure-service.ts";

const common = { tags: ["erasure"], security: [{ apiKey: [] }] };

/** /v1/users/{user_id} and /v1/erasures: thin HTTP adapters over the erasure verbs. */
export function registerErasureRoutes(app: App, erasure: ErasureService, auth: Auth) {
  const onRequest = auth.tenant;

  app.delete(
    "/v1/users/:user_id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "eraseUser",
        summary:
          "Erase an end user: every memory, history row, event and document of the user in the project, in one transaction; answers the receipt",
        params: UserIdParams,
        response: { 200: UserErasure, ...problemResponses },
      },
    },
    async (request) => erasure.eraseUser(ctxOf(request), request.params.user_id),
  );

  app.get(
    "/v1/users/:user_id/erasures",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "listUserErasures",
        summary: "The receipts of this user id's erasures in the project, newest first",
        params: UserIdParams,
        querystring: ListUserErasuresQuery,
        response: { 200: ListUserErasuresResponse, ...problemResponses },
      },
    },
    async (request) =>
      erasure.listUserErasures(ctxOf(request), request.params.user_id, request.query),
  );

  app.get(
    "/v1/erasures/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "getErasure",
        summary: "An erasure's receipt (counts per table; the user id is kept only hashed)",
        params: ErasureIdParams,
        response: { 200: UserErasure, ...problemResponses },
      },
    },
    async (request) => erasure.getErasure(ctxOf(request), request.params.id),
  );
}
