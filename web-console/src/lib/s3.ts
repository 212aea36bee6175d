// The S3 side of the bucket pages, as pure functions: how a file is cut into parts, the XML
// documents S3 takes and gives (multipart uploads, versioning, object versions, errors), and
// the prefix arithmetic of a folder view. The transport (presign + XMLHttpRequest) is upload.ts.

/** S3's multipart part size here: 8 MiB (S3 wants ≥ 5 MiB for every part but the last). */
export const PART_SIZE = 8 * 1024 * 1024;

/** Files up to this size go in one PUT; bigger ones in parts. */
export const SINGLE_PUT_LIMIT = PART_SIZE;

export interface PartPlan {
  partNumber: number;
  /** Byte offsets in the file: [start, end). */
  start: number;
  end: number;
}

export function usesMultipart(size: number): boolean {
  return size > SINGLE_PUT_LIMIT;
}

/** The parts of a `size`-byte file: numbered from 1, `partSize` bytes each, the last shorter. */
export function planParts(size: number, partSize: number = PART_SIZE): PartPlan[] {
  if (!Number.isInteger(size) || size < 0) throw new Error(`not a file size: ${size}`);
  if (!Number.isInteger(partSize) || partSize <= 0) throw new Error(`not a part size: ${partSize}`);
  if (size === 0) return [{ partNumber: 1, start: 0, end: 0 }];
  const parts: PartPlan[] = [];
  for (let start = 0, partNumber = 1; start < size; start += partSize, partNumber++) {
    parts.push({ partNumber, start, end: Math.min(size, start + partSize) });
  }
  return parts;
}

// --- XML -----------------------------------------------------------------------------------

/** What the parsers read of a DOM node: the browser's DOMParser gives these, and so does
 * @xmldom/xmldom in the unit tests. */
export interface XmlNode {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<XmlNode>;
}
export interface XmlDocument {
  documentElement: XmlNode | null;
}
export type XmlParser = (text: string) => XmlDocument;

export const browserXml: XmlParser = (text) => new DOMParser().parseFromString(text, "application/xml");

const ELEMENT_NODE = 1;

/** The name of an element without a namespace prefix. */
function localName(node: XmlNode): string {
  const colon = node.nodeName.indexOf(":");
  return colon < 0 ? node.nodeName : node.nodeName.slice(colon + 1);
}

function children(node: XmlNode): XmlNode[] {
  return Array.from(node.childNodes).filter((c) => c.nodeType === ELEMENT_NODE);
}

function child(node: XmlNode, name: string): XmlNode | undefined {
  return children(node).find((c) => localName(c) === name);
}

function childText(node: XmlNode, name: string): string | undefined {
  const found = child(node, name);
  return found ? (found.textContent ?? "") : undefined;
}

/** S3's answer that is not the XML it should be. */
export class S3XmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "S3XmlError";
  }
}

