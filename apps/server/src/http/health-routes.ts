import type { App } from "./app.ts";

/**
 * Liveness (the process answers) and readiness (its dependencies answer). A down optional
 * dependency (Redis: the API falls back to local limits and the database) leaves the process
 * ready, with status "degraded"; any other down check makes it 503 "unavailable".
 */
export function registerHealthRoutes(
  app: App,
  ready: () => Promise<Record<string, "ok" | "down">>,
  optional: readonly string[] = [],
) {
  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { hide: true } }, async (_request, reply) => {
    const checks = await ready();
    const down = Object.keys(checks).filter((name) => checks[name] !== "ok");
    const status =
      down.length === 0
        ? "ok"
        : down.every((n) => optional.includes(n))
          ? "degraded"
          : "unavailable";
    return reply.status(status === "unavailable" ? 503 : 200).send({ status, checks });
  });
}
