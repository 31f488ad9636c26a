import type { CreatedKey, CreateKeyBody, CreateTenantBody, Tenant } from "@engram/contract";
import { type ClientOptions, request } from "./http.ts";

/** Client for the platform admin token: tenants and their keys. */
export class EngramAdminClient {
  constructor(private readonly opts: ClientOptions) {}

  /** POST /v1/admin/tenants */
  createTenant(body: CreateTenantBody) {
    return request<Tenant>(this.opts, "POST", "v1/admin/tenants", { body });
  }

  /** POST /v1/admin/tenants/{tenant_id}/keys — the returned `key` is shown only this once. */
  createKey(tenantId: string, body: CreateKeyBody = {}) {
    return request<CreatedKey>(
      this.opts,
      "POST",
      `v1/admin/tenants/${encodeURIComponent(tenantId)}/keys`,
      { body },
    );
  }
}
