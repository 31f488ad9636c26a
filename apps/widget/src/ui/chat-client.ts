import { createSseParser } from "./sse-parser.ts";
import type { Citation } from "./transcript.ts";

export interface ClientOptions {
  /** The Engram server, e.g. https://engram.example (no trailing slash). */
  api: string;
  agentId: string;
  /** The agent's publishable key (pk_…). */
  publishableKey: string;
}

export interface AgentConfig {
  id: string;
  name: string;
  greeting: string | null;
}

/** What a chat stream reports as it goes; the caller renders each step. */
export interface ChatHandlers {
  conversation(conversationId: string): void;
  citations(items: Citation[]): void;
  delta(text: string): void;
  done(result: { terminated: boolean }): void;
}

/** An error the visitor can read: what went wrong in product words, never a stack. */
export class WidgetError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const UNREACHABLE =
  "The assistant can't be reached from this page right now. Please try again later.";

function readable(status: number, problem: { detail?: unknown; title?: unknown } | null) {
  if (status === 429) return "Too many messages at once. Please wait a moment and try again.";
  if (status === 401 || status === 403) return "This chat isn't available on this site.";
  const text = problem?.detail ?? problem?.title;
  if (typeof text === "string" && text.length > 0 && text.length < 300) return text;
  return status >= 500
    ? "The assistant ran into a problem. Please try again."
    : "The message could not be sent.";
}

async function refusal(response: Response): Promise<WidgetError> {
  let problem: { detail?: unknown; title?: unknown } | null = null;
  try {
    problem = (await response.json()) as typeof problem;
  } catch {
    // Not problem+json (a proxy's page): the status alone decides the message.
  }
  return new WidgetError(readable(response.status, problem), response.status);
}

/** Talks to the agent's public endpoints with the publishable key, cross-origin. */
export function createChatClient(options: ClientOptions) {
  const base = `${options.api}/v1/agents/${encodeURIComponent(options.agentId)}`;
  const auth = { authorization: `Bearer ${options.publishableKey}` };

  const call = async (path: string, init: RequestInit): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        ...init,
        headers: { ...auth, ...init.headers },
        credentials: "omit",
        mode: "cors",
      });
    } catch {
      // A network failure and a CORS refusal (a page not in allowed_origins) look the same here.
      throw new WidgetError(UNREACHABLE);
    }
    if (!response.ok) throw await refusal(response);
    return response;
  };

  return {
    async config(): Promise<AgentConfig> {
      const response = await call("/config", { method: "GET" });
      return (await response.json()) as AgentConfig;
    },

    /** Sends one message and streams the answer into `on`; rejects with a WidgetError. */
    async chat(
      body: { message: string; conversation_id?: string; user_id: string },
      on: ChatHandlers,
    ): Promise<void> {
      const response = await call("/chat", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify(body),
      });
      if (!response.body) throw new WidgetError(UNREACHABLE);
      let failure: WidgetError | undefined;
      let finished = false;
      const parser = createSseParser(({ event, data }) => {
        if (failure || finished) return;
        let payload: Record<string, unknown>;
        try {
          payload = JSON.parse(data) as Record<string, unknown>;
        } catch {
          return;
        }
        if (event === "conversation" && typeof payload.conversation_id === "string") {
          on.conversation(payload.conversation_id);
        } else if (event === "citations" && Array.isArray(payload.items)) {
          on.citations(payload.items as Citation[]);
        } else if (event === "delta" && typeof payload.text === "string") {
          on.delta(payload.text);
        } else if (event === "done") {
          finished = true;
          on.done({ terminated: payload.terminated === true });
        } else if (event === "error") {
          const status = typeof payload.status === "number" ? payload.status : 500;
          failure = new WidgetError(readable(status, payload));
        }
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(value);
          if (failure) break;
        }
        parser.end();
      } catch {
        failure ??= new WidgetError("The connection was lost before the answer finished.");
      } finally {
        reader.cancel().catch(() => {});
      }
      if (failure) throw failure;
      if (!finished) throw new WidgetError("The connection was lost before the answer finished.");
    },
  };
}
