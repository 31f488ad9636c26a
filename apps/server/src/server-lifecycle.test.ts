import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { afterEach, test } from "node:test";
import {
  type AddMemoryResponse,
  EngramClient,
  EngramError,
  type HistoryEntry,
  type Memory,
} from "@engram/sdk";
import { callPath as call } from "./testing/http.ts";
import { acknowledgedWrites } from "./testing/memory-fixtures.ts";
import { killAll, within } from "./testing/run-process.ts";
import { freePort, newTenant, spawnServer, tempDir } from "./testing/test-server.ts";

// Durability through the real `engram serve` process: SIGTERM restart, kill -9, and draining.

type Spawned = Awaited<ReturnType<typeof spawnServer>>;

const running = new Set<Spawned>();
const dirs: string[] = [];

/** Kill whatever a test left running (even after a failed assertion), then drop its data. */
afterEach(async () => {
  await killAll(running);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

// Last resort if the test process ends without running afterEach (e.g. the runner's own timeout).
process.on("exit", () => {
  for (const s of running) s.child.kill("SIGKILL");
});

function dataDir(): string {
  const dir = tempDir("engram-lifecycle-");
  dirs.push(dir);
  return dir;
}

async function start(dir: string): Promise<Spawned> {
  const s = await spawnServer(dir, await freePort());
  running.add(s);
  return s;
}

/** SIGTERM, then the exit code, which must be 0 within the bound. */
async function stop(s: Spawned, boundMs = 30_000): Promise<void> {
  s.child.kill("SIGTERM");
  const code = await within(s.exited, boundMs, "exit after SIGTERM");
  running.delete(s);
  assert.equal(code, 0, `exit code after SIGTERM; output:\n${s.output()}`);
}

/** One GET /healthz on a new TCP connection (no pooled keep-alive socket): status or error code. */
function probeNewConnection(base: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest(new URL("/healthz", base), { agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

async function status404(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err) => err instanceof EngramError && err.status === 404);
}

async function listAll(client: EngramClient, query: { user_id?: string; agent_id?: string }) {
  const out: Memory[] = [];
  for await (const m of client.listAllMemories({ ...query, limit: 100 })) out.push(m);
  return out;
}

const sorted = (ids: Iterable<string>) => [...ids].sort();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("a SIGTERM restart keeps every memory, update, deletion, history entry and API key", {
  timeout: 120_000,
}, async () => {
  const dir = dataDir();
  const first = await start(dir);
  const { key, client } = await newTenant(first.url);

  const tea = (
    await client.addMemory({
      text: "Alice prefers green tea in the morning",
      user_id: "alice",
      metadata: { topic: "drinks" },
    })
  ).results[0];
  const chat = await client.addMemory({
    messages: [
      { role: "user", content: "I moved to Lisbon last spring" },
      { role: "assistant", content: "Noted: you live in Lisbon now." },
    ],
    user_id: "alice",
    session_id: "s1",
  });
  const batch = await client.batchAddMemories({
    memories: [
      { text: "Alice is allergic to peanuts", user_id: "alice" },
      { text: "Alice plays the cello on Sundays", user_id: "alice", agent_id: "coach" },
      { text: "Alice's sister is called Marta", user_id: "alice" },
      { text: "Bob drives a red bicycle to work", user_id: "bob" },
      { text: "Bob's favourite film is Alien", user_id: "bob" },
      { text: "Bob is learning Portuguese", user_id: "bob", session_id: "s2" },
    ],
  });
  assert.ok(tea);
  assert.equal(batch.results.length, 6);
  assert.ok(batch.results.every((r) => r.event === "ADD"));

  const updated = await client.updateMemory(tea.id, {
    text: "Alice prefers jasmine tea in the morning",
    metadata: { topic: "drinks", changed: true },
  });
  assert.equal(updated.memory, "Alice prefers jasmine tea in the morning");
  const sister = batch.results[2];
  assert.ok(sister);
  await client.deleteMemory(sister.id);
  const bobIds = batch.results.slice(3).map((r) => r.id);
  assert.deepEqual(await client.deleteMemories({ user_id: "bob" }), { deleted: 3 });

  const aliveIds = [tea, ...chat.results, ...batch.results.slice(0, 2)].map((r) => r.id);
  const deletedIds = [sister.id, ...bobIds];
  assert.equal(aliveIds.length, 5);

  // Everything as it stands before the restart, to compare field by field afterwards.
  const before = new Map<string, Memory>();
  for (const id of aliveIds) before.set(id, await client.getMemory(id));
  const historyBefore = new Map<string, HistoryEntry[]>();
  for (const id of [...aliveIds, ...deletedIds]) {
    historyBefore.set(id, (await client.getMemoryHistory(id)).results);
  }
  assert.deepEqual(
    historyBefore.get(tea.id)?.map((h) => h.event),
    ["ADD", "UPDATE"],
  );
  for (const id of deletedIds) {
    assert.deepEqual(
      historyBefore.get(id)?.map((h) => h.event),
      ["ADD", "DELETE"],
    );
  }

  await stop(first);

  const second = await start(dir);
  // The same key, unchanged, on the restarted process.
  const again = new EngramClient({ baseUrl: second.url, token: key });

  for (const [id, memory] of before) assert.deepEqual(await again.getMemory(id), memory);
  for (const id of deletedIds) await status404(again.getMemory(id));
  for (const [id, entries] of historyBefore) {
    assert.deepEqual((await again.getMemoryHistory(id)).results, entries, `history of ${id}`);
  }
  const tail = historyBefore.get(tea.id)?.at(-1);
  assert.equal(tail?.old_memory, "Alice prefers green tea in the morning");
  assert.equal(tail?.new_memory, "Alice prefers jasmine tea in the morning");

  assert.deepEqual(
    sorted((await listAll(again, { user_id: "alice" })).map((m) => m.id)),
    sorted(aliveIds),
  );
  assert.deepEqual(await listAll(again, { user_id: "bob" }), []);

  // Both halves of the hybrid index answer after the restart: each text finds itself.
  for (const [id, memory] of before) {
    const hits = (await again.searchMemories({ query: memory.memory, user_id: "alice" })).results;
    assert.ok(
      hits.some((h) => h.id === id),
      `search for "${memory.memory}" finds ${id}`,
    );
    const hit = hits.find((h) => h.id === id);
    assert.ok(hit && hit.scores.vector !== null && hit.scores.keyword !== null);
  }
  const bobHits = await again.searchMemories({ query: "Bob bicycle film Portuguese" });
  assert.ok(bobHits.results.every((h) => !deletedIds.includes(h.id)));
  const jasmineHits = await again.searchMemories({ query: "jasmine tea", user_id: "alice" });
  assert.equal(jasmineHits.results[0]?.id, tea.id);

  // And the restarted server still writes.
  const fresh = await again.addMemory({ text: "Alice started running", user_id: "alice" });
  assert.equal(fresh.results[0]?.event, "ADD");
  await stop(second);
});

test("kill -9 loses nothing that was acknowledged with 201", { timeout: 120_000 }, async () => {
  const dir = dataDir();
  const first = await start(dir);
  const { key } = await newTenant(first.url);

  const { acked, ack } = acknowledgedWrites(); // id → text
  for (let i = 0; i < 30; i++) {
    const text = `Acknowledged fact number ${i}: the tide in harbour ${i} turns at ${i % 12} o'clock`;
    ack(text, await call(first.url, key, "POST", "v1/memories", { text, user_id: "k9" }));
  }
  assert.equal(acked.size, 30);

  // A burst in flight: concurrent single adds and one slow batch that must be all-or-nothing.
  const batchTexts = Array.from(
    { length: 200 },
    (_, i) => `Batch fact ${i} in flight: lighthouse ${i} is painted ${i % 2 ? "red" : "white"}`,
  );
  const batchCall = call(first.url, key, "POST", "v1/memories/batch", {
    memories: batchTexts.map((text) => ({ text, user_id: "k9" })),
  }).catch(() => undefined);
  let firstAnswer: () => void = () => {};
  const answered = new Promise<void>((resolve) => {
    firstAnswer = resolve;
  });
  const burst = Array.from({ length: 40 }, async (_, i) => {
    const text = `Burst fact ${i}: the ferry to island ${i} leaves at dawn`;
    const res = await call(first.url, key, "POST", "v1/memories", { text, user_id: "k9" }).catch(
      () => undefined, // the connection died with the process
    );
    if (!res) return "cut";
    ack(text, res);
    firstAnswer();
    return "answered";
  });
  await within(answered, 30_000, "first answer of the burst");
  first.child.kill("SIGKILL");
  assert.equal(await first.exited, null);
  running.delete(first);
  const outcomes = await Promise.all(burst);
  assert.equal(await batchCall, undefined, "the batch was still in flight at the kill");
  assert.ok(outcomes.includes("answered"));
  assert.ok(acked.size > 30, "some of the burst was acknowledged before the kill");

  // The data dir must reopen after a crash; a stale lock or half-written page would fail here.
  const second = await start(dir);
  const client = new EngramClient({ baseUrl: second.url, token: key });
  for (const [id, text] of acked) {
    const memory = await client.getMemory(id);
    assert.equal(memory.memory, text);
    assert.equal(memory.user_id, "k9");
    const history = (await client.getMemoryHistory(id)).results;
    assert.deepEqual(
      history.map((h) => [h.event, h.old_memory, h.new_memory]),
      [["ADD", null, text]],
      `history of ${id}`,
    );
  }

  // Whatever else made it to disk is whole: every stored memory has its ADD in history, and
  // the batch (one transaction) is entirely present or entirely absent.
  const stored = await listAll(client, { user_id: "k9" });
  const storedIds = new Set(stored.map((m) => m.id));
  for (const id of acked.keys()) assert.ok(storedIds.has(id), `${id} is listed`);
  for (const m of stored) {
    const history = (await client.getMemoryHistory(m.id)).results;
    assert.deepEqual(
      history.map((h) => h.event),
      ["ADD"],
    );
  }
  const fromBatch = stored.filter((m) => m.memory.startsWith("Batch fact ")).length;
  assert.ok(fromBatch === 0 || fromBatch === 200, `batch rows after the crash: ${fromBatch}`);

  const some = [...acked][acked.size - 1];
  assert.ok(some);
  const hits = await client.searchMemories({ query: some[1], user_id: "k9" });
  assert.ok(hits.results.some((h) => h.id === some[0]));

  const after = await client.addMemory({ text: "Written after recovery", user_id: "k9" });
  assert.equal(after.results[0]?.event, "ADD");
  await stop(second);
});

test("SIGTERM drains an in-flight batch, refuses new connections, and exits 0", {
  timeout: 180_000,
}, async () => {
  const dir = dataDir();
  const first = await start(dir);
  const { key } = await newTenant(first.url);

  // 1,000 memories take several seconds to embed: long enough to still be running at SIGTERM.
  const texts = Array.from(
    { length: 1_000 },
    (_, i) => `Drained fact ${i}: orchard row ${i} grows ${["apples", "pears", "plums"][i % 3]}`,
  );
  const inFlight = call(first.url, key, "POST", "v1/memories/batch", {
    memories: texts.map((text) => ({ text, user_id: "drain" })),
  });
  // Long enough for the body to arrive and embedding to begin; the batch runs for seconds more.
  await sleep(1_000);
  const signalledAt = Date.now();
  first.child.kill("SIGTERM");

  // Signal delivery is asynchronous: probe until the server stops answering 200 on new connections.
  let probe = await probeNewConnection(first.url);
  for (const deadline = Date.now() + 5_000; probe === 200 && Date.now() < deadline; ) {
    await sleep(50);
    probe = await probeNewConnection(first.url);
  }
  const refused = (p: number | string) => p === "ECONNREFUSED" || p === 503;
  // A connection accepted in the very instant the listener closes is reset instead (TCP race).
  assert.ok(
    refused(probe) || probe === "ECONNRESET",
    `a new connection after SIGTERM is refused or 503, got ${probe}`,
  );
  const later = await probeNewConnection(first.url);
  assert.ok(refused(later), `a new connection while draining is refused or 503, got ${later}`);
  assert.equal(first.child.exitCode, null, "still draining the batch");

  const res = await inFlight;
  const answeredAt = Date.now();
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const results = (res.body as AddMemoryResponse).results;
  assert.equal(results.length, 1_000);
  assert.ok(results.every((r, i) => r.event === "ADD" && r.memory === texts[i]));

  // Once the last response is out, nothing may hold the exit (e.g. a kept-alive client socket).
  const code = await within(first.exited, 10_000, "exit after the drained response");
  running.delete(first);
  assert.equal(code, 0, first.output());
  assert.ok(
    Date.now() - signalledAt < 60_000,
    `exited ${Date.now() - signalledAt} ms after SIGTERM`,
  );
  assert.ok(Date.now() - answeredAt < 10_000);

  const second = await start(dir);
  const client = new EngramClient({ baseUrl: second.url, token: key });
  const stored = await listAll(client, { user_id: "drain" });
  assert.deepEqual(sorted(stored.map((m) => m.id)), sorted(results.map((r) => r.id)));
  const byId = new Map(stored.map((m) => [m.id, m.memory]));
  for (const r of results) assert.equal(byId.get(r.id), r.memory);
  const sample = results[777];
  assert.ok(sample);
  const hits = await client.searchMemories({ query: sample.memory, user_id: "drain" });
  assert.ok(hits.results.some((h) => h.id === sample.id));
  await stop(second);
});
