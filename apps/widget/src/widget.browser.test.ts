import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Locator, Page } from "playwright-core";
import {
  type HostPage,
  launchChromium,
  STAND_IN_ANSWER,
  STAND_IN_FAILING_MESSAGE,
  STAND_IN_FAILURE_DETAIL,
  startHostPage,
  startStandInEngram,
  visit,
} from "./testing/index.ts";

// A host page that does its worst: it hides every element it can reach, restyles every button,
// input, list and div, and sets huge inherited fonts. None of it may reach into the widget.
const HOSTILE_CSS = `
html { font-size: 40px; }
body { color: rgb(255, 0, 0); font: 40px/3 serif; letter-spacing: 6px; text-align: right; }
body > *, engram-widget { display: none !important; visibility: hidden !important; opacity: 0 !important; }
button, input, li, div, section, p { color: rgb(255, 0, 0) !important; background: rgb(0, 255, 0) !important;
  font-size: 40px !important; border: 9px solid red !important; display: none !important; }
`;

const ANSWER = STAND_IN_ANSWER.deltas.join("");

// Records every text the newest answer shows, as it changes: a streamed answer shows partial texts.
const RECORD_ANSWER_GROWTH = `(() => {
  const log = document.querySelector("engram-widget").shadowRoot.querySelector("[role=log]");
  window.__answerTexts = [];
  new MutationObserver(() => {
    const answers = log.querySelectorAll(".assistant .t");
    const last = answers[answers.length - 1];
    if (last) window.__answerTexts.push(last.textContent);
  }).observe(log, { childList: true, subtree: true, characterData: true });
})()`;

const isFocused = (locator: Locator) =>
  locator.evaluate((element) => element.getRootNode().activeElement === element);
const style = (locator: Locator, property: string) =>
  locator.evaluate(
    (element, name) =>
      element.ownerDocument.defaultView?.getComputedStyle(element).getPropertyValue(name) ?? "",
    property,
  );

