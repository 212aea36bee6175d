import { describe, expect, it } from "vitest";
import { passwordProblem } from "./account";

describe("passwordProblem", () => {
  it("accepts a new password of 8+ characters that is confirmed and new", () => {
    expect(passwordProblem("old-secret", "new-secret", "new-secret")).toBeUndefined();
  });
  it("says in plain words what is wrong", () => {
    expect(passwordProblem("", "new-secret", "new-secret")).toMatch(/current password/);
    expect(passwordProblem("old-secret", "short", "short")).toMatch(/at least 8/);
    expect(passwordProblem("old-secret", "x".repeat(257), "x".repeat(257))).toMatch(/at most 256/);
    expect(passwordProblem("old-secret", "new-secret", "new-secreT")).toMatch(/differ/);
    expect(passwordProblem("same-secret", "same-secret", "same-secret")).toMatch(/same as the current/);
  });
});
