// How values are shown: sizes, times, states.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 → "1.5 KiB"; whole numbers below 10 keep one decimal. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return "—";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

/** "2026-12-01 02:14 UTC" for an ISO time; "—" for none or nonsense. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "just now", "5 s ago", "3 min ago", "2 h ago", "4 d ago" relative to `now`. */
export function formatAgo(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "never";
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return "never";
  const secs = Math.round((now - then) / 1000);
  if (secs < 2) return "just now";
  if (secs < 60) return `${secs} s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
  return `${Math.floor(secs / 86400)} d ago`;
}

/** Used/total as a whole percentage, clamped to 0..100 (0 when the total is unknown). */
export function percent(used: number, total: number): number {
  if (!(total > 0) || !Number.isFinite(used)) return 0;
  return Math.max(0, Math.min(100, Math.round((used / total) * 100)));
}

export type Tone = "good" | "busy" | "bad" | "idle";

/** The colour family of a resource state (running/available good, pending busy, …). */
export function stateTone(state: string | null | undefined): Tone {
  switch ((state ?? "").toLowerCase()) {
    case "running":
    case "available":
    case "active":
    case "in-use":
    case "attached":
    case "completed":
    case "enabled":
    case "in_sync":
    case "associated":
      return "good";
    case "pending":
    case "stopping":
    case "shutting-down":
    case "creating":
    case "attaching":
    case "detaching":
    case "deleting":
    case "draining":
    case "rebuilding":
      return "busy";
    case "error":
    case "failed":
    case "unreachable":
    case "disabled":
    case "lost":
      return "bad";
    default:
      return "idle";
  }
}

/** States from which an instance will move on by itself: keep polling while any is shown. */
export function isTransient(state: string | null | undefined): boolean {
  return stateTone(state) === "busy";
}

/** Tags as "k=v, k2=v2" for compact table cells. */
export function formatTags(tags: Record<string, string> | { key: string; value: string }[] | null | undefined): string {
  if (!tags) return "";
  const pairs = Array.isArray(tags) ? tags.map((t) => [t.key, t.value] as const) : Object.entries(tags);
  return pairs.map(([k, v]) => (v ? `${k}=${v}` : k)).join(", ");
}

/** Does any of `fields` contain `filter` (case-insensitive)? An empty filter matches all. */
export function matchesFilter(filter: string, fields: (string | null | undefined)[]): boolean {
  const needle = filter.trim().toLowerCase();
  if (!needle) return true;
  return fields.some((f) => (f ?? "").toLowerCase().includes(needle));
}
