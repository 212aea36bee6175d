import { percent, stateTone } from "../lib/format";

export function StateBadge({ state }: { state: string | null | undefined }) {
  return <span class={`badge ${stateTone(state)}`}>{state ?? "unknown"}</span>;
}

/** A used/total bar with its figures in words for screen readers. */
export function CapacityBar({ label, used, total, format = String }: { label: string; used: number; total: number; format?: (n: number) => string }) {
  const pct = percent(used, total);
  return (
    <div class="capacity">
      <div class="capacity-label">
        <span>{label}</span>
        <span>
          {format(used)} / {format(total)}
        </span>
      </div>
      <div class="bar" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
        <div class={`fill ${pct > 85 ? "bad" : pct > 60 ? "busy" : "good"}`} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
