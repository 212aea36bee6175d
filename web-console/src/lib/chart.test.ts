import { describe, expect, it } from "vitest";
import { barChart, countsByState, niceCeiling } from "./chart";

describe("niceCeiling", () => {
  it("rounds up to 1, 2 or 5 times a power of ten", () => {
    expect(niceCeiling(0)).toBe(1);
    expect(niceCeiling(1)).toBe(1);
    expect(niceCeiling(3)).toBe(5);
    expect(niceCeiling(7)).toBe(10);
    expect(niceCeiling(10)).toBe(10);
    expect(niceCeiling(11)).toBe(20);
    expect(niceCeiling(230)).toBe(500);
    expect(niceCeiling(Number.NaN)).toBe(1);
  });
});

describe("barChart", () => {
  it("places bars side by side, scaled to the round maximum", () => {
    const chart = barChart(
      [
        { label: "running", value: 4 },
        { label: "stopped", value: 1 },
      ],
      100,
      50,
      { gap: 10 },
    );
    expect(chart.max).toBe(5);
    const [running, stopped] = chart.bars;
    expect(running.width).toBe(35);
    expect(running.x).toBe(10);
    expect(stopped.x).toBe(55);
    expect(running.height).toBe(40);
    expect(running.y).toBe(10);
    expect(stopped.height).toBe(10);
    expect(chart.ticks.map((t) => t.value)).toEqual([0, 2, 4]);
    expect(chart.ticks[0].y).toBe(50);
  });
  it("keeps bars at most maxBarWidth wide, centred", () => {
    const chart = barChart([{ label: "a", value: 1 }, { label: "b", value: 1 }], 100, 50, { gap: 10, maxBarWidth: 20 });
    expect(chart.bars.map((b) => [b.x, b.width])).toEqual([
      [25, 20],
      [55, 20],
    ]);
  });
  it("draws nothing tall for all zeros and nothing at all for no data", () => {
    const zeros = barChart([{ label: "running", value: 0 }], 100, 50);
    expect(zeros.max).toBe(1);
    expect(zeros.bars[0].height).toBe(0);
    expect(zeros.ticks.map((t) => t.value)).toEqual([0, 1]);
    expect(barChart([], 100, 50).bars).toEqual([]);
  });
  it("clamps negative values to zero", () => {
    expect(barChart([{ label: "x", value: -3 }], 100, 50).bars[0].height).toBe(0);
  });
});

describe("countsByState", () => {
  it("orders by lifecycle, keeps the usual states at 0 and others after", () => {
    expect(countsByState({ terminated: 2, running: 3, error: 1 })).toEqual([
      { label: "pending", value: 0 },
      { label: "running", value: 3 },
      { label: "stopped", value: 0 },
      { label: "terminated", value: 2 },
      { label: "error", value: 1 },
    ]);
  });
  it("takes a list of {state, count} too", () => {
    expect(countsByState([{ state: "stopping", count: 1 }], [])).toEqual([{ label: "stopping", value: 1 }]);
    expect(countsByState(undefined, ["running"])).toEqual([{ label: "running", value: 0 }]);
  });
});
