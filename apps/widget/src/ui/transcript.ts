/** A source under an answer, as the chat's `citations` event names it. */
export interface Citation {
  document_id: string;
  title: string;
  page?: number;
  heading?: string;
  snippet: string;
}

export interface TranscriptMessage {
  role: "user" | "assistant";
  text: string;
  citations?: Citation[];
  /** A readable error shown in place of (or after) the answer. */
  error?: string;
  /** The answer was cut at a cost ceiling (`done.terminated`). */
  terminated?: boolean;
}

/** What survives a page reload, per agent, in the host page's localStorage. */
interface Transcript {
  visitorId: string;
  conversationId?: string;
  messages: TranscriptMessage[];
}

/** Messages kept across reloads: enough to read back, bounded so localStorage never fills. */
const KEPT_MESSAGES = 60;

/** 128 random bits, base64url: `v_` + 22 characters (the server checks this shape). */
function newVisitorId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const base64 = btoa(String.fromCharCode(...bytes));
  return `v_${base64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

const VISITOR_ID = /^v_[A-Za-z0-9_-]{22}$/;

/**
 * The visitor's transcript for one agent. Storage can be absent or refuse writes (private modes,
 * blocked third-party storage, a full quota): the widget then works for this page view only.
 */
export function openTranscript(agentId: string) {
  const key = `engram:v1:${agentId}`;
  let state: Transcript | undefined;
  try {
    const saved = JSON.parse(localStorage.getItem(key) ?? "null") as Transcript | null;
    if (saved && VISITOR_ID.test(saved.visitorId) && Array.isArray(saved.messages)) state = saved;
  } catch {
    // Unreadable or unparsable: start afresh.
  }
  const transcript: Transcript = state ?? { visitorId: newVisitorId(), messages: [] };
  // An answer the page left mid-stream (a reload, a closed tab) was saved before its text came.
  for (const message of transcript.messages) {
    if (message.role === "assistant" && !message.text && !message.error) {
      message.error = "This answer was interrupted.";
    }
  }
  return {
    transcript,
    save() {
      transcript.messages = transcript.messages.slice(-KEPT_MESSAGES);
      try {
        localStorage.setItem(key, JSON.stringify(transcript));
      } catch {
        // Storage refused: the conversation lasts as long as the page.
      }
    },
  };
}
