import { CategoriesResponse, SetCategoriesBody } from "@engram/contract";
import type { App } from "../http/app.ts";
import { type Auth, ctxOf } from "../http/auth.ts";
import { problemResponses } from "../http/route-helpers.ts";
import type { CategoryService } from "./category-service.ts";

const common = { tags: ["memories"], security: [{ apiKey: [] }] };

/** /v1/categories: the key's project's categories (docs/categories.md). */
export function registerCategoryRoutes(app: App, categories: CategoryService, auth: Auth) {
  const onRequest = auth.tenant;

  app.get(
    "/v1/categories",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "getCategories",
        summary: "The project's memory categories (the defaults until it sets its own)",
        response: { 200: CategoriesResponse, ...problemResponses },
      },
    },
    async (request) => categories.getCategories(ctxOf(request)),
  );

  app.put(
    "/v1/categories",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "setCategories",
        summary: "Replace the project's memory categories",
        body: SetCategoriesBody,
        response: { 200: CategoriesResponse, ...problemResponses },
      },
    },
    async (request) => categories.setCategories(ctxOf(request), request.body),
  );

  app.delete(
    "/v1/categories",
    {
      onRequest,
      schema: {
        ...common,
        operationId: "resetCategories",
        summary: "Go back to the default memory categories",
        response: { 200: CategoriesResponse, ...problemResponses },
      },
    },
    async (request) => categories.resetCategories(ctxOf(request)),
  );
}
