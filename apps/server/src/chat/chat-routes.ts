import type { ServerResponse } from "node:http";
import { ChatBody, ChatResponse, ObjectIdParams } from "@engram/contract";
import type {} from "@fastify/websocket";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { WebSocket } from "ws";
import { preflight, type WidgetAuth } from "../agents/widget-auth.ts";
import type { App } from "../http/app.ts";
import { ctxOf } from "../http/auth.ts";
import { problemOfError } from "../http/problem.ts";
import { problemResponses } from "../http/route-helpers.ts";
import { bodyValidator } from "../http/validation.ts";
import { AppError } from "../lib/errors.ts";
import type { ChatEvent, ChatService } from "./chat-service.ts";

const security: Record<string, string[]>[] = [{ apiKey: [] }, { publishableKey: [] }];
const common = { tags: ["agents"], security };

/** Largest WebSocket frame a client may send (a chat message is at most 4,000 characters). */
const WS_FRAME_MAX = 64 * 1024;

/** One server-sent event. */
const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * Opens the event stream on the first event: everything that can refuse the request is checked
 * before it, so a refusal is still a plain problem+json response with its status.
 */
function eventStream(request: FastifyRequest, reply: FastifyReply) {
  let raw: ServerResponse | undefined;
  return {
    started: () => raw !== undefined,
    send(event: string, data: unknown) {
      if (!raw) {
        reply.hijack();
        raw = reply.raw;
        const headers: Record<string, string> = {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache, no-transform",
          "x-accel-buffering": "no",
          "x-request-id": request.id,
        };
        const origin = reply.getHeader("access-control-allow-origin");
        if (typeof origin === "string") {
          headers["access-control-allow-origin"] = origin;
          headers.vary = "Origin";
        }
        raw.writeHead(200, headers);
      }
      if (!raw.writableEnded) raw.write(sse(event, data));
    },
    end: () => raw?.end(),
  };
}

/** Aborts when the client goes away before the answer is complete. */
function abortOnClose(request: FastifyRequest): AbortController {
  const abort = new AbortController();
  request.raw.on("close", () => {
    if (!request.raw.complete || !request.raw.socket?.writable) abort.abort();
  });
  request.raw.socket?.on("close", () => abort.abort());
  return abort;
}

/** POST /v1/agents/{id}/chat (SSE or JSON) and the WebSocket /v1/agents/{id}/ws. */
export function registerChatRoutes(app: App, chat: ChatService, widgetAuth: WidgetAuth) {
  app.options("/v1/agents/:id/chat", { schema: { hide: true } }, preflight);
  app.post(
    "/v1/agents/:id/chat",
    {
      onRequest: widgetAuth.agentRoute,
      schema: {
        ...common,
        operationId: "chat",
        summary:
          "Ask an agent: text/event-stream (conversation, citations, delta…, done | error) or, with stream: false, one JSON object",
        params: ObjectIdParams,
        body: ChatBody,
        response: { 200: ChatResponse, ...problemResponses },
      },
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      if (request.body.stream === false) {
        return chat.chat(ctx, request.params.id, request.body, () => {});
      }
      const stream = eventStream(request, reply);
      const abort = abortOnClose(request);
      try {
        await chat.chat(
          ctx,
          request.params.id,
          request.body,
          (e: ChatEvent) => stream.send(e.event, e.data),
          abort.signal,
        );
      } catch (err) {
        // Before the stream: the error handler answers with the problem and its status.
        if (!stream.started()) throw err;
        stream.send("error", problemOfError(request, err));
      }
      stream.end();
      return reply;
    },
  );

  const validateFrame = bodyValidator<ChatBody>(ChatBody);
  app.get(
    "/v1/agents/:id/ws",
    {
      websocket: true,
      // Browsers cannot set headers on a WebSocket: a publishable key (public by design) may come
      // as ?publishable_key=; an API key only in the Authorization header.
      onRequest: async (request, reply) => {
        const pk = (request.query as { publishable_key?: unknown }).publishable_key;
        if (!request.headers.authorization && typeof pk === "string") {
          request.headers.authorization = `Bearer ${pk}`;
        }
        return widgetAuth.agentRoute(request, reply);
      },
      schema: {
        ...common,
        operationId: "chatWebSocket",
        summary:
          'WebSocket chat: send {message, conversation_id?, user_id?} frames; receive {"event", "data"} frames as in the event stream',
        params: ObjectIdParams,
      },
    },
    (socket: WebSocket, request: FastifyRequest<{ Params: { id: string } }>) => {
      const ctx = ctxOf(request);
      const send = (event: string, data: unknown) => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ event, data }));
      };
      let busy = false;
      let abort: AbortController | undefined;
      socket.on("close", () => abort?.abort());
      socket.on("message", async (frame: Buffer, isBinary: boolean) => {
        try {
          if (isBinary || frame.length > WS_FRAME_MAX) {
            throw new AppError("validation_failed", "Send one JSON text frame per message", "body");
          }
          if (busy) {
            throw new AppError("conflict", "Wait for the answer's done (or error) event first");
          }
          let body: unknown;
          try {
            body = JSON.parse(frame.toString("utf8"));
          } catch {
            throw new AppError("invalid_json", "The frame is not valid JSON");
          }
          const input = validateFrame(body);
          busy = true;
          abort = new AbortController();
          await chat.chat(
            ctx,
            request.params.id,
            input,
            (e: ChatEvent) => send(e.event, e.data),
            abort.signal,
          );
        } catch (err) {
          send("error", problemOfError(request, err));
        } finally {
          busy = false;
        }
      });
    },
  );
}
