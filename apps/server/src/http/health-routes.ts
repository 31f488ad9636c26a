import type { App } from "./app.ts";

/** Liveness (the process answers) and readiness (its dependencies answer). */
export function registerHealthRoutes(
  app: App,
  ready: () => Promise<Record<string, "ok" | "down">>,
) {
  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { hide: true } }, async (_request, reply) => {
    const checks = await ready();
    const ok = Object.values(checks).every((c) => c === "ok");
    return reply.status(ok ? 200 : 503).send({ status: ok ? "ok" : "unavailable", checks });
  });
}
