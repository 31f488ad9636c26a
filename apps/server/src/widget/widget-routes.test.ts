import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify from "fastify";
import type { App } from "../http/app.ts";
import { registerWidgetRoutes } from "./widget-routes.ts";

describe("widget files (/widget/v1/…)", () => {
  let app: App;
  before(async () => {
    app = Fastify().withTypeProvider<TypeBoxTypeProvider>();
    registerWidgetRoutes(app);
    await app.ready();
  });
  after(() => app.close());

  const get = (url: string, headers: Record<string, string> = {}) =>
    app.inject({ method: "GET", url, headers });

  test("the loader: JavaScript, public to every origin, revalidated hourly, pointing at the bundle's hash", async () => {
    const loader = await get("/widget/v1/loader.js");
    assert.equal(loader.statusCode, 200);
    assert.equal(loader.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(loader.headers["access-control-allow-origin"], "*");
    assert.equal(
      loader.headers["cache-control"],
      "public, max-age=3600, stale-while-revalidate=86400",
    );
    assert.equal(loader.headers["content-encoding"], undefined);
    assert.match(String(loader.headers.etag), /^"[A-Za-z0-9_-]{22}"$/);
    const bundle = await get("/widget/v1/engram.js");
    const bundleHash = String(bundle.headers.etag).slice(1, -1);
    assert.ok(loader.body.includes(`engram.js?v=${bundleHash}`), "the loader imports this bundle");
  });

  test("the bundle: cached for a year as immutable; the ?v= the loader adds is served the same", async () => {
    const bundle = await get("/widget/v1/engram.js?v=whatever");
    assert.equal(bundle.statusCode, 200);
    assert.equal(bundle.headers["cache-control"], "public, max-age=31536000, immutable");
    assert.equal(bundle.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(bundle.headers["access-control-allow-origin"], "*");
    assert.match(bundle.body, /export\s*\{/, "an ES module the loader imports");
  });

  test("brotli or gzip as the client accepts, each with its own ETag, decoding to the same bytes", async () => {
    const plain = await get("/widget/v1/engram.js");
    const br = await get("/widget/v1/engram.js", { "accept-encoding": "gzip, deflate, br" });
    const gz = await get("/widget/v1/engram.js", { "accept-encoding": "br;q=0, gzip" });
    assert.equal(br.headers["content-encoding"], "br");
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.equal(br.headers.vary, "accept-encoding");
    assert.equal(brotliDecompressSync(br.rawPayload).toString(), plain.body);
    assert.equal(gunzipSync(gz.rawPayload).toString(), plain.body);
    assert.ok(br.rawPayload.length < plain.rawPayload.length / 2);
    const etags = new Set([plain.headers.etag, br.headers.etag, gz.headers.etag]);
    assert.equal(etags.size, 3);
  });

  test("a matching If-None-Match is a 304 without a body; another ETag gets the file", async () => {
    const first = await get("/widget/v1/loader.js", { "accept-encoding": "gzip" });
    const etag = String(first.headers.etag);
    const again = await get("/widget/v1/loader.js", {
      "accept-encoding": "gzip",
      "if-none-match": `"other", W/${etag}`,
    });
    assert.equal(again.statusCode, 304);
    assert.equal(again.rawPayload.length, 0);
    assert.equal(again.headers.etag, etag);
    const changed = await get("/widget/v1/loader.js", {
      "accept-encoding": "gzip",
      "if-none-match": '"other"',
    });
    assert.equal(changed.statusCode, 200);
    // The identity representation's ETag does not validate the gzip one.
    const plainEtag = String((await get("/widget/v1/loader.js")).headers.etag);
    const mixed = await get("/widget/v1/loader.js", {
      "accept-encoding": "gzip",
      "if-none-match": plainEtag,
    });
    assert.equal(mixed.statusCode, 200);
  });

  test("HEAD answers the headers; other paths under /widget are not served", async () => {
    const head = await app.inject({ method: "HEAD", url: "/widget/v1/loader.js" });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal((await get("/widget/v1/build.ts")).statusCode, 404);
    assert.equal((await get("/widget/v2/engram.js")).statusCode, 404);
  });
});
