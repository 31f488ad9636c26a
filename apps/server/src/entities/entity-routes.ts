import {
  DeleteEntityResponse,
  EntityDetail,
  EntityIdParams,
  GetEntityQuery,
  ListEntitiesQuery,
  ListEntitiesResponse,
} from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { EntityService } from "./entity-service.ts";

const common = { tags: ["entities"], security: [{ apiKey: [] }] };

/** /v1/entities: the people, places, organisations… memories mention (docs/entities.md). */
export function registerEntityRoutes(app: App, entities: EntityService, auth: Auth) {
  const onRequest = auth.tenant;

  app.get(
    "/v1/entities",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "listEntities",
        summary: "Named entities (newest first), or the users, agents or sessions with memories",
        querystring: ListEntitiesQuery,
        response: { 200: ListEntitiesResponse, ...problemResponses },
      },
    },
    async (request) => entities.listEntities(ctxOf(request), request.query),
  );

  app.get(
    "/v1/entities/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "getEntity",
        summary: "An entity with its current memories and its relations",
        params: EntityIdParams,
        querystring: GetEntityQuery,
        response: { 200: EntityDetail, ...problemResponses },
      },
    },
    async (request) => entities.getEntity(ctxOf(request), request.params.id, request.query),
  );

  app.delete(
    "/v1/entities/:id",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "deleteEntity",
        summary:
          "Delete an entity with its links and relations (an agent's or session's: its memories)",
        params: EntityIdParams,
        response: { 200: DeleteEntityResponse, ...problemResponses },
      },
    },
    async (request) => entities.deleteEntity(ctxOf(request), request.params.id),
  );
}
