import { describe, expect, it } from "vitest";
import { errorFromBody, statusText, withQuery } from "./api";
import { readCookie } from "./cookies";
import { appPath, href, match } from "./router";

describe("errorFromBody", () => {
  it("reads the API's error body with its request id", () => {
    const e = errorFromBody(404, { error: { code: "NotFound", message: "no instance i-1" }, request_id: "r-1" });
    expect([e.status, e.code, e.message, e.requestId]).toEqual([404, "NotFound", "no instance i-1", "r-1"]);
  });
  it("falls back to plain words and the header's request id", () => {
    const e = errorFromBody(502, "<html>", "r-2");
    expect(e.code).toBe("Http502");
    expect(e.message).toMatch(/failed to answer/);
    expect(e.requestId).toBe("r-2");
    expect(statusText(0)).toMatch(/could not be reached/);
  });
});

describe("withQuery", () => {
  it("skips empty values and escapes", () => {
    expect(withQuery("/v1/x", { a: "1 2", b: "", c: undefined })).toBe("/v1/x?a=1+2");
    expect(withQuery("/v1/x", {})).toBe("/v1/x");
  });
});

describe("readCookie", () => {
  it("finds a cookie among others", () => {
    expect(readCookie("a=1; kumo_csrf=abc%20d; b=2", "kumo_csrf")).toBe("abc d");
    expect(readCookie("a=1", "kumo_csrf")).toBeUndefined();
  });
});

describe("router", () => {
  it("maps paths under /console", () => {
    expect(appPath("/console/")).toBe("/");
    expect(appPath("/console/instances/i-1/")).toBe("/instances/i-1");
    expect(appPath("/elsewhere")).toBe("/");
    expect(href("/buckets")).toBe("/console/buckets");
  });
  it("matches patterns and decodes parts", () => {
    expect(match("/buckets/:name/objects", "/buckets/my%20b/objects")).toEqual({ name: "my b" });
    expect(match("/instances/:id", "/instances")).toBeNull();
    expect(match("/instances/:id", "/volumes/v-1")).toBeNull();
    expect(match("/x/:id", "/x/%E0%A4%A")).toBeNull();
  });
});
