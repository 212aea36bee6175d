// What the users pages share: the API paths and the roles a tenant's user can have.
import type { Schemas } from "../../api/types";
import { seg } from "../../lib/api";

export type User = Schemas["User"];
export type Role = Schemas["Role"];

/** The roles a tenant's user can have (operators are made by the cloud, not here). */
export const TENANT_ROLES: { value: Role; label: string }[] = [
  { value: "admin", label: "admin — everything in the account, users and keys included" },
  { value: "member", label: "member — create and change resources, own access keys" },
  { value: "reader", label: "reader — look only" },
];

export const usersPath = (accountId: string) => `/v1/accounts/${seg(accountId)}/users`;
export const userPath = (accountId: string, userName: string) => `${usersPath(accountId)}/${seg(userName)}`;
