import type { FastifySwaggerUiOptions } from "@fastify/swagger-ui";

/** The canonical OpenAPI document; the UI loads this one, not the plugin's copy at /docs/json. */
export const OPENAPI_PATH = "/openapi.json";

// A text logo and an "E" icon: the page is Engram's, not the framework's or the UI's.
const logo = `<svg xmlns="http://www.w3.org/2000/svg" width="150" height="40" viewBox="0 0 150 40">
<text x="0" y="28" font-family="sans-serif" font-size="24" font-weight="700" fill="#ffffff">Engram API</text>
</svg>`;
const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="6" fill="#1b1b1b"/>
<text x="16" y="23" text-anchor="middle" font-family="sans-serif" font-size="20" font-weight="700" fill="#ffffff">E</text>
</svg>`;

/** @fastify/swagger-ui at /docs: Engram's title, logo and icon, reading OPENAPI_PATH. */
export const docsUiOptions: FastifySwaggerUiOptions = {
  routePrefix: "/docs",
  logo: { type: "image/svg+xml", content: Buffer.from(logo) },
  theme: {
    title: "Engram API",
    favicon: [
      {
        filename: "favicon.svg",
        rel: "icon",
        sizes: "any",
        type: "image/svg+xml",
        content: Buffer.from(icon),
      },
    ],
  },
  // The plugin always sets `url` to its own ./json; Swagger UI ignores `url` when `urls` is given.
  uiConfig: { urls: [{ url: OPENAPI_PATH, name: "Engram API" }] },
};
