import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type HostPage, launchChromium, startHostPage } from "@engram/widget/testing";
import type { Browser } from "playwright-core";
import { type FakeOpenAI, startFakeOpenAI } from "../testing/fake-openai.ts";
import { startTestServer, type TestServer } from "../testing/test-server.ts";
import {
  answersSettled,
  answerTexts,
  QUESTION,
  shopAgent,
  visit,
} from "../testing/widget-visits.ts";

// With a model configured (here the local stand-in speaking OpenAI's streaming protocol, pausing
// between chunks), the answer's parts reach the browser apart in time, and the visitor watches it
// grow. Extractive answers (widget.browser.test.ts) are written all at once: the browser reads
// them in one go and renders every delta in one task, so only a model's answer shows the stream
// as a visitor sees it. A file of its own: a second server, configured with the model.
describe("the widget in chromium, against a real Engram answering with a model", () => {
  const MODEL_ANSWER = [
    "Unworn boots ",
    "can be returned ",
    "within 30 days ",
    "for a full refund [1].",
  ];
  let browser: Browser;
  let host: HostPage;
  let engram: TestServer;
  let model: FakeOpenAI;

  before(async () => {
    model = await startFakeOpenAI({
      handler: (request) =>
        request.body.stream === true
          ? { stream: MODEL_ANSWER, chunkDelayMs: 150 }
          : { status: 500, body: { error: { message: "only chat is expected here" } } },
    });
    // The browser first: if it cannot start, nothing else is left running to keep the test alive.
    browser = await launchChromium();
    [host, engram] = await Promise.all([
      startHostPage(),
      startTestServer({
        ENGRAM_LLM_BASE_URL: model.baseUrl,
        ENGRAM_LLM_MODEL: "gpt-test-mini",
        ENGRAM_LLM_MAX_RETRIES: "0",
      }),
    ]);
  });

  after(async () => {
    await browser?.close();
    await Promise.all([host?.close(), engram?.close(), model?.close()]);
  });

  test("the visitor sees the answer grow as the model writes it, with its source", async () => {
    const { client, agent, target } = await shopAgent(engram, host.origin);
    host.embed(target);
    await visit(browser, host.url, async (page) => {
      await page.getByRole("button", { name: "Chat", exact: true }).click();
      const dialog = page.getByRole("dialog", { name: "Chat with Acme Help" });
      await dialog.waitFor({ state: "visible" });
      // What the answer shows each time the page's rendering is told of a change (a task apart).
      await page.evaluate(`(() => {
        const log = document.querySelector("engram-widget").shadowRoot.querySelector("[role=log]");
        window.__seen = [];
        new MutationObserver(() => {
          const answers = log.querySelectorAll(".assistant .t");
          const last = answers[answers.length - 1];
          if (last) window.__seen.push({ text: last.textContent, at: performance.now() });
        }).observe(log, { childList: true, subtree: true, characterData: true });
      })()`);
      await dialog.getByRole("textbox", { name: "Your message" }).fill(QUESTION);
      await page.keyboard.press("Enter");
      await answersSettled(page, 1);
      const answer = MODEL_ANSWER.join("");
      assert.deepEqual(await answerTexts(page), [answer]);
      const seen = (await page.evaluate("window.__seen")) as { text: string; at: number }[];
      const partial = seen.filter((s) => s.text !== "" && s.text !== answer);
      assert.ok(
        new Set(partial.map((s) => s.text)).size >= 2,
        `the answer grew in steps, saw ${JSON.stringify(seen)}`,
      );
      const first = partial[0]?.at ?? 0;
      const whole = seen.find((s) => s.text === answer)?.at ?? 0;
      assert.ok(whole - first >= 200, `the parts came apart in time (${whole - first} ms)`);
      const sources = dialog.getByRole("list", { name: "Sources" }).first();
      assert.match(String(await sources.textContent()), /returns\.md · Refunds/);

      // The model was given the document's passage to ground the answer on.
      const prompt =
        model.requests
          .at(-1)
          ?.messages.map((m) => m.content)
          .join("\n") ?? "";
      assert.match(prompt, /within 30 days of delivery for a full refund/);
      const [conversation] = (await client.agents.listConversations({ agent_id: agent.id }))
        .results;
      const kept = await client.agents.getConversation(conversation?.id ?? "");
      assert.equal(kept.messages[1]?.mode, "llm");
      assert.equal(kept.messages[1]?.text, answer);
    });
  });
});
