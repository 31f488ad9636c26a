import Type, { type Static } from "typebox";

/** Most categories a project may define. */
export const CATEGORIES_MAX = 50;
/** A category name: lower-case letters, digits and underscores, 1 to 40 characters. */
export const CATEGORY_NAME_PATTERN = "^[a-z0-9_]{1,40}$";
/** Longest category description, in characters. */
export const CATEGORY_DESCRIPTION_MAX = 500;

export const Category = Type.Object(
  {
    name: Type.String({ pattern: CATEGORY_NAME_PATTERN, maxLength: 40 }),
    description: Type.String({
      minLength: 1,
      maxLength: CATEGORY_DESCRIPTION_MAX,
      description: "What belongs in it; local inference compares facts with this text",
    }),
  },
  { additionalProperties: false, title: "Category" },
);
export type Category = Static<typeof Category>;

export const CategoriesResponse = Type.Object(
  {
    categories: Type.Array(Category),
    defaults: Type.Boolean({
      description: "True while the project uses the shipped default categories",
    }),
  },
  { title: "CategoriesResponse" },
);
export type CategoriesResponse = Static<typeof CategoriesResponse>;

export const SetCategoriesBody = Type.Object(
  {
    categories: Type.Array(Category, {
      maxItems: CATEGORIES_MAX,
      description: "The project's categories, replacing the current ones; [] means none",
    }),
  },
  { additionalProperties: false, title: "SetCategoriesBody" },
);
export type SetCategoriesBody = Static<typeof SetCategoriesBody>;
