import { describe, expect, it } from "vitest";
import { formatAgo, formatBytes, formatTags, formatTime, isTransient, matchesFilter, percent, stateTone } from "./format";

describe("formatBytes", () => {
  it("scales by 1024 and keeps a decimal below 10", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(20 * 1024 * 1024)).toBe("20 MiB");
    expect(formatBytes(8 * 1024 ** 3)).toBe("8.0 GiB");
  });
  it("shows a dash for nonsense", () => {
    expect(formatBytes(undefined)).toBe("—");
    expect(formatBytes(-1)).toBe("—");
    expect(formatBytes(Number.NaN)).toBe("—");
  });
});

describe("times", () => {
  it("formats ISO times in UTC", () => {
    expect(formatTime("2026-12-01T02:14:33.120Z")).toBe("2026-12-01 02:14 UTC");
    expect(formatTime("garbage")).toBe("—");
    expect(formatTime(null)).toBe("—");
  });
  it("says how long ago", () => {
    const now = Date.parse("2026-12-01T12:00:00Z");
    expect(formatAgo("2026-12-01T12:00:00Z", now)).toBe("just now");
    expect(formatAgo("2026-12-01T11:59:30Z", now)).toBe("30 s ago");
    expect(formatAgo("2026-12-01T11:55:00Z", now)).toBe("5 min ago");
    expect(formatAgo("2026-12-01T09:00:00Z", now)).toBe("3 h ago");
    expect(formatAgo("2026-11-28T12:00:00Z", now)).toBe("3 d ago");
    expect(formatAgo(undefined, now)).toBe("never");
  });
});

describe("states", () => {
  it("groups states into tones", () => {
    expect(stateTone("running")).toBe("good");
    expect(stateTone("pending")).toBe("busy");
    expect(stateTone("error")).toBe("bad");
    expect(stateTone("stopped")).toBe("idle");
    expect(stateTone(undefined)).toBe("idle");
  });
  it("knows which states move on by themselves", () => {
    expect(isTransient("stopping")).toBe(true);
    expect(isTransient("stopped")).toBe(false);
  });
});

describe("percent", () => {
  it("clamps and rounds", () => {
    expect(percent(1, 4)).toBe(25);
    expect(percent(5, 4)).toBe(100);
    expect(percent(1, 0)).toBe(0);
  });
});

describe("tags and filters", () => {
  it("formats both tag shapes", () => {
    expect(formatTags({ Name: "web", env: "" })).toBe("Name=web, env");
    expect(formatTags([{ key: "a", value: "1" }])).toBe("a=1");
    expect(formatTags(undefined)).toBe("");
  });
  it("filters case-insensitively on any field", () => {
    expect(matchesFilter("WEB", ["i-1", "web-server"])).toBe(true);
    expect(matchesFilter("db", ["i-1", null])).toBe(false);
    expect(matchesFilter("  ", ["x"])).toBe(true);
  });
});
