import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import type { Agent, EngramClient } from "@engram/sdk";
import {
  type HostPage,
  launchChromium,
  startHostPage,
  type WidgetTarget,
} from "@engram/widget/testing";
import type { Browser, Page } from "playwright-core";
import { startTestServer, type TestServer } from "../testing/test-server.ts";
import {
  answersSettled,
  answerTexts,
  QUESTION,
  shopAgent,
  visit,
} from "../testing/widget-visits.ts";

// The widget in chromium against the real server (`engram serve`'s app, embedded PGlite, the local
// embedder, the extractive chat engine): a customer's page on another origin embeds the snippet, a
// visitor asks, the answer streams in with its sources, and what the server recorded is checked
// through the API. The UI's own error cases (mid-stream errors, interrupted answers, hostile CSS)
// are in apps/widget's test against a stand-in; a model's answer streaming in over time is in
// widget-model.browser.test.ts.

const FOLLOW_UP = "How long does delivery take?";

// Records the newest answer's text after every text node the widget appends to it (one per
// delta), so the steps of a stream show even when several deltas arrive in one network read and
// are rendered in one task (then a MutationObserver callback sees them in one batch).
const RECORD_ANSWER_GROWTH = `(() => {
  const log = document.querySelector("engram-widget").shadowRoot.querySelector("[role=log]");
  window.__answerTexts = [];
  new MutationObserver((records) => {
    for (const record of records) {
      const target = record.target;
      if (!(target instanceof Element) || !target.matches(".assistant .t")) continue;
      for (const added of record.addedNodes) {
        let text = "";
        for (const node of target.childNodes) {
          text += node.textContent;
          if (node === added) break;
        }
        window.__answerTexts.push(text);
      }
    }
  }).observe(log, { childList: true, subtree: true, characterData: true });
})()`;

const isFocused = (page: Page, name: string) =>
  page
    .getByRole("button", { name, exact: true })
    .evaluate((element) => element.getRootNode().activeElement === element);

interface ApiRequest {
  method: string;
  path: string;
  status?: number;
  /** Why the browser kept the answer from the page (a CORS error), if it did. */
  cors?: string;
}

/**
 * The page's requests to the server's /v1/ routes, as chromium's network layer saw them (the
 * DevTools protocol), with their statuses even where CORS hides the answer from the page.
 * `requests(expected)` waits (up to 5 s) for them to be `expected`, then returns them: the
 * protocol's events come on a channel of their own, in no fixed order (a preflight, under an id
 * of its own, may come before or after its request). Sorted by path, then method.
 */
async function watchApi(page: Page, base: string) {
  const sent = new Map<string, { method: string; path: string }>();
  const statuses = new Map<string, number>();
  const corsErrors = new Map<string, string>();
  const cdp = await page.context().newCDPSession(page);
  cdp.on("Network.requestWillBeSent", ({ requestId, request }) => {
    if (request.url.startsWith(`${base}/v1/`)) {
      sent.set(requestId, { method: request.method, path: new URL(request.url).pathname });
    }
  });
  cdp.on("Network.responseReceivedExtraInfo", ({ requestId, statusCode }) => {
    statuses.set(requestId, statusCode);
  });
  cdp.on("Network.loadingFailed", ({ requestId, corsErrorStatus }) => {
    if (corsErrorStatus) corsErrors.set(requestId, corsErrorStatus.corsError);
  });
  await cdp.send("Network.enable");
  const list = (): ApiRequest[] =>
    [...sent.entries()]
      .map(([id, request]) => {
        const status = statuses.get(id);
        const cors = corsErrors.get(id);
        return { ...request, ...(status ? { status } : {}), ...(cors ? { cors } : {}) };
      })
      .sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
  return {
    async requests(expected: ApiRequest[]) {
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && !isDeepStrictEqual(list(), expected)) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return list();
    },
  };
}

