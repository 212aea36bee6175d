// The upload transport against a fake object storage: which requests it presigns and sends,
// in which order, with which bodies, and what it does when a part fails.
import { DOMParser as XmlDomParser } from "@xmldom/xmldom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./api";
import { uploadFile } from "./upload";

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Blob | string | null;
}

const MiB = 1024 * 1024;
let sent: Sent[] = [];
let presigned: unknown[] = [];
let failPart: number | undefined;

/** Object storage as the XHR sees it: answers by method and query. */
class FakeXhr {
  status = 0;
  responseText = "";
  upload: { onprogress: ((e: { loaded: number }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  private request: Sent = { method: "", url: "", headers: {}, body: null };
  private responseHeaders: Record<string, string> = {};

  open(method: string, url: string) {
    this.request = { method, url, headers: {}, body: null };
  }
  setRequestHeader(name: string, value: string) {
    this.request.headers[name] = value;
  }
  getResponseHeader(name: string): string | null {
    return this.responseHeaders[name.toLowerCase()] ?? null;
  }
  abort() {
    this.onabort?.();
  }
  send(body: Blob | string | null) {
    this.request.body = body;
    sent.push(this.request);
    const query = new URL(this.request.url, "http://kumo.test").searchParams;
    const size = body instanceof Blob ? body.size : (body?.length ?? 0);
    queueMicrotask(() => {
      this.upload.onprogress?.({ loaded: Math.floor(size / 2) });
      this.upload.onprogress?.({ loaded: size });
      const part = Number(query.get("partNumber"));
      if (this.request.method === "POST" && query.has("uploads")) {
        this.answer(200, "<InitiateMultipartUploadResult><UploadId>up-1</UploadId></InitiateMultipartUploadResult>");
      } else if (this.request.method === "PUT" && part) {
        if (part === failPart) this.answer(500, "<Error><Code>InternalError</Code><Message>disk on fire</Message><RequestId>r-9</RequestId></Error>");
        else this.answer(200, "", { etag: `"etag-${part}"` });
      } else if (this.request.method === "POST" && query.has("uploadId")) {
        this.answer(200, '<CompleteMultipartUploadResult><ETag>"x-3"</ETag></CompleteMultipartUploadResult>');
      } else if (this.request.method === "DELETE") {
        this.answer(204, "");
      } else {
        this.answer(200, "", { etag: '"single"' });
      }
    });
  }
  private answer(status: number, text: string, headers: Record<string, string> = {}) {
    this.status = status;
    this.responseText = text;
    this.responseHeaders = headers;
    this.onload?.();
  }
}

/** The native API: `/v1/presign` answers a URL carrying the method and query it was asked. */
async function fakeFetch(_path: string, init: { body?: string }): Promise<Response> {
  const body = JSON.parse(init.body ?? "{}") as { method: string; bucket: string; key: string; query: [string, string][] };
  presigned.push(body);
  const query = new URLSearchParams([...body.query, ["X-Amz-Signature", "sig"]]);
  return new Response(JSON.stringify({ url: `/${body.bucket}/${body.key}?${query}`, expires_at: "2026-12-01T03:00:00Z" }), { status: 200 });
}

beforeEach(() => {
  sent = [];
  presigned = [];
  failPart = undefined;
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
  vi.stubGlobal("fetch", fakeFetch);
  vi.stubGlobal("DOMParser", XmlDomParser);
});
afterEach(() => vi.unstubAllGlobals());

const summary = () => sent.map((s) => `${s.method} ${s.url.replace(/[?&]X-Amz-Signature=sig$/, "")}`);

describe("uploadFile", () => {
  it("sends a small file in one presigned PUT with its type", async () => {
    const progress: number[] = [];
    await uploadFile("b", "docs/a.txt", new Blob(["hello"], { type: "text/plain" }), (p) => progress.push(p.loaded));
    expect(summary()).toEqual(["PUT /b/docs/a.txt"]);
    expect(sent[0]!.headers["Content-Type"]).toBe("text/plain");
    expect(progress[progress.length - 1]).toBe(5);
  });

  it("sends 20 MiB as three 8 MiB parts and completes with their ETags", async () => {
    const file = new Blob([new Uint8Array(20 * MiB)]);
    const progress: number[] = [];
    await uploadFile("b", "big.bin", file, (p) => {
      expect(p.total).toBe(20 * MiB);
      progress.push(p.loaded);
    });
    expect(summary()).toEqual([
      "POST /b/big.bin?uploads=",
      "PUT /b/big.bin?partNumber=1&uploadId=up-1",
      "PUT /b/big.bin?partNumber=2&uploadId=up-1",
      "PUT /b/big.bin?partNumber=3&uploadId=up-1",
      "POST /b/big.bin?uploadId=up-1",
    ]);
    expect(sent.slice(1, 4).map((s) => (s.body as Blob).size)).toEqual([8 * MiB, 8 * MiB, 4 * MiB]);
    const complete = sent[4]!.body as string;
    expect(complete).toContain("<Part><PartNumber>1</PartNumber><ETag>&quot;etag-1&quot;</ETag></Part>");
    expect(complete).toContain("<Part><PartNumber>3</PartNumber><ETag>&quot;etag-3&quot;</ETag></Part>");
    // Progress only grows, over all parts, to the whole file.
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress).toContain(12 * MiB);
    expect(progress[progress.length - 1]).toBe(20 * MiB);
    expect(presigned).toHaveLength(5);
  });

  it("aborts the multipart upload when a part fails, and says why", async () => {
    failPart = 2;
    const failed = uploadFile("b", "big.bin", new Blob([new Uint8Array(20 * MiB)]), () => undefined);
    await expect(failed).rejects.toThrow(ApiError);
    await expect(failed).rejects.toMatchObject({ code: "InternalError", message: "disk on fire", requestId: "r-9" });
    expect(summary()).toEqual([
      "POST /b/big.bin?uploads=",
      "PUT /b/big.bin?partNumber=1&uploadId=up-1",
      "PUT /b/big.bin?partNumber=2&uploadId=up-1",
      "DELETE /b/big.bin?uploadId=up-1",
    ]);
  });
});
