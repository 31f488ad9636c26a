import assert from "node:assert/strict";
import { test } from "node:test";
import { createSseParser, type SseEvent } from "./ui/sse-parser.ts";

const parse = (chunks: string[]) => {
  const events: SseEvent[] = [];
  const parser = createSseParser((event) => events.push(event));
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return events;
};

test("events are dispatched at blank lines, with their type and joined data lines", () => {
  const events = parse([
    'event: conversation\ndata: {"conversation_id":"cnv_1"}\n\n',
    "event: delta\ndata: line one\ndata: line two\n\n",
    "data: no type\n\n",
  ]);
  assert.deepEqual(events, [
    { event: "conversation", data: '{"conversation_id":"cnv_1"}' },
    { event: "delta", data: "line one\nline two" },
    { event: "message", data: "no type" },
  ]);
});

test("chunks cut anywhere, CRLF split across chunks, CR alone, comments and a BOM", () => {
  const text =
    '\uFEFF: keep-alive\r\nevent: delta\r\ndata: {"text":"héllo"}\r\n\r\nevent:done\rdata:{}\r\r';
  const whole = parse([text]);
  assert.deepEqual(whole, [
    { event: "delta", data: '{"text":"héllo"}' },
    { event: "done", data: "{}" },
  ]);
  for (let cut = 1; cut < text.length; cut++) {
    assert.deepEqual(parse([text.slice(0, cut), text.slice(cut)]), whole, `cut at ${cut}`);
  }
  assert.deepEqual(parse(text.split("")), whole, "one character at a time");
});

test("an event without data, and one the stream ends before its blank line, are dropped", () => {
  assert.deepEqual(parse(["event: ping\n\n", "event: delta\ndata: cut"]), []);
  // Only one space after the colon is stripped; id and retry are ignored.
  assert.deepEqual(parse(["id: 7\nretry: 10\ndata:  two spaces\n\n"]), [
    { event: "message", data: " two spaces" },
  ]);
});