/** The root element of a document, which must be `expected`. */
function root(xml: string, expected: string, parse: XmlParser): XmlNode {
  let doc: XmlDocument;
  try {
    doc = parse(xml);
  } catch {
    throw new S3XmlError(`Object storage sent an answer that is not XML (expected ${expected}).`);
  }
  const element = doc.documentElement;
  if (!element || localName(element) !== expected) {
    const got = element ? localName(element) : "nothing";
    throw new S3XmlError(`Object storage sent ${got} where ${expected} was expected.`);
  }
  return element;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

const S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/";

/** The UploadId of CreateMultipartUpload's answer. */
export function parseUploadId(xml: string, parse: XmlParser = browserXml): string {
  const id = childText(root(xml, "InitiateMultipartUploadResult", parse), "UploadId")?.trim();
  if (!id) throw new S3XmlError("Object storage did not say which upload it started (no UploadId).");
  return id;
}

export interface UploadedPart {
  partNumber: number;
  etag: string;
}

/** CompleteMultipartUpload's body: the parts in order with the ETags UploadPart answered. */
export function completeMultipartXml(parts: UploadedPart[]): string {
  const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  const body = sorted.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`).join("");
  return `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="${S3_NS}">${body}</CompleteMultipartUpload>`;
}

/** Is this body S3's `<Error>` (CompleteMultipartUpload may answer 200 with one)? */
export function isErrorDocument(xml: string, parse: XmlParser = browserXml): boolean {
  if (!xml.includes("<Error")) return false;
  try {
    const element = parse(xml).documentElement;
    return !!element && localName(element) === "Error";
  } catch {
    return false;
  }
}

export type VersioningStatus = "Enabled" | "Suspended" | "";

/** PutBucketVersioning's body. */
export function versioningXml(status: "Enabled" | "Suspended"): string {
  return `<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration xmlns="${S3_NS}"><Status>${status}</Status></VersioningConfiguration>`;
}

/** GetBucketVersioning's status: "" for a bucket whose versioning was never enabled. */
export function parseVersioningStatus(xml: string, parse: XmlParser = browserXml): VersioningStatus {
  const status = childText(root(xml, "VersioningConfiguration", parse), "Status")?.trim() ?? "";
  return status === "Enabled" || status === "Suspended" ? status : "";
}

export interface ObjectVersion {
  key: string;
  versionId: string;
  isLatest: boolean;
  lastModified: string;
  deleteMarker: boolean;
  /** Absent on delete markers. */
  size?: number;
  etag?: string;
}

export interface VersionsPage {
  versions: ObjectVersion[];
  commonPrefixes: string[];
  truncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

/** ListObjectVersions' answer, versions and delete markers in the order S3 gave them. */
export function parseListVersions(xml: string, parse: XmlParser = browserXml): VersionsPage {
  const result = root(xml, "ListVersionsResult", parse);
  const versions: ObjectVersion[] = [];
  const commonPrefixes: string[] = [];
  for (const node of children(result)) {
    const name = localName(node);
    if (name === "Version" || name === "DeleteMarker") {
      const size = childText(node, "Size");
      versions.push({
        key: childText(node, "Key") ?? "",
        versionId: childText(node, "VersionId") ?? "null",
        isLatest: childText(node, "IsLatest")?.trim() === "true",
        lastModified: childText(node, "LastModified") ?? "",
        deleteMarker: name === "DeleteMarker",
        size: size === undefined ? undefined : Number(size),
        etag: childText(node, "ETag"),
      });
    } else if (name === "CommonPrefixes") {
      const prefix = childText(node, "Prefix");
      if (prefix !== undefined) commonPrefixes.push(prefix);
    }
  }
  const truncated = childText(result, "IsTruncated")?.trim() === "true";
  const nextKeyMarker = childText(result, "NextKeyMarker") || undefined;
  const nextVersionIdMarker = childText(result, "NextVersionIdMarker") || undefined;
  return { versions, commonPrefixes, truncated, nextKeyMarker, nextVersionIdMarker };
}

export interface S3ErrorInfo {
  code: string;
  message: string;
  requestId?: string;
}

/** S3's `<Error>` body in the console's terms; plain words from the status when it has none. */
export function parseS3Error(status: number, xml: string, parse: XmlParser = browserXml): S3ErrorInfo {
  try {
    const error = root(xml, "Error", parse);
    const code = childText(error, "Code")?.trim();
    const message = childText(error, "Message")?.trim();
    const requestId = childText(error, "RequestId")?.trim() || undefined;
    if (code) return { code, message: message || code, requestId };
  } catch {
    // not S3's error document: fall through
  }
  return { code: status === 0 ? "NetworkError" : `Http${status}`, message: status === 0 ? "Object storage could not be reached." : `Object storage refused the request (HTTP ${status}).` };
}

// --- Prefixes: folders in a flat key space ------------------------------------------------

export const DELIMITER = "/";

export interface Crumb {
  label: string;
  prefix: string;
}

/** The folders down to `prefix` ("a/b/" → a → a/, b → a/b/), for breadcrumbs. */
export function breadcrumbs(prefix: string): Crumb[] {
  const crumbs: Crumb[] = [];
  let at = 0;
  while (at < prefix.length) {
    const slash = prefix.indexOf(DELIMITER, at);
    const end = slash < 0 ? prefix.length : slash + 1;
    crumbs.push({ label: prefix.slice(at, slash < 0 ? prefix.length : slash), prefix: prefix.slice(0, end) });
    at = end;
  }
  return crumbs;
}

/** What a key or common prefix is called inside the folder `prefix`. */
export function nameIn(prefix: string, keyOrPrefix: string): string {
  return keyOrPrefix.startsWith(prefix) ? keyOrPrefix.slice(prefix.length) : keyOrPrefix;
}

/** The last part of a key: the file name a download gets. */
export function baseName(key: string): string {
  const parts = key.split(DELIMITER).filter(Boolean);
  return parts[parts.length - 1] ?? key;
}

/** A key in a URL path, its slashes kept (`a b/c` → `a%20b/c`). */
export function keyPath(key: string): string {
  return key.split(DELIMITER).map(encodeURIComponent).join(DELIMITER);
}

/** `Content-Disposition: attachment` for a download named `filename` (RFC 6266: an ASCII
 * fallback and the UTF-8 name). */
export function attachmentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  const utf8 = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}
