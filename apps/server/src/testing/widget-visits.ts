import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { TestServer } from "./test-server.ts";

// What the widget's browser tests against the real server (apps/server/src/widget/) share: the
// shop's documents and agent, a visit in a fresh browser context, reading the widget's answers.
// Not in index.ts: only those tests use it, and it speaks playwright-core's types.

const RETURNS = `# Returns

## Refunds

Unworn boots can be returned within 30 days of delivery for a full refund. Print the prepaid label from your order page and drop the parcel at any post office. Refunds reach your card within five working days of the parcel arriving at our warehouse.
`;
const SHIPPING = `# Shipping

## Delivery times

Orders placed before noon leave our warehouse the same day. Standard delivery takes two to four working days; express delivery arrives the next working day.
`;

export const QUESTION = "How do I return my boots for a refund?";

/** The text of the widget's answers, in order (the DOM's, newlines included). */
export const answerTexts = (page: Page) =>
  page.locator("engram-widget .assistant .t").allTextContents();

/** Resolves once the widget shows `count` answers and none is streaming (aria-busy). */
export async function answersSettled(page: Page, count: number) {
  await page
    .locator("engram-widget .assistant .t")
    .nth(count - 1)
    .waitFor();
  await page.locator("engram-widget [aria-busy=true]").waitFor({ state: "detached" });
}

/** A tenant on `engram` with the two documents (ingested) and the agent, allowed on `origin`. */
export async function shopAgent(engram: TestServer, origin: string) {
  const { client } = await engram.newTenant();
  const uploads = await Promise.all([
    client.knowledge.createDocument({ filename: "returns.md", text: RETURNS }),
    client.knowledge.createDocument({ filename: "shipping.md", text: SHIPPING }),
  ]);
  for (const { job_id } of uploads) {
    assert.equal((await client.knowledge.waitForJob(job_id)).state, "completed");
  }
  const agent = await client.agents.createAgent({
    name: "Acme Help",
    instructions: "Answer from the shop's documents.",
    greeting: "Hi! Ask me anything.",
    allowed_origins: [origin],
  });
  const target = { base: engram.url, agentId: agent.id, publishableKey: agent.publishable_key };
  return { client, agent, target };
}

// The visit helper is the widget harness's own (one copy for both apps' browser tests).
export { visit } from "@engram/widget/testing";
