import type { Database } from "../db/database.ts";
import type { PlanCatalog } from "../plans/plans.ts";
import { createAuditStore } from "./audit.ts";
import { type AuditService, createAuditService } from "./audit-service.ts";
import { createAuthCache } from "./auth-cache.ts";
import {
  type AuthenticationService,
  createAuthenticationService,
} from "./authentication-service.ts";
import { createKeyService, type KeyService } from "./key-service.ts";
import { createKeyStore } from "./key-store.ts";
import { createProjectService, type ProjectService } from "./project-service.ts";
import { createProjectStore } from "./project-store.ts";
import { createTenantService, type TenantService } from "./tenant-service.ts";
import { createTenantStore } from "./tenant-store.ts";

/** Tenancy's service verbs, one service per job. */
export interface Tenancy {
  tenants: TenantService;
  keys: KeyService;
  projects: ProjectService;
  audit: AuditService;
  authentication: AuthenticationService;
}

/** Builds the tenancy services over stores sharing the one database. */
export function createTenancy(db: Database, plans: PlanCatalog): Tenancy {
  // Embedded mode's one process sees every write that changes a key, so it may remember lookups;
  // cluster processes look keys up on every request, as one statement (ADR 0041).
  const authCache = db.kind === "pglite" ? createAuthCache() : undefined;
  const tenantStore = createTenantStore(db, authCache);
  const keyStore = createKeyStore(db, authCache);
  const projectStore = createProjectStore(db);
  return {
    tenants: createTenantService(tenantStore, plans),
    keys: createKeyService({
      keys: keyStore,
      projects: projectStore,
      tenants: tenantStore,
      plans,
    }),
    projects: createProjectService(projectStore),
    audit: createAuditService(createAuditStore(db)),
    authentication: createAuthenticationService(keyStore, plans),
  };
}
