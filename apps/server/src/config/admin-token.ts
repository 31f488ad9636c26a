import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The platform admin token: ENGRAM_ADMIN_TOKEN when set; otherwise (embedded mode) one generated
 * on first start and kept in the data directory, readable by the owner only. `created` tells the
 * caller to print it, once.
 */
export function resolveAdminToken(
  configured: string | undefined,
  dataDir: string,
): { token: string; created: boolean; path?: string } {
  if (configured) return { token: configured, created: false };
  const path = join(dataDir, "admin-token");
  if (existsSync(path)) return { token: readFileSync(path, "utf8").trim(), created: false, path };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = `egm_admin_${randomBytes(32).toString("base64url")}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return { token, created: true, path };
}
