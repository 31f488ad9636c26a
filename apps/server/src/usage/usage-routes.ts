import {
  InvoicePreview,
  TenantIdParams,
  UsageHistoryQuery,
  UsageHistoryResponse,
  UsageResponse,
} from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { UsageService } from "./usage-service.ts";

// The tags are the tenancy routes' own: the OpenAPI document groups usage with them.
const admin = { tags: ["admin"], security: [{ adminToken: [] }] };
const tenant = { tags: ["tenancy"], security: [{ apiKey: [] }] };

/** Usage: the tenant's own usage and its history (API key), the invoice preview (admin). */
export function registerUsageRoutes(app: App, usage: UsageService, auth: Auth) {
  app.get(
    "/v1/admin/tenants/:tenant_id/invoice-preview",
    {
      onRequest: auth.admin,
      schema: {
        ...admin,
        operationId: "invoicePreview",
        summary: "The current period's invoice so far: plan price and overage lines",
        params: TenantIdParams,
        response: { 200: InvoicePreview, ...problemResponses },
      },
    },
    async (request) => usage.invoicePreview(request.params.tenant_id),
  );

  app.get(
    "/v1/usage",
    {
      onRequest: auth.tenant,
      schema: {
        ...tenant,
        operationId: "getUsage",
        summary: "This period's usage against the plan's limits",
        response: { 200: UsageResponse, ...problemResponses },
      },
    },
    async (request) => usage.getUsage(ctxOf(request)),
  );

  app.get(
    "/v1/usage/history",
    {
      onRequest: auth.tenant,
      schema: {
        ...tenant,
        operationId: "getUsageHistory",
        querystring: UsageHistoryQuery,
        response: { 200: UsageHistoryResponse, ...problemResponses },
      },
    },
    async (request) => usage.getUsageHistory(ctxOf(request), request.query),
  );
}
