// Load data, and reload it on an interval while the page is visible.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/** Run `load` now and again every `intervalMs` (when given); `deps` restart it. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], intervalMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    load().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (mine !== generation.current) return;
        setError(e instanceof ApiError ? e : new ApiError(0, "ClientError", String(e)));
        setLoading(false);
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    setLoading(true);
    run();
    if (!intervalMs) return undefined;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") run();
    }, intervalMs);
    return () => {
      clearInterval(timer);
      generation.current++;
    };
  }, [run, intervalMs]);
  return { data, error, loading, reload: run };
}
