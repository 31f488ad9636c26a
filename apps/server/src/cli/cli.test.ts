import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Scopes } from "@engram/contract";
import { EngramClient } from "@engram/sdk";
import { cliEnv } from "../testing/engram-cli.ts";
import { type RunningProcess, runProcess, startProcess } from "../testing/run-process.ts";
import {
  ADMIN_TOKEN,
  ENGRAM_CLI,
  freePort,
  serves,
  spawnServer,
  tempDir,
} from "../testing/test-server.ts";

let server: Awaited<ReturnType<typeof spawnServer>>;
const dirs: string[] = [];
const children: RunningProcess[] = [];
const fresh = () => {
  const dir = tempDir("engram-cli-");
  dirs.push(dir);
  return dir;
};

before(async () => {
  server = await spawnServer(fresh(), await freePort());
  children.push(server);
});
after(async () => {
  for (const child of children) await child.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs `engram <args>` to completion. */
function engram(args: string[], vars: Record<string, string | undefined> = {}) {
  return runProcess(process.execPath, [...ENGRAM_CLI, ...args], {
    env: cliEnv({ ENGRAM_DATA_DIR: fresh(), ENGRAM_ADMIN_TOKEN: ADMIN_TOKEN, ...vars }),
  });
}

async function createTenant(name: string): Promise<string> {
  const r = await engram(["tenant", "create", name, "--json", "--url", server.url]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { id: string }).id;
}

describe("engram tenant create / key create", () => {
  test("tenant create --json prints the new tenant as JSON", async () => {
    const r = await engram(["tenant", "create", "acme", "--json", "--url", server.url]);
    assert.equal(r.code, 0, r.stderr);
    const tenant = JSON.parse(r.stdout) as { id: string; name: string; created_at: string };
    assert.match(tenant.id, /^ten_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(tenant.name, "acme");
    assert.ok(!Number.isNaN(Date.parse(tenant.created_at)));
    assert.ok(!r.stdout.includes(ADMIN_TOKEN) && !r.stderr.includes(ADMIN_TOKEN));
  });

  test("key create --scopes memories:read prints a key with only that scope, and it works", async () => {
    const tenantId = await createTenant("acme-read");
    const r = await engram([
      "key",
      "create",
      tenantId,
      "--name",
      "reader",
      "--scopes",
      "memories:read",
      "--json",
      "--url",
      server.url,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const key = JSON.parse(r.stdout) as { id: string; key: string; name: string; scopes: string[] };
    assert.match(key.key, /^egm_/);
    assert.equal(key.name, "reader");
    assert.deepEqual(key.scopes, ["memories:read"]);

    const client = new EngramClient({ baseUrl: server.url, token: key.key });
    assert.deepEqual((await client.listMemories()).results, []);
    await assert.rejects(client.addMemory({ text: "x" }), /forbidden/);
  });

  test("key create without --scopes grants every scope", async () => {
    const tenantId = await createTenant("acme-all");
    const r = await engram(["key", "create", tenantId, "--json", "--url", server.url]);
    assert.equal(r.code, 0, r.stderr);
    const key = JSON.parse(r.stdout) as { scopes: string[] };
    assert.deepEqual([...key.scopes].sort(), [...Scopes].sort());
  });

  test("a malformed --scopes string exits non-zero with a message", async () => {
    const tenantId = await createTenant("acme-bad-scope");
    const r = await engram([
      "key",
      "create",
      tenantId,
      "--scopes",
      "read all",
      "--url",
      server.url,
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /scopes/);
    assert.match(r.stderr, /memories:read/);
    assert.equal(r.stdout, "");
  });

  test("an unknown scope exits 1 listing every valid scope, without calling the server", async () => {
    const tenantId = await createTenant("acme-unknown-scope");
    const r = await engram([
      "key",
      "create",
      tenantId,
      "--scopes",
      "memories:read,memories:delete",
      "--url",
      server.url,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /"memories:delete" is not a scope/);
    for (const scope of Scopes) assert.ok(r.stderr.includes(scope), `lists ${scope}: ${r.stderr}`);
    assert.equal(r.stdout, "");
  });

  test("an unknown tenant exits 1 with not_found", async () => {
    const r = await engram([
      "key",
      "create",
      "ten_01ARZ3NDEKTSV4RRFFQ69G5FAV",
      "--url",
      server.url,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not_found/);
  });

  test("a wrong admin token exits 1 with unauthenticated and does not print the token", async () => {
    const wrong = "wrong-admin-token-0123456789abcdef";
    const r = await engram(["tenant", "create", "acme", "--url", server.url], {
      ENGRAM_ADMIN_TOKEN: wrong,
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unauthenticated/);
    // Names what it tried, so a wrong port or data directory is easy to spot.
    assert.ok(r.stderr.includes(server.url), r.stderr);
    assert.match(r.stderr, /admin token from ENGRAM_ADMIN_TOKEN/);
    assert.ok(!r.stderr.includes(wrong) && !r.stdout.includes(wrong));
  });

  test("without ENGRAM_ADMIN_TOKEN or a token file: exits 1 naming the URL and the file, creates nothing", async () => {
    const dataDir = fresh();
    const r = await engram(["tenant", "create", "acme", "--url", server.url], {
      ENGRAM_DATA_DIR: dataDir,
      ENGRAM_ADMIN_TOKEN: undefined,
    });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.ok(r.stderr.includes(server.url), r.stderr);
    assert.ok(r.stderr.includes(join(dataDir, "admin-token")), r.stderr);
    assert.equal(
      existsSync(join(dataDir, "admin-token")),
      false,
      "the CLI never generates a token",
    );
  });

  test("an unreachable server: exits 1 in one line naming the URL and the token file", async () => {
    const dataDir = fresh();
    writeFileSync(join(dataDir, "admin-token"), `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    const port = await freePort();
    const r = await engram(["tenant", "create", "acme"], {
      ENGRAM_DATA_DIR: dataDir,
      ENGRAM_ADMIN_TOKEN: undefined,
      PORT: String(port),
    });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.ok(r.stderr.includes(`http://127.0.0.1:${port}`), r.stderr);
    assert.ok(r.stderr.includes(join(dataDir, "admin-token")), r.stderr);
    assert.match(r.stderr, /ECONNREFUSED/);
    assert.ok(!r.stderr.includes(ADMIN_TOKEN));
  });

  test("an invalid environment exits 2 naming the variable", async () => {
    const r = await engram(["tenant", "create", "acme", "--url", server.url], { PORT: "abc" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PORT/);
    assert.equal(r.stdout, "");

    const serve = await engram(["serve"], { PORT: "abc" });
    assert.equal(serve.code, 2);
    assert.match(serve.stderr, /PORT/);

    const secret = "too-short-secret";
    const token = await engram(["serve"], { ENGRAM_ADMIN_TOKEN: secret });
    assert.equal(token.code, 2);
    assert.match(token.stderr, /ENGRAM_ADMIN_TOKEN/);
    assert.ok(!token.stderr.includes(secret));
  });
});

describe("engram serve without ENGRAM_ADMIN_TOKEN", () => {
  /** Starts `engram serve` with no admin token configured, waits until it answers, stops it. */
  async function serveOnce(dataDir: string, whileUp?: (port: number) => Promise<void>) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const serve = await startProcess(process.execPath, [...ENGRAM_CLI, "serve"], {
      what: "engram serve",
      env: cliEnv({
        ENGRAM_DATA_DIR: dataDir,
        ENGRAM_LOG_LEVEL: "warn",
        PORT: String(port),
        HOST: "127.0.0.1",
      }),
      ready: serves(url),
    });
    children.push(serve);
    const tokenPath = join(dataDir, "admin-token");
    const token = readFileSync(tokenPath, "utf8").trim();
    // The token in the file is the one the server accepts.
    const created = await fetch(`${url}/v1/admin/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "first" }),
    });
    assert.equal(created.status, 201);
    await whileUp?.(port);
    assert.equal(await serve.stop(), 0, serve.stderr());
    return { stdout: serve.stdout(), stderr: serve.stderr(), token, tokenPath };
  }

  test("prints the generated token on the first start only, and keeps it mode 0600", async () => {
    const dataDir = fresh();
    assert.equal(existsSync(join(dataDir, "admin-token")), false);

    const first = await serveOnce(dataDir);
    assert.ok(first.token.length >= 32);
    assert.ok(first.stdout.includes(first.token), `first start prints the token:\n${first.stdout}`);
    assert.equal(first.stdout.split(first.token).length - 1, 1, "printed exactly once");
    assert.ok(!first.stderr.includes(first.token), "the token is not in the logs");
    assert.equal(statSync(first.tokenPath).mode & 0o777, 0o600);

    const second = await serveOnce(dataDir);
    assert.equal(second.token, first.token, "the same token is kept across starts");
    assert.ok(!second.stdout.includes(first.token), "the second start does not print it");
    assert.ok(!second.stderr.includes(first.token), "the second start does not log it");
    assert.equal(statSync(second.tokenPath).mode & 0o777, 0o600);
  });

  test("the CLI, given the same data directory, uses the token the server generated", async () => {
    const dataDir = fresh();
    await serveOnce(dataDir, async (port) => {
      const r = await engram(["tenant", "create", "acme", "--json"], {
        ENGRAM_DATA_DIR: dataDir,
        ENGRAM_ADMIN_TOKEN: undefined,
        PORT: String(port),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match((JSON.parse(r.stdout) as { key: { key: string } }).key.key, /^egm_/);
    });
  });
});
