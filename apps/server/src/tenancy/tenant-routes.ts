import {
  ApiKey,
  CreatedKey,
  CreateKeyBody,
  CreateProjectBody,
  CreateTenantBody,
  DeletionReceipt,
  KeyIdParams,
  ListAuditQuery,
  ListAuditResponse,
  ListKeysQuery,
  ListKeysResponse,
  ListPlansResponse,
  ListProjectsResponse,
  ListTenantsResponse,
  Project,
  ProvisionedTenant,
  Tenant,
  TenantIdParams,
  UpdateTenantBody,
} from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { Tenancy } from "./tenancy-module.ts";

const admin = { tags: ["admin"], security: [{ adminToken: [] }] };
const tenant = { tags: ["tenancy"], security: [{ apiKey: [] }] };

/** Platform-admin routes: plans, tenants (provisioning, plan, suspension, deletion), keys. */
export function registerAdminRoutes(app: App, tenancy: Tenancy, auth: Auth) {
  const { tenants, keys } = tenancy;
  const onRequest = auth.admin;

  app.get(
    "/v1/admin/plans",
    {
      onRequest,
      schema: {
        ...admin,
        operationId: "listPlans",
        response: { 200: ListPlansResponse, ...problemResponses },
      },
    },
    async () => tenants.listPlans(),
  );

  app.post(
    "/v1/admin/tenants",
    {
      onRequest,
      schema: {
        ...admin,
        operationId: "createTenant",
        summary: "Provision a tenant with its default project and first key (one transaction)",
        body: CreateTenantBody,
        response: { 201: ProvisionedTenant, ...problemResponses },
      },
    },
    async (request, reply) => reply.status(201).send(await tenants.createTenant(request.body)),
  );

  app.get(
    "/v1/admin/tenants",
    {
      onRequest,
      schema: {
        ...admin,
        operationId: "listTenants",
        summary: "Every tenant, newest first (cursor-paginated)",
        querystring: ListKeysQuery,
        response: { 200: ListTenantsResponse, ...problemResponses },
      },
    },
    async (request) => tenants.listTenants(request.query),
  );

  app.get(
    "/v1/admin/tenants/:tenant_id",
    {
      onRequest,
      schema: {
        ...admin,
        operationId: "getTenant",
        params: TenantIdParams,
        response: { 200: Tenant, ...problemResponses },
      },
    },
    async (request) => tenants.getTenant(request.params.tenant_id),
  );

  app.patch(
    "/v1/admin/tenants/:tenant_id",
    {
      onRequest,
      schema: {
        ...admin,
        operationId: "updateTenant",
        summary: "Change a tenant's plan or overrides, or suspend or reinstate it",
        params: TenantIdParams,
        body: UpdateTenantBody,
        response: { 200: Tenant, ...problemResponses },
      },
    },
    async (request) => tenants.updateTenant(request.params.tenant_id, request.body),
  );

  app.delete(
    "/v1/admin/tenants/:tenant_id",
    {
      onRequest,
      schema: {
        ...admin,
        operationId: "deleteTenant",
        summary: "Delete a tenant and all its data; returns a receipt with the counts removed",
        params: TenantIdParams,
        response: { 200: DeletionReceipt, ...problemResponses },
      },
    },
    async (request) => tenants.deleteTenant(request.params.tenant_id),
  );

  app.post(
    "/v1/admin/tenants/:tenant_id/keys",
    {
      onRequest,
      schema: {
        ...admin,
        operationId: "createKey",
        summary: "Create an API key; the secret is returned once",
        params: TenantIdParams,
        body: CreateKeyBody,
        response: { 201: CreatedKey, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await keys.createKey(request.params.tenant_id, request.body)),
  );
}

/** Tenant self-service: keys, projects and the audit log, with a tenant API key. */
export function registerTenantRoutes(app: App, tenancy: Tenancy, auth: Auth) {
  const { keys, projects, audit } = tenancy;
  const onRequest = auth.tenant;

  app.post(
    "/v1/keys",
    {
      onRequest,
      schema: {
        ...tenant,
        operationId: "createOwnKey",
        summary: "Create a key (needs keys:manage; at most the caller's own scopes)",
        body: CreateKeyBody,
        response: { 201: CreatedKey, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await keys.createOwnKey(ctxOf(request), request.body)),
  );

  app.get(
    "/v1/keys",
    {
      onRequest,
      schema: {
        ...tenant,
        operationId: "listKeys",
        querystring: ListKeysQuery,
        response: { 200: ListKeysResponse, ...problemResponses },
      },
    },
    async (request) => keys.listKeys(ctxOf(request), request.query),
  );

  app.delete(
    "/v1/keys/:key_id",
    {
      onRequest,
      schema: {
        ...tenant,
        operationId: "revokeKey",
        summary: "Revoke a key; every API process refuses it from the next request on",
        params: KeyIdParams,
        response: { 200: ApiKey, ...problemResponses },
      },
    },
    async (request) => keys.revokeKey(ctxOf(request), request.params.key_id),
  );

  app.get(
    "/v1/projects",
    {
      onRequest,
      schema: {
        ...tenant,
        operationId: "listProjects",
        response: { 200: ListProjectsResponse, ...problemResponses },
      },
    },
    async (request) => projects.listProjects(ctxOf(request)),
  );

  app.post(
    "/v1/projects",
    {
      onRequest,
      schema: {
        ...tenant,
        operationId: "createProject",
        body: CreateProjectBody,
        response: { 201: Project, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await projects.createProject(ctxOf(request), request.body)),
  );

  app.get(
    "/v1/audit",
    {
      onRequest,
      schema: {
        ...tenant,
        operationId: "listAudit",
        querystring: ListAuditQuery,
        response: { 200: ListAuditResponse, ...problemResponses },
      },
    },
    async (request) => audit.listAudit(ctxOf(request), request.query),
  );
}
