import { EngramAdminClient } from "@engram/sdk";
import { AdminTokenError, readAdminToken } from "../config/admin-token.ts";
import type { Config } from "../config/config.ts";
import { explain, serverUrl } from "./api-client.ts";

/**
 * Calls the admin API of a running server with the token the server uses (never a new one). Every
 * failure is one line naming the URL it tried and where the token came from, since a wrong data
 * directory or port is the usual cause.
 */
export async function withAdminClient<T>(
  config: Config,
  url: string | undefined,
  fn: (admin: EngramAdminClient) => Promise<T>,
): Promise<T> {
  const baseUrl = serverUrl(config, url);
  let admin: { token: string; source: string };
  try {
    admin = readAdminToken(config.adminToken, config.dataDir);
  } catch (err) {
    if (!(err instanceof AdminTokenError)) throw err;
    throw new Error(
      `no admin token for ${baseUrl}: ${err.message} (\`engram serve\` writes it there on its first start; run this from the directory \`npm start\` runs in, or set ENGRAM_DATA_DIR or ENGRAM_ADMIN_TOKEN)`,
    );
  }
  try {
    return await fn(new EngramAdminClient({ baseUrl, token: admin.token }));
  } catch (err) {
    throw explain(err, baseUrl, `admin token from ${admin.source}`);
  }
}
