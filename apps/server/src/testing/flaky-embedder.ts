import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local stand-in for a hosted OpenAI-compatible embedding API (the one part a test may fake),
 * for tests of what transient embedder failures do: while `down` it answers 503 and records the
 * texts it refused; otherwise small deterministic vectors of `dimension`.
 */
export async function startFlakyEmbedder(dimension = 8) {
  const refused: string[] = [];
  const state = { down: false };
  const api = createServer(async (req, res) => {
    let text = "";
    for await (const chunk of req) text += chunk;
    const { input } = JSON.parse(text) as { input: string[] };
    if (state.down) {
      refused.push(...input);
      res
        .writeHead(503, { "content-type": "application/json" })
        .end('{"error":{"message":"overloaded"}}');
      return;
    }
    const data = input.map((t, index) => ({
      object: "embedding",
      index,
      embedding: Array.from({ length: dimension }, (_, i) => ((t.length * 31 + i * 7) % 13) + 1),
    }));
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ object: "list", data }));
  });
  api.listen(0, "127.0.0.1");
  await once(api, "listening");
  return {
    /** The server environment that embeds through this stand-in. */
    env: {
      ENGRAM_EMBEDDER: "openai",
      ENGRAM_EMBEDDING_BASE_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}/v1`,
      ENGRAM_EMBEDDING_MODEL: "fake-embed",
      ENGRAM_EMBEDDING_DIMENSION: String(dimension),
    },
    /** Texts refused while down, in order. */
    refused,
    setDown(down: boolean) {
      state.down = down;
    },
    close: () => new Promise<void>((resolve) => api.close(() => resolve())),
  };
}
