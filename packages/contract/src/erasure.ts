import Type, { type Static } from "typebox";
import { DateTime, PrefixedId, ScopeId } from "./common.ts";
import { PageQuery, ProjectId } from "./tenancy.ts";

export const ErasureId = PrefixedId("ers");

/** The end user an erasure is about: any user id memories or documents were stored with. */
export const UserIdParams = Type.Object({ user_id: ScopeId }, { additionalProperties: false });
export type UserIdParams = Static<typeof UserIdParams>;

export const ErasureIdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

/** What erasing an end user removed, per table; kept as the proof of the erasure. */
export const UserErasure = Type.Object(
  {
    id: ErasureId,
    project_id: ProjectId,
    user_id: Type.Union([Type.String(), Type.Null()], {
      description:
        "The erased user's id when the caller named it (the erasure itself, a listing by user); null when read by receipt id: only a salted hash of it is kept",
    }),
    deleted_at: DateTime,
    removed: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
      description:
        "Rows removed per table (audit_events: rows whose user id was redacted); zeros for a user with nothing stored",
    }),
  },
  { title: "UserErasure" },
);
export type UserErasure = Static<typeof UserErasure>;

export const ListUserErasuresQuery = PageQuery();
export type ListUserErasuresQuery = Static<typeof ListUserErasuresQuery>;

export const ListUserErasuresResponse = Type.Object(
  { results: Type.Array(UserErasure), next_cursor: Type.Union([Type.String(), Type.Null()]) },
  { title: "ListUserErasuresResponse" },
);
export type ListUserErasuresResponse = Static<typeof ListUserErasuresResponse>;
