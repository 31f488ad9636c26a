import assert from "node:assert/strict";
import type { AddMemoryResponse, EngramClient, Memory } from "@engram/sdk";
import type { Tenant } from "./route-suite.ts";

/** A memory id as the API issues it. */
export const MEM_ID = /^mem_[0-9A-HJKMNP-TV-Z]{26}$/;
/** Well-formed, but no memory has it. */
export const MISSING_ID = "mem_01ARZ3NDEKTSV4RRFFQ69G5FAV";
/** Not shaped like a memory id at all. */
export const MALFORMED_ID = "not-a-memory";

/** A user message said by `name` at `timestamp` (and with the caller's message id, if given). */
export const said = (name: string, content: string, timestamp: string, id?: string) => ({
  role: "user" as const,
  name,
  content,
  timestamp,
  ...(id ? { id } : {}),
});

/** Adds one text memory and returns its id. */
export async function add(
  t: Tenant,
  text: string,
  extra: Omit<Parameters<EngramClient["addMemory"]>[0], "text"> = {},
) {
  const { results } = await t.client.addMemory({ text, ...extra });
  const [first] = results;
  assert.ok(first);
  return first.id;
}

/** Every memory of the tenant (or of a scope), through the paginated listing. */
export async function listAll(
  t: Tenant,
  scope: { user_id?: string; agent_id?: string; session_id?: string } = {},
) {
  const all: Memory[] = [];
  for await (const m of t.client.listAllMemories({ ...scope, limit: 100 })) all.push(m);
  return all;
}

/**
 * Records the memories a server acknowledged with 201 (id → text), checking each answer is the
 * one ADD of that text: what a crash test later expects to find again.
 */
export function acknowledgedWrites() {
  const acked = new Map<string, string>();
  const ack = (text: string, res: { status: number; body: unknown }) => {
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const result = (res.body as AddMemoryResponse).results[0];
    assert.ok(result && result.event === "ADD" && result.memory === text);
    acked.set(result.id, text);
  };
  return { acked, ack };
}