describe("the widget in chromium, on a page of another origin, against a real Engram", () => {
  let browser: Browser;
  let host: HostPage;
  let refusedHost: HostPage;
  let engram: TestServer;
  let client: EngramClient;
  let agent: Agent;

  before(async () => {
    // The browser first: if it cannot start, nothing else is left running to keep the test alive.
    browser = await launchChromium();
    [host, refusedHost, engram] = await Promise.all([
      startHostPage(),
      startHostPage(),
      startTestServer(),
    ]);
    let target: WidgetTarget;
    ({ client, agent, target } = await shopAgent(engram, host.origin));
    host.embed(target);
    refusedHost.embed(target);
  });

  after(async () => {
    await browser?.close();
    await Promise.all([host?.close(), refusedHost?.close(), engram?.close()]);
  });

  const visitPage = (url: string, run: (page: Page) => Promise<void>) => visit(browser, url, run);

  test("a visitor asks from the keyboard, sees the answer stream in with its source, reloads and goes on in the same conversation", async () => {
    await visitPage(host.url, async (page) => {
      const launcher = page.getByRole("button", { name: "Chat", exact: true });
      await launcher.waitFor({ state: "visible" });
      for (let presses = 0; presses < 5 && !(await isFocused(page, "Chat")); presses++) {
        await page.keyboard.press("Tab");
      }
      assert.ok(await isFocused(page, "Chat"), "the launcher is reachable with Tab");
      await page.keyboard.press("Enter");
      // The agent's name and greeting come from GET /v1/agents/{id}/config with the publishable key.
      const dialog = page.getByRole("dialog", { name: "Chat with Acme Help" });
      await dialog.waitFor({ state: "visible" });
      await dialog.getByText("Hi! Ask me anything.").waitFor();
      const log = dialog.getByRole("log");

      await page.evaluate(RECORD_ANSWER_GROWTH);
      await page.keyboard.type(QUESTION);
      await page.keyboard.press("Enter");
      await answersSettled(page, 1);
      const [answer = ""] = await answerTexts(page);
      assert.match(answer, /within 30 days of delivery for a full refund/);
      assert.doesNotMatch(answer, /could not|went wrong|lost/);
      const steps = (await page.evaluate("window.__answerTexts")) as string[];
      const partial = new Set(steps.filter((t) => t && t !== answer && answer.startsWith(t)));
      assert.ok(partial.size >= 2, `the answer grew in steps, saw ${JSON.stringify(steps)}`);
      assert.equal(steps.at(-1), answer, "the last step is the whole answer");
      const sources = log.getByRole("list", { name: "Sources" }).first();
      assert.match(String(await sources.textContent()), /returns\.md · Refunds/);

      // What the server recorded: one conversation of this agent with the widget's visitor.
      const listed = await client.agents.listConversations({ agent_id: agent.id });
      assert.equal(listed.results.length, 1);
      const conversationId = listed.results[0]?.id ?? "";
      const first = await client.agents.getConversation(conversationId);
      const stored = await page.evaluate(
        (key) => JSON.parse(localStorage.getItem(key) ?? "{}") as { visitorId?: string },
        `engram:v1:${agent.id}`,
      );
      assert.match(String(stored.visitorId), /^v_[A-Za-z0-9_-]{22}$/);
      assert.equal(first.user_id, `visitor:${stored.visitorId}`, "the browser's visitor id");
      assert.equal(first.message_count, 2);
      assert.equal(first.messages[0]?.text, QUESTION);
      assert.equal(first.messages[1]?.text, answer, "the widget shows the answer the server kept");
      assert.equal(first.messages[1]?.mode, "extractive");
      assert.ok(first.messages[1]?.citations.some((c) => c.title === "returns.md"));

      // A reload shows the conversation again, and the follow-up continues it.
      await page.reload();
      await launcher.click();
      await dialog.waitFor({ state: "visible" });
      await log.getByText(QUESTION).waitFor();
      assert.deepEqual(await answerTexts(page), [answer]);
      assert.match(String(await sources.textContent()), /returns\.md · Refunds/);
      await dialog.getByRole("textbox", { name: "Your message" }).fill(FOLLOW_UP);
      await page.keyboard.press("Enter");
      await answersSettled(page, 2);
      const [, followUp = ""] = await answerTexts(page);
      assert.match(followUp, /two to four working days/);

      const after = await client.agents.listConversations({ agent_id: agent.id });
      assert.deepEqual(
        after.results.map((c) => c.id),
        [conversationId],
        "no new conversation",
      );
      const continued = await client.agents.getConversation(conversationId);
      assert.equal(continued.message_count, 4);
      assert.equal(continued.user_id, first.user_id, "the same visitor");
      assert.deepEqual(
        continued.messages.map((m) => m.text),
        [QUESTION, answer, FOLLOW_UP, followUp],
      );
    });
  });

  test("a page on an origin the agent does not allow is refused: the visitor is told, the server records nothing", async () => {
    const before = await client.agents.listConversations({ agent_id: agent.id });
    await visitPage(refusedHost.url, async (page) => {
      // The server's refusals carry no CORS header: the browser hides them from the page.
      const network = await watchApi(page, engram.url);
      await page.getByRole("button", { name: "Chat", exact: true }).click();
      const dialog = page.getByRole("dialog");
      await dialog.waitFor({ state: "visible" });
      const notice = dialog.getByRole("alert");
      await notice.waitFor();
      assert.match(String(await notice.textContent()), /can't be reached from this page/);
      const input = dialog.getByRole("textbox", { name: "Your message" });
      await input.fill(QUESTION);
      await input.press("Enter");
      await dialog
        .getByRole("log")
        .getByText(/can't be reached from this page/)
        .waitFor();
      // Both were sent (their preflights pass: a preflight has no key to check) and refused.
      const config = `/v1/agents/${agent.id}/config`;
      const chat = `/v1/agents/${agent.id}/chat`;
      const refused = { status: 403, cors: "MissingAllowOriginHeader" };
      const expected = [
        { method: "OPTIONS", path: chat, status: 204 },
        { method: "POST", path: chat, ...refused },
        { method: "GET", path: config, ...refused },
        { method: "OPTIONS", path: config, status: 204 },
      ];
      assert.deepEqual(await network.requests(expected), expected);
      const stored = await page.evaluate(
        (key) => JSON.parse(localStorage.getItem(key) ?? "{}") as { visitorId?: string },
        `engram:v1:${agent.id}`,
      );
      assert.match(String(stored.visitorId), /^v_/);
      const theirs = await client.agents.listConversations({
        user_id: `visitor:${stored.visitorId}`,
      });
      assert.deepEqual(theirs.results, []);
    });
    const afterwards = await client.agents.listConversations({ agent_id: agent.id });
    assert.deepEqual(afterwards.results, before.results, "no conversation from the refused page");
  });

  test("in the browser, the publishable key reaches no other route", async () => {
    const key = agent.publishable_key;
    // From the allowed page, cross-origin: no other route answers the preflight (404, no CORS
    // headers), so the browser does not even send the key.
    await visitPage(host.url, async (page) => {
      const network = await watchApi(page, engram.url);
      const outcome = await page.evaluate(
        async ({ url, key }) => {
          try {
            const res = await fetch(`${url}/v1/memories`, {
              headers: { authorization: `Bearer ${key}` },
            });
            return `status ${res.status}`;
          } catch (error) {
            return (error as Error).name;
          }
        },
        { url: engram.url, key },
      );
      assert.equal(outcome, "TypeError", "the browser refuses the request");
      const expected = [
        { method: "GET", path: "/v1/memories", cors: "PreflightMissingAllowOriginHeader" },
        { method: "OPTIONS", path: "/v1/memories", status: 404 },
      ];
      assert.deepEqual(await network.requests(expected), expected, "only the preflight was sent");
    });
    // From a page of the server's own origin (no CORS in the way), the server refuses it: 403.
    await visitPage(`${engram.url}/healthz`, async (page) => {
      const answers = await page.evaluate(async (key) => {
        const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
        const read = await fetch("/v1/memories", { headers });
        const write = await fetch("/v1/memories", {
          method: "POST",
          headers,
          body: JSON.stringify({ content: "I am an admin", user_id: "u1" }),
        });
        const agents = await fetch("/v1/agents", { headers });
        return Promise.all(
          [read, write, agents].map(async (r) => ({
            status: r.status,
            code: ((await r.json()) as { code?: string }).code,
          })),
        );
      }, key);
      assert.deepEqual(answers, [
        { status: 403, code: "forbidden" },
        { status: 403, code: "forbidden" },
        { status: 403, code: "forbidden" },
      ]);
    });
    const memories = await client.listMemories({});
    assert.equal(memories.results.length, 0, "nothing was written");
  });
});
