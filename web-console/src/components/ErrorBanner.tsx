import type { ApiError } from "../lib/api";

/** An API error in plain words, with the request id to quote to an operator. */
export function ErrorBanner({ error, onDismiss }: { error: ApiError | Error | undefined; onDismiss?: () => void }) {
  if (!error) return null;
  const requestId = "requestId" in error ? (error as ApiError).requestId : undefined;
  const code = "code" in error ? (error as ApiError).code : undefined;
  return (
    <div class="banner error" role="alert">
      <p>
        {error.message}
        {code && <span class="muted"> ({code})</span>}
      </p>
      {requestId && <p class="muted small">Request id: <code>{requestId}</code></p>}
      {onDismiss && (
        <button type="button" class="link" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}
