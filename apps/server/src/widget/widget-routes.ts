import { WIDGET_PATHS, type WidgetPath, widgetAssets, widgetResponse } from "@engram/widget";
import type { App } from "../http/app.ts";

/**
 * The embeddable chat widget's public files: /widget/v1/loader.js (the snippet's script) and
 * /widget/v1/engram.js (the widget, imported by the loader). No credential: anyone may fetch them,
 * from any origin; what they then call is guarded by the agent's publishable key and allowed
 * origins. Built in memory on the first request and kept (ADR 0036).
 */
export function registerWidgetRoutes(app: App, assets = widgetAssets) {
  for (const path of Object.keys(WIDGET_PATHS) as WidgetPath[]) {
    app.get(path, { schema: { hide: true } }, async (request, reply) => {
      const answer = widgetResponse(await assets(), path, {
        acceptEncoding: request.headers["accept-encoding"],
        ifNoneMatch: request.headers["if-none-match"],
      });
      return reply.status(answer.status).headers(answer.headers).send(answer.body);
    });
  }
}
