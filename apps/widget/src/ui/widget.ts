// The widget bundle (engram.js): the chat dialog, mounted by the loader in its shadow root.
import { createChatClient, WidgetError } from "./chat-client.ts";
import type { MountOptions, WidgetHandle } from "./mount-options.ts";
import { type Citation, openTranscript, type TranscriptMessage } from "./transcript.ts";
import { WIDGET_CSS } from "./widget-styles.ts";

type Child = Node | string;

/** A DOM element with attributes and children; strings become text nodes (never parsed as HTML). */
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

const SEND_ICON =
  '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M3 20.5 21 12 3 3.5 3 10l12 2-12 2z"/></svg>';

/** "handbook.pdf, p. 3 · Returns": what a citation label reads. */
function citationLabel(citation: Citation): HTMLLIElement {
  const rest = [
    citation.page === undefined ? "" : `, p. ${citation.page}`,
    citation.heading ? ` · ${citation.heading}` : "",
  ].join("");
  const item = h("li", {}, h("span", { class: "ct" }, citation.title), rest);
  if (citation.snippet) item.title = citation.snippet.slice(0, 400);
  return item;
}

/** One message's node; `append` adds streamed text without re-rendering what is there. */
function messageView(message: TranscriptMessage) {
  const text = h("div", { class: "t" }, message.text);
  const node = h("div", { class: `m ${message.role}` }, text);
  const extras = h("div");
  extras.style.display = "contents";
  node.append(extras);
  const update = () => {
    const parts: Node[] = [];
    const seen = new Set<string>();
    const citations = (message.citations ?? []).filter((c) => {
      const key = `${c.document_id}#${c.page ?? ""}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (citations.length > 0) {
      parts.push(h("ul", { class: "c", "aria-label": "Sources" }, ...citations.map(citationLabel)));
    }
    if (message.terminated) parts.push(h("p", { class: "note" }, "(The answer was cut short.)"));
    if (message.error) parts.push(h("p", { class: "e" }, message.error));
    extras.replaceChildren(...parts);
  };
  update();
  return { node, update, append: (delta: string) => text.append(delta) };
}

/** Mounts the chat dialog next to the loader's launcher; the loader calls toggle() on clicks. */
export function mount(root: ShadowRoot, options: MountOptions): WidgetHandle {
  const { launcher } = options;
  const client = createChatClient(options);
  const store = openTranscript(options.agentId);
  const { transcript } = store;

  const style = h("style");
  style.textContent = WIDGET_CSS;
  const title = h("h2", {}, "Chat");
  const closeButton = h("button", { type: "button", class: "x", "aria-label": "Close chat" }, "×");
  const log = h("div", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-label": "Conversation",
    tabindex: "0",
  });
  const notice = h("p", { class: "notice", role: "alert", hidden: "" });
  const input = h("input", {
    id: "engram-input",
    type: "text",
    // CHAT_MESSAGE_MAX of @engram/contract (not imported: the bundle stays free of TypeBox).
    maxlength: "4000",
    autocomplete: "off",
    placeholder: "Ask a question…",
  });
  const send = h("button", { type: "submit", class: "send", "aria-label": "Send" });
  send.innerHTML = SEND_ICON;
  const form = h(
    "form",
    { class: "form" },
    h("label", { for: "engram-input", class: "sr" }, "Your message"),
    input,
    send,
  );
  const panel = h(
    "section",
    { id: "engram-dialog", class: "panel", role: "dialog", "aria-label": "Chat", hidden: "" },
    h("div", { class: "head" }, title, closeButton),
    log,
    notice,
    form,
  );
  launcher.setAttribute("aria-controls", "engram-dialog");
  root.append(style, panel);

  const greeting = h("div", { class: "m assistant", hidden: "" });
  log.append(greeting);
  for (const message of transcript.messages) log.append(messageView(message).node);
  const scroll = () => {
    log.scrollTop = log.scrollHeight;
  };

  const showNotice = (text: string) => {
    notice.textContent = text;
    notice.hidden = false;
  };

  client
    .config()
    .then(
      (config) => {
        title.textContent = config.name;
        panel.setAttribute("aria-label", `Chat with ${config.name}`);
        if (config.greeting) {
          greeting.textContent = config.greeting;
          greeting.hidden = false;
        }
      },
      (error: unknown) =>
        showNotice(error instanceof WidgetError ? error.message : "The chat could not start."),
    )
    .finally(() => {
      panel.dataset.ready = "true";
      performance.mark("engram:ready");
    });

  let busy = false;
  const ask = async (question: string) => {
    busy = true;
    send.disabled = true;
    notice.hidden = true;
    const asked: TranscriptMessage = { role: "user", text: question };
    const answer: TranscriptMessage = { role: "assistant", text: "" };
    transcript.messages.push(asked, answer);
    const view = messageView(answer);
    view.node.setAttribute("aria-busy", "true");
    log.append(messageView(asked).node, view.node);
    scroll();
    store.save();
    const stream = (conversationId: string | undefined) =>
      client.chat(
        {
          message: question,
          user_id: transcript.visitorId,
          ...(conversationId ? { conversation_id: conversationId } : {}),
        },
        {
          conversation(id) {
            transcript.conversationId = id;
            store.save();
          },
          citations(items) {
            answer.citations = items;
            view.update();
          },
          delta(text) {
            answer.text += text;
            view.append(text);
            scroll();
          },
          done({ terminated }) {
            answer.terminated = terminated;
            view.update();
          },
        },
      );
    try {
      try {
        await stream(transcript.conversationId);
      } catch (error) {
        // The server no longer knows the stored conversation (deleted, erased): start a new one.
        if (!(error instanceof WidgetError && error.status === 404 && transcript.conversationId)) {
          throw error;
        }
        delete transcript.conversationId;
        await stream(undefined);
      }
    } catch (error) {
      answer.error =
        error instanceof WidgetError ? error.message : "Something went wrong. Please try again.";
      view.update();
    } finally {
      view.node.removeAttribute("aria-busy");
      busy = false;
      send.disabled = false;
      store.save();
      scroll();
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || busy) return;
    input.value = "";
    void ask(question);
  });

  const open = () => {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    scroll();
    input.focus();
  };
  const close = () => {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  };
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.isComposing) {
      event.stopPropagation();
      close();
    }
  });

  return { toggle: () => (panel.hidden ? open() : close()) };
}
