import {
  CreatedKey,
  CreateKeyBody,
  CreateTenantBody,
  Tenant,
  TenantIdParams,
} from "@engram/contract";
import type { App } from "../http/app.ts";
import type { Auth } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { TenantService } from "./tenant-service.ts";

const common = { tags: ["admin"], security: [{ adminToken: [] }] };

/** Platform-admin routes: tenants and their API keys. */
export function registerTenantRoutes(app: App, tenants: TenantService, auth: Auth) {
  app.post(
    "/v1/admin/tenants",
    {
      onRequest: auth.admin,
      schema: {
        ...common,
        operationId: "createTenant",
        body: CreateTenantBody,
        response: { 201: Tenant, ...problemResponses },
      },
    },
    async (request, reply) => reply.status(201).send(await tenants.createTenant(request.body)),
  );

  app.post(
    "/v1/admin/tenants/:tenant_id/keys",
    {
      onRequest: auth.admin,
      schema: {
        ...common,
        operationId: "createKey",
        summary: "Create an API key; the secret is returned once",
        params: TenantIdParams,
        body: CreateKeyBody,
        response: { 201: CreatedKey, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await tenants.createKey(request.params.tenant_id, request.body)),
  );
}
