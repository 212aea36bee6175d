// The geometry of the console's small bar charts (inline SVG, no chart library), and the
// order their categories are shown in.

export interface Count {
  label: string;
  value: number;
}

export interface Bar extends Count {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface BarChart {
  bars: Bar[];
  /** The value at the top of the plot (a round number ≥ every bar). */
  max: number;
  /** Grid lines: values from 0 to `max` and their y positions. */
  ticks: { value: number; y: number }[];
}

/** The smallest of 1, 2, 5 × 10^k (k ≥ 0) that is ≥ `n`; 1 for nothing to show. */
export function niceCeiling(n: number): number {
  if (!(n > 1) || !Number.isFinite(n)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) {
    if (step * magnitude >= n) return step * magnitude;
  }
  return 10 * magnitude;
}

/** Bars for `counts` in a plot of `width` × `height` (SVG units, y down), side by side
 * with `gap` between them, at most `maxBarWidth` wide (then centred); whole-number ticks,
 * at most `maxTicks` + 1 of them. */
export function barChart(counts: Count[], width: number, height: number, { gap = 12, maxTicks = 4, maxBarWidth = Infinity } = {}): BarChart {
  const max = niceCeiling(Math.max(0, ...counts.map((c) => c.value)));
  const n = counts.length;
  const barWidth = n > 0 ? Math.min(maxBarWidth, Math.max(1, (width - gap * (n + 1)) / n)) : 0;
  const start = (width - (n * barWidth + (n - 1) * gap)) / 2;
  const bars = counts.map((c, i) => {
    const value = Math.max(0, c.value);
    const h = (value / max) * height;
    return { ...c, x: start + i * (barWidth + gap), y: height - h, width: barWidth, height: h };
  });
  const step = Math.max(1, Math.ceil(max / maxTicks));
  const ticks: { value: number; y: number }[] = [];
  for (let value = 0; value <= max; value += step) ticks.push({ value, y: height - (value / max) * height });
  return { bars, max, ticks };
}

/** An instance's lifecycle order; other states follow alphabetically. */
const LIFECYCLE = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"];

/** Counts by state (an object or a list of {state, count}) in lifecycle order, with the
 * lifecycle's first states present even at 0 so the chart keeps its shape. */
export function countsByState(byState: Record<string, number> | { state: string; count: number }[] | null | undefined, always: string[] = ["pending", "running", "stopped"]): Count[] {
  const map = new Map<string, number>();
  for (const s of always) map.set(s, 0);
  if (Array.isArray(byState)) {
    for (const { state, count } of byState) map.set(state, (map.get(state) ?? 0) + count);
  } else if (byState) {
    for (const [state, count] of Object.entries(byState)) map.set(state, (map.get(state) ?? 0) + count);
  }
  const rank = (s: string) => {
    const i = LIFECYCLE.indexOf(s);
    return i === -1 ? LIFECYCLE.length : i;
  };
  return [...map.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([label, value]) => ({ label, value }));
}
