import assert from "node:assert/strict";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { buildWidget } from "./build.ts";

test("the loader stays within 2 KB gzipped and imports the bundle it was built with", async () => {
  const { loader, bundle } = await buildWidget();
  assert.ok(loader.gzip.length <= 2048, `loader.js is ${loader.gzip.length} bytes gzipped`);
  assert.equal(gunzipSync(loader.gzip).toString(), loader.body.toString());
  const text = loader.body.toString();
  assert.ok(text.includes(`engram.js?v=${bundle.hash}`));
  assert.ok(!text.includes("\n//# sourceMappingURL"), "no source map reference");
  // A classic script: it reads document.currentScript, which modules do not have.
  assert.doesNotMatch(text, /^\s*(import|export)\b/m);
});

test("the widget bundle is one minified ES module exporting mount, small enough to load fast", async () => {
  const { bundle } = await buildWidget();
  const text = bundle.body.toString();
  assert.match(text, /export\s*\{\s*\w+ as mount\s*\}/);
  assert.ok(bundle.gzip.length < 12_000, `engram.js is ${bundle.gzip.length} bytes gzipped`);
  assert.ok(bundle.brotli.length < bundle.gzip.length);
  // Two builds of the same sources are the same bytes: the hash (ETag, ?v=) is stable.
  assert.equal((await buildWidget()).bundle.hash, bundle.hash);
});
