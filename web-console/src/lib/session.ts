// The signed-in user, as `GET /v1/session` tells it.
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { api } from "./api";
import type { Schemas } from "../api/types";

export type Role = "operator" | "admin" | "member" | "reader";

export type Session = Schemas["Session"];

export const SessionContext = createContext<Session | undefined>(undefined);

/** The current session; pages render only inside a signed-in app. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in app");
  return session;
}

/** May this role create, change and delete things? */
export function canWrite(role: string): boolean {
  return role !== "reader";
}

/** May this role manage its account's users and keys? */
export function canAdminister(role: string): boolean {
  return role === "admin" || role === "operator";
}

export function isOperator(role: string): boolean {
  return role === "operator";
}

export const sessions = {
  current: () => api.get<Session>("/v1/session"),
  signIn: (account: string, user_name: string, password: string) =>
    api.post<Session>("/v1/session", { account, user_name, password }),
  signOut: () => api.del("/v1/session"),
  changePassword: (current_password: string, new_password: string) =>
    api.post<Session>("/v1/session/password", { current_password, new_password }),
};
