import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";

// The README's Layout section is how a newcomer finds "where search is ranked": it must name every
// folder of the server's src/ and nothing that no longer exists.
test("the README's layout lists every folder of apps/server/src, and only those", () => {
  const root = new URL("../../../", import.meta.url);
  const readme = readFileSync(new URL("README.md", root), "utf8");
  const listed = [...readme.matchAll(/^ {2}src\/([a-z0-9-]+)\/ +\S/gm)].map((m) => m[1]).sort();
  const folders = readdirSync(new URL("apps/server/src/", root), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  assert.deepEqual(listed, folders);
});
