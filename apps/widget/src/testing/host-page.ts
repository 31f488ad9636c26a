import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** Where a widget is served from and which agent it talks to: a stand-in or a real Engram. */
export interface WidgetTarget {
  /** The Engram server's base URL, e.g. http://127.0.0.1:4100 (it serves /widget/v1/loader.js). */
  base: string;
  agentId: string;
  publishableKey: string;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The one-line snippet docs/widget.md tells site owners to paste. */
export function widgetSnippet(target: WidgetTarget): string {
  return `<script src="${escapeHtml(`${target.base}/widget/v1/loader.js`)}" data-agent="${escapeHtml(target.agentId)}" data-key="${escapeHtml(target.publishableKey)}" async></script>`;
}

/**
 * A customer's web page on an origin of its own (a loopback port), embedding the widget snippet.
 * Its origin is known before the agent exists, so the agent can list it in allowed_origins; then
 * `embed` names the target. `css` is the page's own stylesheet (a hostile one, in the tests).
 */
export async function startHostPage() {
  let page: { target: WidgetTarget; css: string } | undefined;
  const server = createServer((req, res) => {
    if (!page || (req.url ?? "/").split("?")[0] !== "/") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Outdoor</title>
<style>${page.css}</style></head>
<body><h1>Acme Outdoor</h1><p>Tents, boots and everything in between.</p>
<button id="host-button" type="button">A host page button</button>
${widgetSnippet(page.target)}
</body></html>`);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    /** http://127.0.0.1:PORT, as the browser sends it in Origin. */
    origin,
    url: `${origin}/`,
    embed(target: WidgetTarget, options: { css?: string } = {}) {
      page = { target, css: options.css ?? "" };
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

export type HostPage = Awaited<ReturnType<typeof startHostPage>>;
