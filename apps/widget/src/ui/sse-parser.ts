/** One server-sent event: its type (`message` when the server names none) and its data lines. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * A push parser for `text/event-stream` (the WHATWG "event stream interpretation"): feed it the
 * decoded text as it arrives, in chunks cut anywhere, and it calls `onEvent` once per complete
 * event. `id` and `retry` are ignored: the widget does not reconnect a chat stream.
 */
export function createSseParser(onEvent: (event: SseEvent) => void) {
  let buffer = "";
  let started = false;
  let type = "";
  let data: string[] = [];

  const line = (text: string) => {
    if (text === "") {
      // A blank line dispatches; an event without a data line is dropped, as browsers do.
      if (data.length > 0) onEvent({ event: type || "message", data: data.join("\n") });
      type = "";
      data = [];
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
  };

  return {
    feed(chunk: string) {
      buffer += chunk;
      if (!started && buffer.length > 0) {
        started = true;
        if (buffer.startsWith("\uFEFF")) buffer = buffer.slice(1);
      }
      for (;;) {
        const end = buffer.search(/[\r\n]/);
        if (end < 0) return;
        // A CR ending the buffer may be the first half of a CRLF split across chunks: wait.
        if (buffer[end] === "\r" && end === buffer.length - 1) return;
        line(buffer.slice(0, end));
        buffer = buffer.slice(end + (buffer[end] === "\r" && buffer[end + 1] === "\n" ? 2 : 1));
      }
    },
    /** The stream ended: a trailing lone CR still ends its line; an unterminated event is dropped. */
    end() {
      if (buffer.endsWith("\r")) line(buffer.slice(0, -1));
      buffer = "";
    },
  };
}
