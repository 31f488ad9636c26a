import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The file in the data directory that holds the generated admin token. */
function adminTokenPath(dataDir: string): string {
  return join(dataDir, "admin-token");
}

/**
 * The platform admin token: ENGRAM_ADMIN_TOKEN when set; otherwise (embedded mode) one generated
 * on first start and kept in the data directory, readable by the owner only. `created` tells the
 * caller to print it, once. Only `engram serve` calls this: it owns the data directory.
 */
export function resolveAdminToken(
  configured: string | undefined,
  dataDir: string,
): { token: string; created: boolean; path?: string } {
  if (configured) return { token: configured, created: false };
  const path = adminTokenPath(dataDir);
  if (existsSync(path)) return { token: readFileSync(path, "utf8").trim(), created: false, path };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = `egm_admin_${randomBytes(32).toString("base64url")}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return { token, created: true, path };
}

export class AdminTokenError extends Error {
  override name = "AdminTokenError";
}

/**
 * The admin token a client of a running server uses (the CLI's admin commands):
 * ENGRAM_ADMIN_TOKEN, else the file the server wrote. Never creates one: a token the server does
 * not know could only be refused later, less helpfully. `source` names where it came from.
 */
export function readAdminToken(
  configured: string | undefined,
  dataDir: string,
): { token: string; source: string } {
  if (configured) return { token: configured, source: "ENGRAM_ADMIN_TOKEN" };
  const path = adminTokenPath(dataDir);
  let token: string;
  try {
    token = readFileSync(path, "utf8").trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : `cannot be read (${code})`;
    throw new AdminTokenError(`ENGRAM_ADMIN_TOKEN is not set and ${path} ${why}`);
  }
  if (!token) throw new AdminTokenError(`ENGRAM_ADMIN_TOKEN is not set and ${path} is empty`);
  return { token, source: path };
}
