import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EngramClient } from "@engram/sdk";
import { runEngram } from "../testing/engram-cli.ts";
import type { RunningProcess } from "../testing/run-process.ts";
import { ADMIN_TOKEN, freePort, spawnServer, tempDir } from "../testing/test-server.ts";

// The client commands (tenant, key, memories, documents) through a child process against a real
// server: each one's table and --json output, and its failures (exit code 1, one line).

let server: Awaited<ReturnType<typeof spawnServer>>;
const dir = tempDir("engram-cli-client-");
const children: RunningProcess[] = [];

before(async () => {
  server = await spawnServer(join(dir, "server"), await freePort());
  children.push(server);
});
after(async () => {
  for (const child of children) await child.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `engram <args>` as a user's shell would, with ENGRAM_URL pointing at the test server. */
function engram(args: string[], vars: Record<string, string | undefined> = {}) {
  return runEngram(args, {
    ENGRAM_DATA_DIR: join(dir, "cli"),
    ENGRAM_URL: server.url,
    ENGRAM_ADMIN_TOKEN: ADMIN_TOKEN,
    ...vars,
  });
}

async function ok(args: string[], vars: Record<string, string | undefined> = {}) {
  const r = await engram(args, vars);
  assert.equal(r.code, 0, `engram ${args.join(" ")}: ${r.stderr}`);
  return r;
}

/** Exit 1 with one line on stderr matching `pattern`, nothing on stdout. */
async function fails(
  args: string[],
  pattern: RegExp,
  vars: Record<string, string | undefined> = {},
) {
  const r = await engram(args, vars);
  assert.equal(r.code, 1, `engram ${args.join(" ")} should fail: ${r.stdout}${r.stderr}`);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, pattern);
  return r;
}

const json = <T>(r: { stdout: string }) => JSON.parse(r.stdout) as T;

async function newTenant(name: string) {
  const t = json<{ id: string; key: { key: string } }>(
    await ok(["tenant", "create", name, "--json"]),
  );
  return {
    id: t.id,
    key: t.key.key,
    client: new EngramClient({ baseUrl: server.url, token: t.key.key }),
  };
}

describe("engram tenant", () => {
  test("create prints the tenant and its key once as fields; --json as JSON", async () => {
    const r = await ok(["tenant", "create", "fields-co"]);
    assert.match(r.stdout, /^id +ten_[0-9A-Z]{26}$/m);
    assert.match(r.stdout, /^name +fields-co$/m);
    assert.match(r.stdout, /^API key +egm_\S+$/m);
    assert.match(r.stdout, /shown only this once/);
    assert.ok(!r.stdout.includes(ADMIN_TOKEN) && !r.stderr.includes(ADMIN_TOKEN));
  });

  test("list, get, plan, suspend (--reason, --undo, unsuspend), delete (--yes) with tables and JSON", async () => {
    const t = await newTenant("lifecycle-co");

    const table = await ok(["tenant", "list"]);
    const [header, ...rows] = table.stdout.trim().split("\n");
    assert.match(header ?? "", /^ID +NAME +PLAN +SUSPENDED +CREATED$/);
    assert.ok(
      rows.some((row) => row.startsWith(t.id) && /lifecycle-co +unlimited-test +no/.test(row)),
    );
    const listed = json<{ id: string }[]>(await ok(["tenant", "list", "--json"]));
    assert.ok(listed.some((x) => x.id === t.id));
    assert.equal(json<unknown[]>(await ok(["tenant", "list", "--limit", "1", "--json"])).length, 1);

    assert.match((await ok(["tenant", "get", t.id])).stdout, /^plan +unlimited-test$/m);
    assert.equal(
      json<{ plan: string }>(await ok(["tenant", "plan", t.id, "developer", "--json"])).plan,
      "developer",
    );
    assert.match((await ok(["tenant", "get", t.id])).stdout, /^plan +developer$/m);
    await fails(["tenant", "plan", t.id, "platinum"], /platinum|plan/);

    const suspended = await ok(["tenant", "suspend", t.id, "--reason", "unpaid invoice"]);
    assert.match(suspended.stdout, /^suspended +yes \(unpaid invoice\)$/m);
    await fails(["memories", "list"], /tenant_suspended.*unpaid invoice/, {
      ENGRAM_API_KEY: t.key,
    });
    const lifted = json<{ suspended: boolean }>(
      await ok(["tenant", "suspend", t.id, "--undo", "--json"]),
    );
    assert.equal(lifted.suspended, false);
    await ok(["memories", "list"], { ENGRAM_API_KEY: t.key });
    await ok(["tenant", "suspend", t.id]);
    assert.match((await ok(["tenant", "unsuspend", t.id])).stdout, /^suspended +no$/m);

    await t.client.addMemory({ text: "Keeps bees", user_id: "u1" });
    await fails(["tenant", "delete", t.id], /--yes/);
    await ok(["tenant", "get", t.id]); // still there
    const receipt = await ok(["tenant", "delete", t.id, "--yes"]);
    assert.match(receipt.stdout, new RegExp(`^deleted +${t.id}$`, "m"));
    assert.match(receipt.stdout, /^REMOVED +ROWS$/m);
    assert.match(receipt.stdout, /^memories +1$/m);
    await fails(["tenant", "get", t.id], /not_found/);
  });

  test("errors: an unknown tenant is not_found; a wrong admin token is unauthenticated", async () => {
    await fails(["tenant", "get", "ten_01ARZ3NDEKTSV4RRFFQ69G5FAV"], /not_found/);
    await fails(["tenant", "list"], /unauthenticated/, {
      ENGRAM_ADMIN_TOKEN: "wrong-admin-token-0123456789abcdef",
    });
  });
});

describe("engram key", () => {
  test("create with ENGRAM_API_KEY (at most its scopes), list without secrets, revoke", async () => {
    const t = await newTenant("keys-co");
    const created = json<{ id: string; key: string; scopes: string[] }>(
      await ok(["key", "create", "--name", "reader", "--scopes", "memories:read", "--json"], {
        ENGRAM_API_KEY: t.key,
      }),
    );
    assert.deepEqual(created.scopes, ["memories:read"]);

    const table = await ok(["key", "list"], { ENGRAM_API_KEY: t.key });
    assert.match(table.stdout, /^ID +NAME +PREFIX +PROJECT +SCOPES +LAST USED +REVOKED$/m);
    assert.match(
      table.stdout,
      new RegExp(`^${created.id} +reader +egm_\\S+ +prj_\\S+ +memories:read `, "m"),
    );
    assert.match(table.stdout, /default +egm_\S+ +prj_\S+ +all /);
    assert.ok(!table.stdout.includes(created.key), "never the secret");
    const listed = json<{ id: string }[]>(
      await ok(["key", "list", "--json"], { ENGRAM_API_KEY: t.key }),
    );
    assert.equal(listed.length, 2);

    // The reader key cannot manage keys.
    await fails(["key", "list"], /forbidden/, { ENGRAM_API_KEY: created.key });
    const revoked = await ok(["key", "revoke", created.id], { ENGRAM_API_KEY: t.key });
    assert.match(revoked.stdout, /^revoked +20\d\d-/m);
    await fails(["memories", "list"], /unauthenticated/, { ENGRAM_API_KEY: created.key });
    assert.equal(
      json<unknown[]>(await ok(["key", "list", "--json"], { ENGRAM_API_KEY: t.key })).length,
      1,
    );
    assert.equal(
      json<unknown[]>(await ok(["key", "list", "--revoked", "--json"], { ENGRAM_API_KEY: t.key }))
        .length,
      2,
    );
  });

  test("without ENGRAM_API_KEY: exit 1 naming the variable and the server", async () => {
    const r = await fails(["key", "list"], /ENGRAM_API_KEY/);
    assert.ok(r.stderr.includes(server.url));
  });
});

describe("engram memories", () => {
  test("add, search, list, delete: tables and --json; another tenant's id is not_found", async () => {
    const t = await newTenant("memories-co");
    const as = { ENGRAM_API_KEY: t.key };
    const added = await ok(
      [
        "memories",
        "add",
        "Alice is allergic to peanuts",
        "--user-id",
        "alice",
        "--metadata",
        '{"source":"intake"}',
      ],
      as,
    );
    assert.match(added.stdout, /^ID +EVENT +MEMORY$/m);
    assert.match(added.stdout, /^mem_\S+ +ADD +Alice is allergic to peanuts$/m);
    const second = json<{ results: { id: string; event: string }[] }>(
      await ok(["memories", "add", "Bob drinks green tea", "--user-id", "bob", "--json"], as),
    );
    assert.equal(second.results[0]?.event, "ADD");
    const dup = json<{ results: { event: string }[] }>(
      await ok(["memories", "add", "Bob drinks green tea", "--user-id", "bob", "--json"], as),
    );
    assert.equal(dup.results[0]?.event, "NOOP");

    const found = await ok(
      ["memories", "search", "what can alice not eat", "--user-id", "alice"],
      as,
    );
    assert.match(found.stdout, /^ID +SCORE +USER +MEMORY$/m);
    assert.match(found.stdout, /^mem_\S+ +\d\.\d{3} +alice +Alice is allergic to peanuts$/m);
    const hits = json<{ results: { memory: string }[] }>(
      await ok(["memories", "search", "tea", "--user-id", "bob", "--json"], as),
    );
    assert.deepEqual(
      hits.results.map((h) => h.memory),
      ["Bob drinks green tea"],
    );

    const list = json<{ memory: string; metadata: object }[]>(
      await ok(["memories", "list", "--json"], as),
    );
    assert.equal(list.length, 2);
    assert.deepEqual(list.find((m) => m.memory.startsWith("Alice"))?.metadata, {
      source: "intake",
    });
    const aliceOnly = await ok(["memories", "list", "--user-id", "alice"], as);
    assert.match(aliceOnly.stdout, /^ID +USER +AGENT +SESSION +CREATED +MEMORY$/m);
    assert.equal(aliceOnly.stdout.trim().split("\n").length, 2);

    const other = await newTenant("memories-other");
    await fails(["memories", "delete", second.results[0]?.id as string], /not_found/, {
      ENGRAM_API_KEY: other.key,
    });
    const deleted = await ok(["memories", "delete", second.results[0]?.id as string], as);
    assert.match(deleted.stdout, /^mem_\S+ +yes$/m);
    await fails(["memories", "delete", "--user-id", "alice"], /--yes/, as);
    assert.equal((await t.client.listMemories()).results.length, 1);
    const bulk = json<{ deleted: number }>(
      await ok(["memories", "delete", "--user-id", "alice", "--yes", "--json"], as),
    );
    assert.equal(bulk.deleted, 1);
    assert.equal((await ok(["memories", "list"], as)).stdout.trim(), "(none)");
  });

  test("errors: bad --metadata and --limit are refused before calling; a bad id is one line", async () => {
    const t = await newTenant("memories-errors");
    const as = { ENGRAM_API_KEY: t.key };
    const meta = await engram(["memories", "add", "x", "--metadata", "[1]"], as);
    assert.notEqual(meta.code, 0);
    assert.match(meta.stderr, /--metadata.*JSON object/);
    const limit = await engram(["memories", "search", "x", "--limit", "1000"], as);
    assert.notEqual(limit.code, 0);
    assert.match(limit.stderr, /--limit.*1 to 100/);
    await fails(["memories", "delete", "mem_01ARZ3NDEKTSV4RRFFQ69G5FAV"], /not_found/, as);
    await fails(["memories", "list"], /cannot reach the server at http:\/\/127\.0\.0\.1:9\b/, {
      ...as,
      ENGRAM_URL: "http://127.0.0.1:9",
    });
    assert.equal((await t.client.listMemories()).results.length, 0);
  });
});

describe("engram documents upload", () => {
  test("uploads each file, shows its states, waits for ingestion; a failed one makes exit 1", async () => {
    const t = await newTenant("documents-co");
    const policy = join(dir, "policy.md");
    writeFileSync(policy, "# Refunds\n\nRefunds are issued within 14 days of purchase.\n");
    const broken = join(dir, "broken.pdf");
    writeFileSync(broken, "not a pdf at all");
    const r = await engram(["documents", "upload", policy, broken, "--json"], {
      ENGRAM_API_KEY: t.key,
    });
    assert.equal(r.code, 1, r.stderr);
    const results = JSON.parse(r.stdout) as {
      file: string;
      state: string;
      chunks: number;
      error: string | null;
    }[];
    assert.deepEqual(
      results.map((x) => [x.file, x.state]),
      [
        [policy, "ready"],
        [broken, "failed"],
      ],
    );
    assert.ok((results[0]?.chunks ?? 0) >= 1);
    assert.match(results[1]?.error ?? "", /PDF/);
    // Per-file progress on stderr: uploaded, then the job's states, then the outcome.
    assert.match(r.stderr, /^policy\.md: uploading \(\d+ bytes\)$/m);
    assert.match(r.stderr, /^policy\.md: ready \(\d+ chunks?\)$/m);
    assert.match(r.stderr, /^broken\.pdf: failed$/m);
    const hits = await t.client.knowledge.searchKnowledge({ query: "how long do refunds take" });
    assert.ok(hits.results.length > 0);

    // The same upload again is the same document (its Idempotency-Key is the file's hash).
    const again = await ok(["documents", "upload", policy], { ENGRAM_API_KEY: t.key });
    assert.match(again.stdout, /^FILE +DOCUMENT +STATE +CHUNKS +ERROR$/m);
    assert.ok(
      again.stdout.includes(results[0] ? (JSON.parse(r.stdout)[0].document_id as string) : "?"),
    );
    assert.equal((await t.client.knowledge.listDocuments()).results.length, 2);

    await fails(["documents", "upload", join(dir, "missing.md")], /ENOENT.*missing\.md/, {
      ENGRAM_API_KEY: t.key,
    });
  });
});
