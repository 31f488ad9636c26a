import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { EngramClient, Memory } from "@engram/sdk";
import { runEngram, spawnEngramCommand } from "../testing/engram-cli.ts";
import { type RunningProcess, until } from "../testing/run-process.ts";
import { freePort, newTenant, spawnServer, tempDir } from "../testing/test-server.ts";

// `engram export` and `engram import` through a child process against a real server: the round
// trip between tenants, and an import killed mid-way then resumed (and rerun without its
// checkpoint) without a duplicate.

let server: Awaited<ReturnType<typeof spawnServer>>;
const dir = tempDir("engram-cli-transfer-");
const children: RunningProcess[] = [];

before(async () => {
  server = await spawnServer(join(dir, "server"), await freePort());
  children.push(server);
});
after(async () => {
  for (const child of children) await child.stop("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const engram = (args: string[], key: string) =>
  runEngram(args, {
    ENGRAM_DATA_DIR: join(dir, "cli"),
    ENGRAM_URL: server.url,
    ENGRAM_API_KEY: key,
  });

async function all(client: EngramClient): Promise<Memory[]> {
  const out: Memory[] = [];
  for await (const m of client.listAllMemories({ limit: 100 })) out.push(m);
  return out;
}

/**
 * What a restored memory must keep, comparable across tenants. One stored without a timestamp
 * comes back with its original creation time as timestamp, so that its valid_from is kept.
 */
const restorable = (m: {
  memory?: string;
  text?: string;
  user_id: string | null;
  agent_id: string | null;
  session_id: string | null;
  metadata: unknown;
  timestamp: string | null;
  valid_from: string | null;
}) =>
  JSON.stringify([
    m.memory ?? m.text,
    m.user_id,
    m.agent_id,
    m.session_id,
    m.metadata,
    m.timestamp ?? m.valid_from,
    m.valid_from,
  ]);

const lines = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      text: `${prefix} fact number ${i}: the ${["red", "green", "blue"][i % 3]} shed holds tool ${i}`,
      user_id: `user-${i % 4}`,
      metadata: { n: i },
    }),
  ).join("\n");

