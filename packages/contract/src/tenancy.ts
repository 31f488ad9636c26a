import Type, { type Static } from "typebox";
import { DateTime, PrefixedId } from "./common.ts";

/** Every scope a key can carry. Grows with the tenancy issue. */
export const Scopes = [
  "memories:read",
  "memories:write",
  "knowledge:read",
  "knowledge:write",
] as const;
export type Scope = (typeof Scopes)[number];

export const TenantId = PrefixedId("ten");

export const CreateTenantBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false, title: "CreateTenantBody" },
);
export type CreateTenantBody = Static<typeof CreateTenantBody>;

export const Tenant = Type.Object(
  { id: TenantId, name: Type.String(), created_at: DateTime },
  { title: "Tenant" },
);
export type Tenant = Static<typeof Tenant>;

export const TenantIdParams = Type.Object({ tenant_id: Type.String({ maxLength: 64 }) });

export const CreateKeyBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    scopes: Type.Optional(
      Type.Array(Type.Enum(Scopes), {
        minItems: 1,
        maxItems: Scopes.length,
        uniqueItems: true,
      }),
    ),
  },
  { additionalProperties: false, title: "CreateKeyBody" },
);
export type CreateKeyBody = Static<typeof CreateKeyBody>;

export const CreatedKey = Type.Object(
  {
    id: PrefixedId("key"),
    name: Type.Union([Type.String(), Type.Null()]),
    key: Type.String({ description: "The secret. Shown once; only its hash is stored." }),
    prefix: Type.String(),
    scopes: Type.Array(Type.String()),
    created_at: DateTime,
  },
  { title: "CreatedKey" },
);
export type CreatedKey = Static<typeof CreatedKey>;
