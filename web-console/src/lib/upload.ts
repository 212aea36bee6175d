// Object storage straight from the browser: the native API presigns each S3 request
// (`POST /v1/presign`, signed with the user's console key) and XMLHttpRequest sends it, so
// uploads report progress and bytes never pass through the API. XML in and out is s3.ts's.
import type { Schemas } from "../api/types";
import { api, ApiError } from "./api";
import {
  attachmentDisposition,
  baseName,
  completeMultipartXml,
  isErrorDocument,
  parseListVersions,
  parseS3Error,
  parseUploadId,
  parseVersioningStatus,
  planParts,
  usesMultipart,
  versioningXml,
  type UploadedPart,
  type VersioningStatus,
  type VersionsPage,
} from "./s3";

export type S3Method = Schemas["PresignMethod"];

/** A presigned, same-origin URL for one S3 request. */
export async function presign(method: S3Method, bucket: string, key: string, query: [string, string][] = [], expiresInSecs?: number): Promise<string> {
  const body: Schemas["PresignRequest"] = { method, bucket, key, query, expires_in_secs: expiresInSecs };
  const answer = await api.post<Schemas["PresignedUrl"]>("/v1/presign", body);
  return answer.url;
}

export interface XhrAnswer {
  status: number;
  text: string;
  header: (name: string) => string | null;
}

/** One request by XMLHttpRequest; S3's error answers become ApiErrors in plain words. */
export function send(
  method: S3Method,
  url: string,
  options: { body?: Blob | string; headers?: Record<string, string>; onProgress?: (loaded: number) => void; signal?: AbortSignal } = {},
): Promise<XhrAnswer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(options.headers ?? {})) xhr.setRequestHeader(name, value);
    if (options.onProgress) {
      const report = options.onProgress;
      xhr.upload.onprogress = (e) => report(e.loaded);
    }
    const aborted = () => xhr.abort();
    options.signal?.addEventListener("abort", aborted, { once: true });
    const done = () => options.signal?.removeEventListener("abort", aborted);
    xhr.onload = () => {
      done();
      const answer = { status: xhr.status, text: xhr.responseText, header: (name: string) => xhr.getResponseHeader(name) };
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(answer);
      } else {
        reject(s3Error(xhr.status, xhr.responseText, xhr.getResponseHeader("x-amz-request-id")));
      }
    };
    xhr.onerror = () => {
      done();
      reject(s3Error(0, "", null));
    };
    xhr.onabort = () => {
      done();
      reject(new ApiError(0, "Cancelled", "The upload was cancelled."));
    };
    xhr.send(options.body ?? null);
  });
}

function s3Error(status: number, text: string, headerRequestId: string | null): ApiError {
  const info = parseS3Error(status, text);
  return new ApiError(status, info.code, info.message, info.requestId ?? headerRequestId ?? undefined);
}

/** Presign and send one S3 request. */
async function s3(method: S3Method, bucket: string, key: string, query: [string, string][], options: Parameters<typeof send>[2] = {}): Promise<XhrAnswer> {
  return send(method, await presign(method, bucket, key, query), options);
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

/** Upload `file` as `key`: one PUT up to 8 MiB, else a multipart upload of 8 MiB parts
 * (aborted when anything fails, so no parts are left behind). */
export async function uploadFile(bucket: string, key: string, file: Blob, onProgress: (p: UploadProgress) => void, signal?: AbortSignal): Promise<void> {
  const total = file.size;
  const contentType = file.type || "application/octet-stream";
  onProgress({ loaded: 0, total });
  if (!usesMultipart(total)) {
    await s3("PUT", bucket, key, [], { body: file, headers: { "Content-Type": contentType }, signal, onProgress: (loaded) => onProgress({ loaded, total }) });
    onProgress({ loaded: total, total });
    return;
  }
  const created = await s3("POST", bucket, key, [["uploads", ""]], { headers: { "Content-Type": contentType }, signal });
  const uploadId = parseUploadId(created.text);
  try {
    const parts: UploadedPart[] = [];
    let done = 0;
    for (const part of planParts(total)) {
      const query: [string, string][] = [
        ["partNumber", String(part.partNumber)],
        ["uploadId", uploadId],
      ];
      const answer = await s3("PUT", bucket, key, query, {
        body: file.slice(part.start, part.end),
        signal,
        onProgress: (loaded) => onProgress({ loaded: done + loaded, total }),
      });
      const etag = answer.header("ETag");
      if (!etag) throw new ApiError(answer.status, "MissingETag", `Object storage did not confirm part ${part.partNumber} (no ETag).`);
      parts.push({ partNumber: part.partNumber, etag });
      done += part.end - part.start;
      onProgress({ loaded: done, total });
    }
    const completed = await s3("POST", bucket, key, [["uploadId", uploadId]], {
      body: completeMultipartXml(parts),
      headers: { "Content-Type": "application/xml" },
      signal,
    });
    // S3 may answer 200 and still fail the completion (the error is in the body).
    if (isErrorDocument(completed.text)) throw s3Error(500, completed.text, completed.header("x-amz-request-id"));
    onProgress({ loaded: total, total });
  } catch (error) {
    await s3("DELETE", bucket, key, [["uploadId", uploadId]]).catch(() => undefined);
    throw error;
  }
}

/** A presigned link that downloads the object (or one version of it) under its own name. */
export function downloadUrl(bucket: string, key: string, versionId?: string): Promise<string> {
  const query: [string, string][] = [["response-content-disposition", attachmentDisposition(baseName(key))]];
  if (versionId) query.push(["versionId", versionId]);
  return presign("GET", bucket, key, query);
}

/** Start a browser download of a presigned URL (the same as following a link). */
export function startDownload(url: string, filename: string): void {
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.rel = "noopener";
  link.style.display = "none";
  document.body.appendChild(link);
  link.click();
  link.remove();
}

export async function getVersioning(bucket: string): Promise<VersioningStatus> {
  const answer = await s3("GET", bucket, "", [["versioning", ""]]);
  return parseVersioningStatus(answer.text);
}

export async function setVersioning(bucket: string, enabled: boolean): Promise<void> {
  await s3("PUT", bucket, "", [["versioning", ""]], { body: versioningXml(enabled ? "Enabled" : "Suspended"), headers: { "Content-Type": "application/xml" } });
}

/** One page of the object versions under `prefix`. */
export async function listVersions(bucket: string, prefix: string, from?: { keyMarker: string; versionIdMarker?: string }): Promise<VersionsPage> {
  const query: [string, string][] = [
    ["versions", ""],
    ["prefix", prefix],
    ["max-keys", "100"],
  ];
  if (from) {
    query.push(["key-marker", from.keyMarker]);
    if (from.versionIdMarker) query.push(["version-id-marker", from.versionIdMarker]);
  }
  const answer = await s3("GET", bucket, "", query);
  return parseListVersions(answer.text);
}
