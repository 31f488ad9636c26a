import Type, { type Static } from "typebox";

/**
 * The variables the client commands of the CLI read (merged into the one env schema in
 * config.ts): which server to call and the tenant API key to call it with. Only the environment
 * carries the key, never a flag, so it stays out of shell history and `ps`.
 */
export const clientEnv = {
  ENGRAM_URL: Type.Optional(Type.String({ pattern: "^https?://\\S+$", maxLength: 2000 })),
  ENGRAM_API_KEY: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
};
type ClientEnv = Static<ReturnType<typeof Type.Object<typeof clientEnv>>>;

export interface ClientConfig {
  /** The server URL (ENGRAM_URL); the CLI falls back to http://HOST:PORT. */
  url: string | undefined;
  /** A tenant API key (ENGRAM_API_KEY), for the memory, key, document and transfer commands. */
  apiKey: string | undefined;
}

export function clientConfig(e: ClientEnv): ClientConfig {
  return { url: e.ENGRAM_URL, apiKey: e.ENGRAM_API_KEY };
}
