import type { WidgetAsset, WidgetAssets } from "./build.ts";

/** The versioned paths `engram serve` answers with the built widget. */
export const WIDGET_PATHS = {
  "/widget/v1/loader.js": "loader",
  "/widget/v1/engram.js": "bundle",
} as const satisfies Record<string, keyof WidgetAssets>;

export type WidgetPath = keyof typeof WIDGET_PATHS;

/**
 * The bundle's URL carries its content hash (the loader imports engram.js?v=<hash>), so it may be
 * cached for a year. The loader's URL is the one in every host page's snippet and never changes:
 * an hour, then a revalidation (an ETag, so a 304), lets a server upgrade reach visitors.
 */
const CACHE = {
  loader: "public, max-age=3600, stale-while-revalidate=86400",
  bundle: "public, max-age=31536000, immutable",
} as const;

/** The encoding to send: brotli, then gzip, then none; a `q=0` refuses one. */
function chooseEncoding(acceptEncoding: string | undefined): "br" | "gzip" | undefined {
  const accepted = new Map<string, number>();
  for (const part of (acceptEncoding ?? "").toLowerCase().split(",")) {
    const [name, ...params] = part.trim().split(";");
    if (!name) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    accepted.set(name, q ? Number(q.slice(2)) || 0 : 1);
  }
  const ok = (name: string) => (accepted.get(name) ?? accepted.get("*") ?? 0) > 0;
  if (ok("br")) return "br";
  if (ok("gzip")) return "gzip";
  return undefined;
}

/** Whether an If-None-Match list names this ETag (weak comparison, as RFC 9110 asks for GET). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

export interface WidgetResponse {
  status: 200 | 304;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

/** The answer to a GET of one widget file: status, headers and the (compressed) bytes. */
export function widgetResponse(
  assets: WidgetAssets,
  path: WidgetPath,
  request: { acceptEncoding?: string | undefined; ifNoneMatch?: string | undefined },
): WidgetResponse {
  const kind = WIDGET_PATHS[path];
  const file: WidgetAsset = assets[kind];
  const encoding = chooseEncoding(request.acceptEncoding);
  // Each encoding is its own representation, so its own strong ETag.
  const etag = `"${file.hash}${encoding ? `-${encoding}` : ""}"`;
  const headers: Record<string, string> = {
    "content-type": "text/javascript; charset=utf-8",
    "cache-control": CACHE[kind],
    etag,
    vary: "accept-encoding",
    // Public files: any page may load them, including pages that isolate themselves (COEP).
    "access-control-allow-origin": "*",
    "cross-origin-resource-policy": "cross-origin",
    // The host page's own performance monitoring may time these files (Resource Timing).
    "timing-allow-origin": "*",
    "x-content-type-options": "nosniff",
  };
  if (matches(request.ifNoneMatch, etag)) return { status: 304, headers, body: undefined };
  if (encoding) headers["content-encoding"] = encoding;
  const body = encoding === "br" ? file.brotli : encoding === "gzip" ? file.gzip : file.body;
  return { status: 200, headers, body };
}
