import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { idempotencyOf } from "../http/route-helpers.ts";
import {
  Mem0AddBody,
  Mem0BatchDeleteBody,
  Mem0BatchUpdateBody,
  Mem0DeleteAllQuery,
  Mem0DeleteQuery,
  Mem0EntityParams,
  Mem0EventParams,
  Mem0GetAllBody,
  Mem0MemoryParams,
  Mem0PageQuery,
  Mem0SearchBody,
  Mem0UpdateBody,
} from "./mem0-schemas.ts";
import { createMem0Service, MEM0_PREFIX, type Mem0Deps } from "./mem0-service.ts";

/**
 * The mem0-compatible surface (ADR 0037, docs/mem0-compatibility.md): the paths, verbs and shapes
 * mem0's MemoryClient uses, under /mem0, with its trailing slashes, authenticated with
 * `Authorization: Token <key>` (or Bearer). Left out of the OpenAPI document, which describes
 * Engram's own API; errors are Engram's problem+json.
 */
export function registerMem0Routes(app: App, deps: Mem0Deps, auth: Auth) {
  const mem0 = createMem0Service(deps);
  const onRequest = auth.tenantOrToken;
  const hide = { hide: true };
  const p = (path: string) => `${MEM0_PREFIX}${path}`;

  app.get(p("/v1/ping/"), { onRequest, schema: hide }, async (request) =>
    mem0.ping(ctxOf(request)),
  );

  app.post(
    p("/v3/memories/add/"),
    { onRequest, schema: { ...hide, body: Mem0AddBody } },
    async (request) => mem0.add(ctxOf(request), request.body, idempotencyOf(request)),
  );

  app.get(
    p("/v1/event/:event_id/"),
    { onRequest, schema: { ...hide, params: Mem0EventParams } },
    async (request) => mem0.getEvent(ctxOf(request), request.params.event_id),
  );

  app.post(
    p("/v3/memories/search/"),
    { onRequest, schema: { ...hide, body: Mem0SearchBody } },
    async (request) => mem0.search(ctxOf(request), request.body),
  );

  app.post(
    p("/v3/memories/"),
    { onRequest, schema: { ...hide, body: Mem0GetAllBody, querystring: Mem0PageQuery } },
    async (request) => mem0.getAll(ctxOf(request), request.body, request.query),
  );

  app.delete(
    p("/v1/memories/"),
    { onRequest, schema: { ...hide, querystring: Mem0DeleteAllQuery } },
    async (request) => mem0.deleteAll(ctxOf(request), request.query),
  );

  app.get(
    p("/v1/memories/:memory_id/"),
    { onRequest, schema: { ...hide, params: Mem0MemoryParams } },
    async (request) => mem0.get(ctxOf(request), request.params.memory_id),
  );

  app.put(
    p("/v1/memories/:memory_id/"),
    { onRequest, schema: { ...hide, params: Mem0MemoryParams, body: Mem0UpdateBody } },
    async (request) => mem0.update(ctxOf(request), request.params.memory_id, request.body),
  );

  app.delete(
    p("/v1/memories/:memory_id/"),
    { onRequest, schema: { ...hide, params: Mem0MemoryParams, querystring: Mem0DeleteQuery } },
    async (request) =>
      mem0.delete(ctxOf(request), request.params.memory_id, request.query.delete_linked),
  );

  app.get(
    p("/v1/memories/:memory_id/history/"),
    { onRequest, schema: { ...hide, params: Mem0MemoryParams } },
    async (request) => mem0.history(ctxOf(request), request.params.memory_id),
  );

  app.put(
    p("/v1/batch/"),
    { onRequest, schema: { ...hide, body: Mem0BatchUpdateBody } },
    async (request) => mem0.batchUpdate(ctxOf(request), request.body),
  );

  app.delete(
    p("/v1/batch/"),
    { onRequest, schema: { ...hide, body: Mem0BatchDeleteBody } },
    async (request) => mem0.batchDelete(ctxOf(request), request.body),
  );

  if (!deps.entities) return;

  app.get(
    p("/v1/entities/"),
    { onRequest, schema: { ...hide, querystring: Mem0PageQuery } },
    async (request) => mem0.listEntities(ctxOf(request), request.query),
  );

  // The current path, and the one mem0's deprecated deleteUser still calls.
  for (const version of ["v2", "v1"]) {
    app.delete(
      p(`/${version}/entities/:entity_type/:entity_name/`),
      { onRequest, schema: { ...hide, params: Mem0EntityParams } },
      async (request) =>
        mem0.deleteEntity(ctxOf(request), request.params.entity_type, request.params.entity_name),
    );
  }
}
