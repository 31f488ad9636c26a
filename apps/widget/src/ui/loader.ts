// The loader a host page includes with one tag:
//   <script src="https://engram.example/widget/v1/loader.js" data-agent="agt_…" data-key="pk_…" async></script>
// It draws the launcher inside a shadow root (the host page's CSS cannot reach it) and imports the
// widget bundle from beside itself when the visitor reaches for the launcher. Kept tiny: it is on
// every page of the host site, the bundle only on those where someone opens the chat.
import type { WidgetHandle, WidgetModule } from "./mount-options.ts";

/** engram.js?v=<content hash>, set at build time: a new loader never pairs with a stale bundle. */
declare const __ENGRAM_BUNDLE__: string;

// The :host rule's !important declarations beat the host page's own !important ones (inner cascade
// context wins for important rules), and `all: initial` cuts inherited fonts and colours.
const CSS =
  ':host{all:initial!important;display:block!important;position:fixed!important;right:20px!important;bottom:20px!important;z-index:2147483000!important;visibility:visible!important;opacity:1!important;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif!important;color:#1f2328!important}' +
  ".l{all:unset;box-sizing:border-box;width:56px;height:56px;border-radius:50%;background:#2453d6;color:#fff;cursor:pointer;display:grid;place-items:center;box-shadow:0 4px 14px rgba(0,0,0,.25)}" +
  ".l:hover{background:#1b41ad}.l:focus-visible{outline:3px solid #8aa8ff;outline-offset:3px}.l svg{width:26px;height:26px;fill:currentColor}";

const ICON =
  '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';

function start(script: HTMLScriptElement) {
  const { agent, key, api } = script.dataset;
  if (!agent || !key) {
    console.error("Engram widget: the script tag needs data-agent and data-key");
    return;
  }
  const host = document.createElement("engram-widget");
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `<style>${CSS}</style><button class="l" type="button" aria-label="Chat" aria-haspopup="dialog" aria-expanded="false">${ICON}</button>`;
  const launcher = root.querySelector("button") as HTMLButtonElement;
  const options = {
    agentId: agent,
    publishableKey: key,
    api: (api ?? new URL("../../", script.src).href).replace(/\/+$/, ""),
    launcher,
  };
  let widget: Promise<WidgetHandle> | undefined;
  const load = () => {
    widget ??= import(new URL(__ENGRAM_BUNDLE__, script.src).href).then(
      (module: WidgetModule) => module.mount(root, options),
      (error: unknown) => {
        widget = undefined;
        throw error;
      },
    );
    return widget;
  };
  // Hover or focus signals intent: fetch the bundle then, so the click finds it ready.
  const prefetch = () => load().catch(() => {});
  launcher.addEventListener("pointerenter", prefetch, { once: true });
  launcher.addEventListener("focus", prefetch, { once: true });
  launcher.addEventListener("click", () => {
    performance.mark("engram:open");
    load().then(
      (w) => w.toggle(),
      () => launcher.setAttribute("title", "The chat could not be loaded. Please try again."),
    );
  });
  document.body.append(host);
  performance.mark("engram:launcher");
}

// currentScript is null when a tag manager runs the code itself: find the snippet's tag instead.
const script =
  document.currentScript ?? document.querySelector('script[src*="/widget/v1/loader.js"]');
if (script instanceof HTMLScriptElement) {
  if (document.body) start(script);
  else document.addEventListener("DOMContentLoaded", () => start(script), { once: true });
}
