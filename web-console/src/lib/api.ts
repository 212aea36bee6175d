// A thin client over the native API: same-origin cookies carry the session, the CSRF token
// rides in a header on every change, and every failure becomes an ApiError in plain words.
import { readCookie } from "./cookies";

export const CSRF_COOKIE = "kumo_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

/** A refused or failed API call: what the user is shown, with the request id to quote. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The error a response body stands for (`{error: {code, message}, request_id}`), or a
 * plain-words one when the body is not the API's (a proxy's page, a dropped connection). */
export function errorFromBody(status: number, body: unknown, headerRequestId?: string | null): ApiError {
  const requestId = headerRequestId ?? undefined;
  if (body && typeof body === "object" && "error" in body) {
    const { error, request_id } = body as { error?: { code?: unknown; message?: unknown }; request_id?: unknown };
    if (error && typeof error.code === "string" && typeof error.message === "string") {
      return new ApiError(status, error.code, error.message, typeof request_id === "string" ? request_id : requestId);
    }
  }
  return new ApiError(status, statusCode(status), statusText(status), requestId);
}

function statusCode(status: number): string {
  return status === 0 ? "NetworkError" : `Http${status}`;
}

/** Plain words for a status with no error body. */
export function statusText(status: number): string {
  if (status === 0) return "Kumo could not be reached. Check your connection and try again.";
  if (status === 401) return "You are not signed in.";
  if (status === 403) return "You are not allowed to do this.";
  if (status === 404) return "Not found.";
  if (status === 413) return "The request is too large.";
  if (status === 429) return "Too many requests; wait a moment and try again.";
  if (status >= 500) return `Kumo failed to answer (HTTP ${status}). Try again; if it persists, tell your operator.`;
  return `The request failed (HTTP ${status}).`;
}

type SessionLostListener = (error: ApiError) => void;
let sessionLost: SessionLostListener | undefined;

/** Called on any 401 from a signed-in page: the app goes back to sign-in with a message. */
export function onSessionLost(listener: SessionLostListener | undefined): void {
  sessionLost = listener;
}

export function csrfToken(): string | undefined {
  return typeof document === "undefined" ? undefined : readCookie(document.cookie, CSRF_COOKIE);
}

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export async function request<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const csrf = csrfToken();
  if (method !== "GET" && csrf) headers[CSRF_HEADER] = csrf;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw errorFromBody(0, undefined);
  }
  const text = await response.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (!response.ok) {
    const error = errorFromBody(response.status, parsed, response.headers.get("x-amzn-requestid"));
    if (response.status === 401 && !path.startsWith("/v1/session")) sessionLost?.(error);
    throw error;
  }
  return parsed as T;
}

/** Append query parameters, skipping empty ones. */
export function withQuery(path: string, query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== "") params.set(name, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

export const api = {
  get: <T>(path: string) => request<T>("GET", path),
  post: <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {}),
  put: <T>(path: string, body?: unknown) => request<T>("PUT", path, body ?? {}),
  patch: <T>(path: string, body?: unknown) => request<T>("PATCH", path, body ?? {}),
  del: <T = void>(path: string) => request<T>("DELETE", path),
};

/** A path segment from user data (ids, names, keys), escaped for a URL. */
export const seg = (value: string) => encodeURIComponent(value);