describe("the widget in chromium, embedded by a page on another origin", () => {
  let browser: Browser;
  let host: HostPage;
  let refusedHost: HostPage;
  let engram: Awaited<ReturnType<typeof startStandInEngram>>;

  before(async () => {
    browser = await launchChromium();
    host = await startHostPage();
    refusedHost = await startHostPage();
    // The server side: a stand-in speaking the widget's protocol, for the UI's error cases. The
    // same visit against a real Engram is apps/server/src/widget/widget.browser.test.ts.
    engram = await startStandInEngram({ allowedOrigins: [host.origin] });
    host.embed(engram, { css: HOSTILE_CSS });
    refusedHost.embed(engram);
  });

  after(async () => {
    await browser?.close();
    await Promise.all([host?.close(), refusedHost?.close(), engram?.close()]);
  });

  const visitPage = (url: string, run: (page: Page) => Promise<void>) => visit(browser, url, run);

  test("a visitor opens it from the keyboard, sees the answer stream in with its source, and finds the conversation again after a reload", async () => {
    await visitPage(host.url, async (page) => {
      const launcher = page.getByRole("button", { name: "Chat", exact: true });
      await launcher.waitFor({ state: "visible" });
      assert.equal(await launcher.getAttribute("aria-expanded"), "false");

      // Tab to the launcher (past whatever the host page lets be focused); Enter opens the dialog.
      for (let presses = 0; presses < 5 && !(await isFocused(launcher)); presses++) {
        await page.keyboard.press("Tab");
      }
      assert.ok(await isFocused(launcher), "the launcher is reachable with Tab");
      await page.keyboard.press("Enter");
      const dialog = page.getByRole("dialog", { name: "Chat with Acme Help" });
      await dialog.waitFor({ state: "visible" });
      assert.equal(await launcher.getAttribute("aria-expanded"), "true");
      const input = dialog.getByRole("textbox", { name: "Your message" });
      assert.ok(await isFocused(input), "opening focuses the message input");
      await dialog.getByText("Hi! Ask me anything.").waitFor();
      const log = dialog.getByRole("log");
      assert.equal(await log.getAttribute("aria-live"), "polite");
      assert.equal(await dialog.getByRole("button", { name: "Send" }).count(), 1);

      // Escape closes it and gives focus back to the launcher; Space opens it again.
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "hidden" });
      assert.ok(await isFocused(launcher), "closing returns focus to the launcher");
      assert.equal(await launcher.getAttribute("aria-expanded"), "false");
      await page.keyboard.press(" ");
      await dialog.waitFor({ state: "visible" });
      assert.ok(await isFocused(input));

      await page.evaluate(RECORD_ANSWER_GROWTH);
      await page.keyboard.type("Can I return my boots?");
      await page.keyboard.press("Enter");
      await log.getByText(ANSWER).waitFor();
      const texts = (await page.evaluate("window.__answerTexts")) as string[];
      const partial = new Set(texts.filter((t) => t && t !== ANSWER && ANSWER.startsWith(t)));
      assert.ok(partial.size >= 2, `the answer grew in steps, saw ${JSON.stringify(texts)}`);
      const sources = log.getByRole("list", { name: "Sources" });
      assert.equal(await sources.textContent(), "returns-policy.pdf, p. 2 · Refunds");

      assert.equal(engram.chats.length, 1);
      const first = engram.chats[0];
      assert.equal(first?.origin, host.origin);
      assert.equal(first?.body.message, "Can I return my boots?");
      assert.match(String(first?.body.user_id), /^v_[A-Za-z0-9_-]{22}$/);
      assert.equal(first?.body.conversation_id, undefined);

      // A reload keeps the conversation: the transcript, its sources, and the same ids.
      await page.reload();
      await launcher.click();
      await dialog.waitFor({ state: "visible" });
      await log.getByText("Can I return my boots?").waitFor();
      await log.getByText(ANSWER).waitFor();
      assert.equal(await sources.textContent(), "returns-policy.pdf, p. 2 · Refunds");
      await input.fill("And exchanges?");
      await input.press("Enter");
      await log.getByText(ANSWER).nth(1).waitFor();
      const second = engram.chats[1];
      assert.equal(second?.body.user_id, first?.body.user_id, "the same visitor");
      assert.match(String(second?.body.conversation_id), /^cnv_/, "the same conversation goes on");
    });
  });

  test("the host page's stylesheet cannot hide or restyle the widget (shadow DOM)", async () => {
    await visitPage(host.url, async (page) => {
      const launcher = page.getByRole("button", { name: "Chat", exact: true });
      await launcher.waitFor({ state: "visible" });
      assert.equal(await style(launcher, "background-color"), "rgb(36, 83, 214)");
      assert.equal(await style(launcher, "color"), "rgb(255, 255, 255)");
      assert.equal(await style(launcher, "width"), "56px");
      await launcher.click();
      const dialog = page.getByRole("dialog", { name: "Chat with Acme Help" });
      await dialog.waitFor({ state: "visible" });
      const input = dialog.getByRole("textbox", { name: "Your message" });
      assert.equal(await style(input, "font-size"), "15px");
      assert.equal(await style(input, "color"), "rgb(31, 35, 40)");
      assert.equal(await style(input, "border-top-width"), "1px");
      const greeting = dialog.getByText("Hi! Ask me anything.");
      assert.equal(await style(greeting, "font-size"), "15px");
      assert.equal(await style(greeting, "letter-spacing"), "normal");
      assert.match(await style(greeting, "font-family"), /^system-ui,/);
      // The page's own elements did take its rules: the stylesheet is really there.
      assert.equal(await style(page.locator("#host-button"), "display"), "none");
    });
  });

  test("an error in the middle of an answer reads as a message, and the visitor can go on", async () => {
    await visitPage(host.url, async (page) => {
      await page.getByRole("button", { name: "Chat", exact: true }).click();
      const dialog = page.getByRole("dialog", { name: "Chat with Acme Help" });
      const input = dialog.getByRole("textbox", { name: "Your message" });
      await input.fill(STAND_IN_FAILING_MESSAGE);
      await input.press("Enter");
      await dialog.getByText(STAND_IN_FAILURE_DETAIL).waitFor();
      await input.fill("Can I return my boots?");
      await dialog.getByRole("button", { name: "Send" }).click();
      await dialog.getByRole("log").getByText(ANSWER).waitFor();
    });
  });

  test("a reload in the middle of an answer marks that answer interrupted, and the chat goes on", async () => {
    await visitPage(host.url, async (page) => {
      const launcher = page.getByRole("button", { name: "Chat", exact: true });
      await launcher.click();
      const dialog = page.getByRole("dialog", { name: "Chat with Acme Help" });
      const input = dialog.getByRole("textbox", { name: "Your message" });
      await input.fill("Can I return my boots?");
      await input.press("Enter");
      const first = STAND_IN_ANSWER.deltas[0] ?? "";
      await dialog.getByRole("log").getByText(first.trim()).waitFor();
      await page.reload();
      await launcher.click();
      const log = dialog.getByRole("log");
      await log.getByText("Can I return my boots?").waitFor();
      await log.getByText("This answer was interrupted.").waitFor();
      await input.fill("Can I return my boots?");
      await input.press("Enter");
      await log.getByText(ANSWER).waitFor();
    });
  });

  test("a page on an origin the agent does not allow is refused, and the visitor is told", async () => {
    const chatsBefore = engram.chats.length;
    await visitPage(refusedHost.url, async (page) => {
      await page.getByRole("button", { name: "Chat", exact: true }).click();
      const dialog = page.getByRole("dialog");
      await dialog.waitFor({ state: "visible" });
      const notice = dialog.getByRole("alert");
      await notice.waitFor();
      assert.match(String(await notice.textContent()), /can't be reached from this page/);
      const input = dialog.getByRole("textbox", { name: "Your message" });
      await input.fill("Hello?");
      await input.press("Enter");
      await dialog
        .getByRole("log")
        .getByText(/can't be reached from this page/)
        .waitFor();
    });
    assert.ok(engram.refusedOrigins.includes(refusedHost.origin));
    assert.equal(
      engram.chats.length,
      chatsBefore,
      "no chat request was accepted from the refused origin",
    );
  });
});
