import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError } from "../lib/api";
import { ErrorBanner } from "./ErrorBanner";

/** A button that runs an API call, shows that it is busy, and shows its error. With
 * `confirm`, it asks first (destructive actions). */
export function ActionButton(props: {
  children: ComponentChildren;
  run: () => Promise<unknown>;
  done?: () => void;
  confirm?: string;
  danger?: boolean;
  disabled?: boolean;
  label?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error | undefined>(undefined);
  const click = async () => {
    if (props.confirm && !window.confirm(props.confirm)) return;
    setBusy(true);
    setError(undefined);
    try {
      await props.run();
      props.done?.();
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button type="button" class={props.danger ? "danger" : ""} disabled={busy || props.disabled} aria-busy={busy} aria-label={props.label} onClick={click}>
        {props.children}
      </button>
      {error && <ErrorBanner error={error} onDismiss={() => setError(undefined)} />}
    </span>
  );
}

/** A form whose submit runs an API call; shows busy state and the error. */
export function ApiForm(props: {
  label: string;
  submit: string;
  run: () => Promise<unknown>;
  done?: () => void;
  children: ComponentChildren;
  onCancel?: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error | undefined>(undefined);
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await props.run();
      props.done?.();
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card form" aria-label={props.label} onSubmit={onSubmit}>
      {props.children}
      <ErrorBanner error={error} />
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
          {busy ? "Working…" : props.submit}
        </button>
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
