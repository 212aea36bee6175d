// A small history router under the console's base path (/console/).
import { useEffect, useState } from "preact/hooks";

export const BASE = "/console";

/** The app-relative path (`/instances/i-1`) of a location pathname, or "/" outside the base. */
export function appPath(pathname: string): string {
  if (pathname === BASE || pathname === `${BASE}/`) return "/";
  if (pathname.startsWith(`${BASE}/`)) return pathname.slice(BASE.length).replace(/\/+$/, "") || "/";
  return "/";
}

/** The full URL path of an app path. */
export function href(path: string): string {
  return `${BASE}${path.startsWith("/") ? path : `/${path}`}`;
}

/** Match `pattern` ("/instances/:id") against `path`; the named parts, decoded, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/").filter(Boolean);
  const have = path.split("/").filter(Boolean);
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const h = have[i]!;
    if (w.startsWith(":")) {
      try {
        params[w.slice(1)] = decodeURIComponent(h);
      } catch {
        return null;
      }
    } else if (w !== h) {
      return null;
    }
  }
  return params;
}

const listeners = new Set<() => void>();

export function navigate(path: string, replace = false): void {
  const url = href(path);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listeners.forEach((l) => l());
}

/** The current app path and query; re-renders on navigation. */
export function useRoute(): { path: string; query: URLSearchParams } {
  const read = () => ({ path: appPath(location.pathname), query: new URLSearchParams(location.search) });
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const update = () => setRoute(read());
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return route;
}
