import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runChecked, runProcess } from "../../../apps/server/src/testing/run-process.ts";
import { startTestServer } from "../../../apps/server/src/testing/test-server.ts";

// The SDK as a user gets it: built, packed, installed from the tarballs into a project of its
// own, compiled with plain tsc (NodeNext, strict, no .ts imports) and run on plain node.

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** npm pack builds both packages and npm install may fetch: generous, but not unbounded. */
const NPM_TIMEOUT_MS = 10 * 60_000;
const BUILDS = ["contract", "sdk"].map((name) => join(ROOT, "packages", name, "dist"));
const TYPES_NODE = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).devDependencies[
  "@types/node"
] as string;

/** The first `lang` block of docs/sdk.md: the consumer compiles and runs the page's example. */
function docBlock(lang: string): string {
  const page = readFileSync(join(ROOT, "docs", "sdk.md"), "utf8");
  const block = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(page)?.[1];
  assert.ok(block, `docs/sdk.md has no ${lang} block`);
  return block;
}

/**
 * A user's environment: without this run's npm_* variables (they describe this repository to
 * npm) and NODE_OPTIONS (the repository's `@engram/source` condition must not reach the user).
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== "NODE_OPTIONS"),
  );
  return { ...env, ...extra };
}

const builtBefore = BUILDS.filter((dir) => existsSync(dir));
const dir = mkdtempSync(join(tmpdir(), "engram-sdk-package-"));
const app = join(dir, "app");
let packed: { filename: string; files: { path: string }[] }[];

before(async () => {
  // `npm pack` builds each package first (its prepack script).
  const { stdout } = await runChecked(
    "npm",
    ["pack", "--json", "-w", "@engram/contract", "-w", "@engram/sdk", "--pack-destination", dir],
    { cwd: ROOT, env: userEnv(), timeoutMs: NPM_TIMEOUT_MS },
  );
  packed = JSON.parse(stdout);
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", type: "module" }));
  writeFileSync(join(app, "tsconfig.json"), docBlock("json"));
  writeFileSync(join(app, "main.ts"), docBlock("ts"));
  writeFileSync(
    join(app, "types.ts"),
    `import { EngramClient, type Memory } from "@engram/sdk";
const engram = new EngramClient({ baseUrl: "http://127.0.0.1:9", token: "egm_x" });
// @ts-expect-error: the contract's types reach the user, so a wrong field type is an error
void engram.addMemory({ text: 42 });
// @ts-expect-error: Memory's fields are typed, not any
export const n: number = ({} as Memory).memory;
`,
  );
  const tarballs = packed.map((p) => join(dir, p.filename));
  await runChecked(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      ...tarballs,
      `@types/node@${TYPES_NODE}`,
    ],
    { cwd: app, env: userEnv(), timeoutMs: NPM_TIMEOUT_MS },
  );
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
  // Builds this test made are removed; a build someone had made before stays (rebuilt).
  for (const build of BUILDS) {
    if (!builtBefore.includes(build)) rmSync(build, { recursive: true, force: true });
  }
});

describe("the packed SDK in a user's project", () => {
  test("the tarballs hold built JavaScript, declarations and the SDK's README, no TypeScript sources", () => {
    assert.deepEqual(packed.map((p) => p.filename).sort(), [
      "engram-contract-0.1.0.tgz",
      "engram-sdk-0.1.0.tgz",
    ]);
    for (const { filename, files } of packed) {
      const paths = files.map((f) => f.path);
      assert.ok(paths.includes("dist/index.js") && paths.includes("dist/index.d.ts"), filename);
      for (const path of paths) {
        assert.match(path, /^(dist\/.+\.(js|d\.ts)|package\.json|README\.md)$/);
      }
    }
    const sdk = packed.find((p) => p.filename.startsWith("engram-sdk"));
    assert.ok(
      sdk?.files.some((f) => f.path === "README.md"),
      "the SDK ships its README",
    );
  });

  test("plain tsc compiles the docs example (NodeNext, strict) and types are enforced", async () => {
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const { code, stdout } = await runProcess(process.execPath, [tsc, "-p", app], {
      env: userEnv(),
    });
    assert.equal(code, 0, `tsc failed:\n${stdout}`);
    assert.equal(stdout, "");
    assert.ok(existsSync(join(app, "dist", "main.js")));
  });

  test("the compiled example runs on node against a real server", async (t) => {
    const srv = await startTestServer();
    t.after(() => srv.close());
    const { key } = await srv.newTenant();
    const { stdout } = await runChecked(process.execPath, [join(app, "dist", "main.js")], {
      cwd: app,
      env: userEnv({ ENGRAM_URL: srv.url, ENGRAM_KEY: key }),
    });
    const lines = stdout.trim().split("\n");
    assert.equal(lines.length, 3, stdout);
    assert.equal(lines[0], "Alice is allergic to peanuts");
    assert.match(lines[1] ?? "", /^mem_[0-9A-Z]{26} Alice is allergic to peanuts$/);
    assert.equal(lines[2], "no such memory");
  });
});
