import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { widgetAssets } from "../build.ts";
import { WIDGET_PATHS, type WidgetPath, widgetResponse } from "../widget-response.ts";
import type { WidgetTarget } from "./host-page.ts";

/** What the stand-in answers every question with: the deltas in order and the one citation. */
export const STAND_IN_ANSWER = {
  deltas: ["Returns are free ", "within 30 days ", "of delivery, ", "with the receipt."],
  citation: {
    document_id: "doc_01JD0000000000000000000000",
    title: "returns-policy.pdf",
    page: 2,
    heading: "Refunds",
    snippet: "Items may be returned within 30 days of delivery for a full refund.",
  },
};

/** A message the stand-in answers with a mid-stream `error` event instead. */
export const STAND_IN_FAILING_MESSAGE = "please fail";
export const STAND_IN_FAILURE_DETAIL = "The assistant could not answer: the model is unavailable.";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ulidLike = () => Array.from(randomBytes(26), (b) => CROCKFORD[b % 32]).join("");

interface ChatLog {
  origin: string | undefined;
  body: { message?: unknown; conversation_id?: unknown; user_id?: unknown; stream?: unknown };
}

/**
 * A local server speaking the widget's side of the Engram API as the real one does: every CORS
 * preflight allowed, the request itself refused (403, no CORS headers) from an origin not in the
 * agent's allowed origins; the publishable key as a bearer token; GET /v1/agents/{id}/config; POST /v1/agents/{id}/chat as an SSE stream
 * (conversation, citations, delta…, done, or error); and the built widget under /widget/v1/.
 * It records what the widget sent so a test can check it, and answers what the real server makes
 * hard to provoke (an error mid-stream). apps/server's widget.browser.test.ts runs the widget
 * against the real server through the same WidgetTarget.
 */
export async function startStandInEngram(options: {
  allowedOrigins: readonly string[];
  /** Pause between two deltas, so a browser sees the answer grow (ms). */
  deltaDelayMs?: number;
}) {
  const agentId = `agt_${ulidLike()}`;
  const publishableKey = `pk_${randomBytes(18).toString("base64url")}`;
  const conversations = new Set<string>();
  const chats: ChatLog[] = [];
  const refusedOrigins: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const delay = options.deltaDelayMs ?? 120;
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const problem = (
    res: ServerResponse,
    status: number,
    code: string,
    detail: string,
    cors: Record<string, string>,
  ) => {
    res.writeHead(status, { "content-type": "application/problem+json", ...cors });
    res.end(JSON.stringify({ type: "about:blank", code, title: code, status, detail }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, text: string) => {
    const url = new URL(req.url ?? "/", "http://stand-in");
    if (url.pathname in WIDGET_PATHS && (req.method === "GET" || req.method === "HEAD")) {
      const answer = widgetResponse(await widgetAssets(), url.pathname as WidgetPath, {
        acceptEncoding: req.headers["accept-encoding"],
        ifNoneMatch: req.headers["if-none-match"],
      });
      res
        .writeHead(answer.status, answer.headers)
        .end(req.method === "HEAD" ? undefined : answer.body);
      return;
    }
    const route = /^\/v1\/agents\/([^/]+)\/(config|chat)$/.exec(url.pathname);
    if (!route) return problem(res, 404, "not_found", `No route ${req.method} ${url.pathname}`, {});
    const origin = req.headers.origin;
    if (req.method === "OPTIONS") {
      // As the real server: a preflight carries no key, so it cannot tell an allowed origin from
      // another; it is allowed, and the request itself is refused below.
      res.writeHead(204, {
        ...(origin ? { "access-control-allow-origin": origin, vary: "origin" } : {}),
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": "authorization, content-type",
        "access-control-max-age": "600",
      });
      res.end();
      return;
    }
    // A refusal without CORS headers: a browser on another origin cannot even read it.
    if (req.headers.authorization !== `Bearer ${publishableKey}`) {
      return problem(res, 401, "unauthenticated", "The publishable key is not valid", {});
    }
    if (!origin || !options.allowedOrigins.includes(origin)) {
      refusedOrigins.push(origin ?? "");
      return problem(
        res,
        403,
        "forbidden",
        "This origin is not one of the agent's allowed_origins",
        {},
      );
    }
    const cors = { "access-control-allow-origin": origin, vary: "origin" };
    if (route[1] !== agentId) {
      return problem(res, 403, "forbidden", "This publishable key belongs to another agent", cors);
    }
    if (route[2] === "config" && req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json", ...cors });
      res.end(JSON.stringify({ id: agentId, name: "Acme Help", greeting: "Hi! Ask me anything." }));
      return;
    }
    if (route[2] !== "chat" || req.method !== "POST") {
      return problem(res, 405, "method_not_allowed", `${req.method} is not allowed here`, cors);
    }
    let body: ChatLog["body"];
    try {
      body = JSON.parse(text) as ChatLog["body"];
    } catch {
      return problem(res, 400, "validation_failed", "body: not JSON", cors);
    }
    chats.push({ origin, body });
    if (typeof body.message !== "string" || body.message.length < 1 || body.message.length > 4000) {
      return problem(
        res,
        400,
        "validation_failed",
        "message: a string of 1 to 4000 characters",
        cors,
      );
    }
    if (typeof body.user_id !== "string" || !/^v_[A-Za-z0-9_-]{22}$/.test(body.user_id)) {
      return problem(res, 400, "validation_failed", "user_id: the widget's visitor id", cors);
    }
    const asked = body.conversation_id;
    if (asked !== undefined && (typeof asked !== "string" || !conversations.has(asked))) {
      return problem(res, 404, "not_found", `Conversation ${String(asked)} not found`, cors);
    }
    const conversationId = typeof asked === "string" ? asked : `cnv_${ulidLike()}`;
    conversations.add(conversationId);
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      ...cors,
    });
    const send = (event: string, data: unknown) => {
      if (!res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send("conversation", { conversation_id: conversationId });
    if (body.message === STAND_IN_FAILING_MESSAGE) {
      await wait(delay);
      send("error", {
        type: "about:blank",
        code: "chat_failed",
        title: "Chat failed",
        status: 502,
        detail: STAND_IN_FAILURE_DETAIL,
      });
      res.end();
      return;
    }
    send("citations", { items: [STAND_IN_ANSWER.citation] });
    for (const text of STAND_IN_ANSWER.deltas) {
      await wait(delay);
      send("delta", { text });
    }
    send("done", {
      message_id: `msg_${ulidLike()}`,
      mode: "extractive",
      cached: false,
      terminated: false,
      usage: { tokens_in: 0, tokens_out: 0, cost_usd: 0 },
    });
    res.end();
  };

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      await handle(req, res, Buffer.concat(chunks).toString("utf8"));
    } catch (error) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error));
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const target: WidgetTarget = {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    agentId,
    publishableKey,
  };
  return {
    ...target,
    /** Every chat request's origin and JSON body, in order. */
    chats,
    /** The Origin of every request refused for its origin ("" when it had none). */
    refusedOrigins,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