describe("engram export → engram import", () => {
  test("round trip into another tenant: the same memories, scopes, metadata and times", async () => {
    const a = await newTenant(server.url);
    const memories = Array.from({ length: 45 }, (_, i) => ({
      text: `Round trip memory ${i} about ${["tea", "bees", "chess"][i % 3]}`,
      ...(i % 2 ? { user_id: `u${i % 5}` } : {}),
      ...(i % 3 === 0 ? { agent_id: "helper" } : {}),
      ...(i % 7 === 0 ? { session_id: `s${i}` } : {}),
      metadata: { i, tags: ["x", String(i)] },
      ...(i % 4 === 0 ? { timestamp: `2024-0${1 + (i % 9)}-15T10:00:00.000Z` } : {}),
    }));
    await a.client.batchAddMemories({ memories });
    const file = join(dir, "a.jsonl");
    const exported = await engram(["export", "--output", file], a.key);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /^exported +45 memories$/m);
    const records = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(records.length, 45);
    assert.ok(!existsSync(`${file}.partial`));

    // A scope's export to stdout: only that user's memories, the count on stderr.
    const scoped = await engram(["export", "--user-id", "u1"], a.key);
    assert.equal(scoped.code, 0, scoped.stderr);
    const u1 = scoped.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { user_id: string });
    assert.ok(u1.length > 0 && u1.every((r) => r.user_id === "u1"));
    assert.match(scoped.stderr, new RegExp(`exported ${u1.length} memories`));

    const b = await newTenant(server.url);
    const imported = await engram(["import", file, "--batch-size", "20", "--json"], b.key);
    assert.equal(imported.code, 0, imported.stderr);
    const summary = JSON.parse(imported.stdout) as { sent: number; added: number };
    assert.deepEqual([summary.sent, summary.added], [45, 45]);

    const before = (await all(a.client)).map(restorable).sort();
    const after = (await all(b.client)).map(restorable).sort();
    assert.deepEqual(after, before);
    // And an export of the copy has the same content as the original's.
    const copy = join(dir, "b.jsonl");
    assert.equal((await engram(["export", "-o", copy, "--json"], b.key)).code, 0);
    const again = readFileSync(copy, "utf8")
      .trim()
      .split("\n")
      .map((l) => restorable(JSON.parse(l)));
    assert.deepEqual(again.sort(), records.map(restorable).sort());
  });

  test("an import killed mid-way resumes from its checkpoint; reruns add no duplicate", async () => {
    const t = await newTenant(server.url);
    const file = join(dir, "big.jsonl");
    writeFileSync(file, `${lines(150, "Resume")}\n`);
    const checkpoint = `${file}.import-checkpoint.json`;
    const read = () =>
      JSON.parse(readFileSync(checkpoint, "utf8")) as {
        sent: number;
        next_line: number;
        completed: boolean;
      };

    // Two batches in flight: the checkpoint must still only count what is stored, in order.
    const child = spawnEngramCommand(["import", file, "--batch-size", "10", "--concurrency", "2"], {
      ENGRAM_URL: server.url,
      ENGRAM_API_KEY: t.key,
    });
    children.push(child);
    await until(
      "three batches in the checkpoint",
      () => existsSync(checkpoint) && read().sent >= 30,
      60_000,
    );
    await child.stop("SIGKILL");
    const cut = read();
    assert.equal(cut.completed, false);
    assert.ok(cut.sent < 150, `killed before the end (${cut.sent})`);
    assert.equal(cut.next_line, cut.sent + 1);
    const stored = (await all(t.client)).length;
    // Stored: what the checkpoint says, plus at most the two batches in flight when it was killed.
    assert.ok(stored >= cut.sent && stored <= cut.sent + 20, `${stored} vs ${cut.sent}`);
    // Progress lines on stderr (not a terminal): count, rate and ETA.
    assert.match(child.stderr(), /^import: \d+\/150 memories \(\d+\/s, ETA [^)]+\)$/m);

    const resumed = await engram(["import", file], t.key);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`^resumed at +line ${cut.next_line}$`, "m"));
    assert.match(
      resumed.stdout,
      new RegExp(`^sent +${150 - cut.sent} memories this run, 150 in all$`, "m"),
    );
    const texts = (await all(t.client)).map((m) => m.memory);
    assert.equal(texts.length, 150);
    assert.equal(new Set(texts).size, 150);

    // Done: a rerun does nothing; with --restart, or without the checkpoint and another batch
    // size (so other Idempotency-Keys), it sends everything again and stores nothing new.
    const done = await engram(["import", file], t.key);
    assert.match(done.stdout, /imported already/);
    const restarted = await engram(["import", file, "--restart", "--json"], t.key);
    assert.equal(restarted.code, 0, restarted.stderr);
    const again = JSON.parse(restarted.stdout) as { added: number; unchanged: number };
    assert.deepEqual([again.added, again.unchanged], [0, 150], "exact duplicates are NOOPs");
    unlinkSync(checkpoint);
    const lost = await engram(["import", file, "--batch-size", "25", "--json"], t.key);
    assert.equal(lost.code, 0, lost.stderr);
    const summary = JSON.parse(lost.stdout) as { sent: number; added: number; unchanged: number };
    assert.deepEqual([summary.sent, summary.added, summary.unchanged], [150, 0, 150]);
    assert.equal((await all(t.client)).length, 150);

    // Deleted since: --restart (new Idempotency-Keys) stores them again rather than replaying.
    for (let u = 0; u < 4; u++) await t.client.deleteMemories({ user_id: `user-${u}` });
    assert.equal((await all(t.client)).length, 0);
    const restored = await engram(
      ["import", file, "--restart", "--batch-size", "10", "--json"],
      t.key,
    );
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal((JSON.parse(restored.stdout) as { added: number }).added, 150);
    assert.equal((await all(t.client)).length, 150);
  });

  test("errors: a bad line stops at that line (earlier batches kept); a changed file needs --restart", async () => {
    const t = await newTenant(server.url);
    const file = join(dir, "bad.jsonl");
    writeFileSync(file, `${lines(5, "Bad")}\n{"text": "six"}\nnot json\n`);
    const r = await engram(["import", file, "--batch-size", "2", "--no-progress"], t.key);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "engram: line 7: not JSON\n");
    // Lines 1-6 went in three batches before line 7 was read.
    assert.equal((await all(t.client)).length, 6);

    writeFileSync(file, `${lines(3, "Other")}\n`);
    const changed = await engram(["import", file], t.key);
    assert.equal(changed.code, 1);
    assert.match(changed.stderr, /another version of .*--restart/);
    const restarted = await engram(["import", file, "--restart", "--json"], t.key);
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.equal((await all(t.client)).length, 9);

    // A line the server refuses (a user id over 128 characters) is named by its line number.
    const tooLong = join(dir, "too-long.jsonl");
    writeFileSync(tooLong, `{"text": "fine"}\n{"text": "long", "user_id": "${"u".repeat(200)}"}\n`);
    const refused = await engram(["import", tooLong, "--no-progress"], t.key);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^engram: line 2: validation_failed: "user_id" must NOT have more than 128 characters\n$/,
    );

    const missingText = join(dir, "no-text.jsonl");
    writeFileSync(missingText, '{"user_id": "u"}\n');
    const noText = await engram(["import", missingText], t.key);
    assert.equal(noText.code, 1);
    assert.match(noText.stderr, /line 1: "text" must be a non-empty string/);
  });
});
