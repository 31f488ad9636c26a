import type {
  CreatedKey,
  CreateKeyBody,
  CreateTenantBody,
  DeletionReceipt,
  InvoicePreview,
  ListKeysQuery,
  ListPlansResponse,
  ListTenantsResponse,
  ProvisionedTenant,
  Tenant,
  UpdateTenantBody,
} from "@engram/contract";
import { allPages, type ClientOptions, request } from "./http.ts";

const tenantPath = (id: string) => `v1/admin/tenants/${encodeURIComponent(id)}`;

/** Client for the platform admin token: plans, tenants, their keys and invoices. */
export class EngramAdminClient {
  constructor(private readonly opts: ClientOptions) {}

  /** GET /v1/admin/plans */
  listPlans() {
    return request<ListPlansResponse>(this.opts, "GET", "v1/admin/plans");
  }

  /** POST /v1/admin/tenants — the tenant, its default project and first key (shown only once). */
  createTenant(body: CreateTenantBody) {
    return request<ProvisionedTenant>(this.opts, "POST", "v1/admin/tenants", { body });
  }

  /** GET /v1/admin/tenants — one page, newest first */
  listTenants(query: ListKeysQuery = {}) {
    return request<ListTenantsResponse>(this.opts, "GET", "v1/admin/tenants", { query });
  }

  /** Every tenant, newest first, following cursors. */
  listAllTenants(query: Omit<ListKeysQuery, "cursor"> = {}) {
    return allPages((cursor) => this.listTenants({ ...query, ...cursor }));
  }

  /** GET /v1/admin/tenants/{tenant_id} */
  getTenant(tenantId: string) {
    return request<Tenant>(this.opts, "GET", tenantPath(tenantId));
  }

  /** PATCH /v1/admin/tenants/{tenant_id} — plan, overrides, suspension */
  updateTenant(tenantId: string, body: UpdateTenantBody) {
    return request<Tenant>(this.opts, "PATCH", tenantPath(tenantId), { body });
  }

  /** DELETE /v1/admin/tenants/{tenant_id} — removes all its data; returns the receipt */
  deleteTenant(tenantId: string) {
    return request<DeletionReceipt>(this.opts, "DELETE", tenantPath(tenantId));
  }

  /** POST /v1/admin/tenants/{tenant_id}/keys — the returned `key` is shown only this once. */
  createKey(tenantId: string, body: CreateKeyBody = {}) {
    return request<CreatedKey>(this.opts, "POST", `${tenantPath(tenantId)}/keys`, { body });
  }

  /** GET /v1/admin/tenants/{tenant_id}/invoice-preview */
  invoicePreview(tenantId: string) {
    return request<InvoicePreview>(this.opts, "GET", `${tenantPath(tenantId)}/invoice-preview`);
  }
}
