/** Transaction-local configuration parameters: name to value (set_config(name, value, true)). */
export type TxSettings = Readonly<Record<string, string>>;

/** Something SQL can be sent to: a transaction or the database itself. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a parameterless script of one or more statements (simple-query protocol). */
  exec(sql: string): Promise<void>;
}

/**
 * The store's view of a database. Tenant work runs in a transaction as the least-privilege
 * application role with `app.tenant_id` set transaction-locally, so row-level security applies
 * even if a query forgets its tenant filter, and nothing leaks to the next transaction.
 */
export interface Database {
  readonly kind: "pglite" | "postgres";
  /**
   * Runs fn in one transaction under the tenant's row-level-security context. `settings` are
   * transaction-local configuration parameters (the search's HNSW scan), set with the tenant
   * context itself: no round trip of their own.
   */
  withTenant<T>(
    tenantId: string,
    fn: (tx: Queryable) => Promise<T>,
    settings?: TxSettings,
  ): Promise<T>;
  /**
   * withTenant for reads: a read-only transaction (a write in it fails) that answers as soon as
   * fn resolves. On PostgreSQL its COMMIT is sent after, not waited for: one round trip less.
   */
  readTenant<T>(
    tenantId: string,
    fn: (tx: Queryable) => Promise<T>,
    settings?: TxSettings,
  ): Promise<T>;
  /** Runs fn in one transaction as the application role with no tenant context. */
  withoutTenant<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * One read-only statement as the application role with no tenant context, in its own implicit
   * transaction: one round trip on PostgreSQL where withoutTenant takes four (the API-key lookup).
   */
  readWithoutTenant<T>(sql: string, params: readonly unknown[]): Promise<T[]>;
  /** Runs fn as the schema owner (migrations, index builds). Never for request handling. */
  asOwner<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Cheap liveness query for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The role every request runs as; it owns nothing and cannot bypass row-level security. */
export const APP_ROLE = "engram_app";
