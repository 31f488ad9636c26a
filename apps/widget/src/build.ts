import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { brotliCompress, constants, gzip } from "node:zlib";
import { build } from "esbuild";

/** One built file, ready to send: its bytes, precompressed twins and a content hash. */
export interface WidgetAsset {
  body: Buffer;
  gzip: Buffer;
  brotli: Buffer;
  /** base64url SHA-256 of `body`, 22 characters: the ETag's core and the bundle's ?v=. */
  hash: string;
}

export interface WidgetAssets {
  /** /widget/v1/loader.js: the snippet's script, a classic script (document.currentScript). */
  loader: WidgetAsset;
  /** /widget/v1/engram.js: the widget, an ES module the loader imports on first interaction. */
  bundle: WidgetAsset;
}

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);
const source = (file: string) => fileURLToPath(new URL(`./ui/${file}`, import.meta.url));

/** Browsers the widget supports: shadow DOM, dynamic import(), TextDecoderStream. */
const TARGET = ["chrome100", "firefox105", "safari15.4", "edge100"];

async function asset(text: string): Promise<WidgetAsset> {
  const body = Buffer.from(text, "utf8");
  const [gz, br] = await Promise.all([
    gzipAsync(body, { level: 9 }),
    brotliAsync(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    }),
  ]);
  const hash = createHash("sha256").update(body).digest("base64url").slice(0, 22);
  return { body, gzip: gz, brotli: br, hash };
}

async function bundle(entry: string, format: "iife" | "esm", define: Record<string, string>) {
  const result = await build({
    entryPoints: [source(entry)],
    bundle: true,
    minify: true,
    format,
    target: TARGET,
    define,
    legalComments: "none",
    write: false,
    logLevel: "silent",
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced nothing for ${entry}`);
  return file.text;
}

/** Bundles and minifies the widget, then the loader pointing at that exact bundle (in memory). */
export async function buildWidget(): Promise<WidgetAssets> {
  const widget = await asset(await bundle("widget.ts", "esm", {}));
  const loader = await asset(
    await bundle("loader.ts", "iife", {
      __ENGRAM_BUNDLE__: JSON.stringify(`engram.js?v=${widget.hash}`),
    }),
  );
  return { loader, bundle: widget };
}

let built: Promise<WidgetAssets> | undefined;

/** The built widget, once per process: the first caller pays the build (tens of milliseconds). */
export function widgetAssets(): Promise<WidgetAssets> {
  built ??= buildWidget().catch((error: unknown) => {
    built = undefined;
    throw error;
  });
  return built;
}
