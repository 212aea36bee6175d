import { DOMParser as XmlDomParser } from "@xmldom/xmldom";
import { describe, expect, it } from "vitest";
import {
  attachmentDisposition,
  baseName,
  breadcrumbs,
  completeMultipartXml,
  isErrorDocument,
  keyPath,
  nameIn,
  PART_SIZE,
  parseListVersions,
  parseS3Error,
  parseUploadId,
  parseVersioningStatus,
  planParts,
  S3XmlError,
  usesMultipart,
  versioningXml,
  type XmlDocument,
  type XmlParser,
} from "./s3";

// @xmldom's DOMParser stands in for the browser's here (node has none).
const xml: XmlParser = (text) => {
  const doc = new XmlDomParser({ onError: (level, message) => {
    if (level !== "warning") throw new Error(message);
  } }).parseFromString(text, "application/xml");
  return doc as unknown as XmlDocument;
};

const MiB = 1024 * 1024;

describe("planParts", () => {
  it("cuts 20 MiB into 8 + 8 + 4 MiB parts numbered from 1", () => {
    expect(planParts(20 * MiB)).toEqual([
      { partNumber: 1, start: 0, end: 8 * MiB },
      { partNumber: 2, start: 8 * MiB, end: 16 * MiB },
      { partNumber: 3, start: 16 * MiB, end: 20 * MiB },
    ]);
  });
  it("gives exact multiples no empty last part", () => {
    const parts = planParts(16 * MiB);
    expect(parts).toHaveLength(2);
    expect(parts[1]).toEqual({ partNumber: 2, start: 8 * MiB, end: 16 * MiB });
  });
  it("covers every byte once", () => {
    const size = 3 * PART_SIZE + 12345;
    const parts = planParts(size);
    expect(parts.reduce((sum, p) => sum + (p.end - p.start), 0)).toBe(size);
    parts.forEach((p, i) => i > 0 && expect(p.start).toBe(parts[i - 1]!.end));
  });
  it("plans one empty part for an empty file and refuses nonsense", () => {
    expect(planParts(0)).toEqual([{ partNumber: 1, start: 0, end: 0 }]);
    expect(() => planParts(-1)).toThrow();
    expect(() => planParts(10, 0)).toThrow();
  });
  it("uses multipart only above 8 MiB", () => {
    expect(usesMultipart(8 * MiB)).toBe(false);
    expect(usesMultipart(8 * MiB + 1)).toBe(true);
    expect(usesMultipart(0)).toBe(false);
  });
});

describe("multipart XML", () => {
  it("reads the UploadId (namespaced, as S3 answers)", () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>big.bin</Key><UploadId>abc-123_x</UploadId></InitiateMultipartUploadResult>`;
    expect(parseUploadId(body, xml)).toBe("abc-123_x");
  });
  it("refuses an answer without an UploadId or of another kind", () => {
    expect(() => parseUploadId("<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>", xml)).toThrow(S3XmlError);
    expect(() => parseUploadId("<Error><Code>NoSuchBucket</Code></Error>", xml)).toThrow(/Error where InitiateMultipartUploadResult/);
    expect(() => parseUploadId("not xml <", xml)).toThrow(S3XmlError);
  });
  it("builds CompleteMultipartUpload with the parts in order and the ETags escaped", () => {
    const body = completeMultipartXml([
      { partNumber: 2, etag: '"bbb"' },
      { partNumber: 1, etag: '"a&a"' },
    ]);
    expect(body).toContain(
      "<Part><PartNumber>1</PartNumber><ETag>&quot;a&amp;a&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;bbb&quot;</ETag></Part>",
    );
    const parsed = xml(body).documentElement;
    expect(parsed?.nodeName).toBe("CompleteMultipartUpload");
    expect(parsed?.textContent).toBe('1"a&a"2"bbb"');
  });
  it("tells an <Error> document (a 200 CompleteMultipartUpload can be one)", () => {
    expect(isErrorDocument("<Error><Code>InternalError</Code></Error>", xml)).toBe(true);
    expect(isErrorDocument("<CompleteMultipartUploadResult><ETag>x</ETag></CompleteMultipartUploadResult>", xml)).toBe(false);
  });
});

describe("versioning XML", () => {
  it("builds the configuration and reads the status back", () => {
    expect(parseVersioningStatus(versioningXml("Enabled"), xml)).toBe("Enabled");
    expect(parseVersioningStatus(versioningXml("Suspended"), xml)).toBe("Suspended");
  });
  it("reads a never-versioned bucket as empty", () => {
    expect(parseVersioningStatus('<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>', xml)).toBe("");
  });
});

describe("parseListVersions", () => {
  const body = `<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>docs/</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated><NextKeyMarker>docs/b.txt</NextKeyMarker><NextVersionIdMarker>v9</NextVersionIdMarker>
  <DeleteMarker><Key>docs/a.txt</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest><LastModified>2026-12-01T02:00:00.000Z</LastModified><Owner><ID>1</ID></Owner></DeleteMarker>
  <Version><Key>docs/a.txt</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest><LastModified>2026-12-01T01:00:00.000Z</LastModified><ETag>"e2"</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass><Owner><ID>1</ID></Owner></Version>
  <CommonPrefixes><Prefix>docs/old/</Prefix></CommonPrefixes>
</ListVersionsResult>`;
  it("keeps versions and delete markers in S3's order", () => {
    const page = parseListVersions(body, xml);
    expect(page.versions).toEqual([
      { key: "docs/a.txt", versionId: "v3", isLatest: true, lastModified: "2026-12-01T02:00:00.000Z", deleteMarker: true, size: undefined, etag: undefined },
      { key: "docs/a.txt", versionId: "v2", isLatest: false, lastModified: "2026-12-01T01:00:00.000Z", deleteMarker: false, size: 42, etag: '"e2"' },
    ]);
    expect(page.commonPrefixes).toEqual(["docs/old/"]);
  });
  it("gives the markers of the next page", () => {
    const page = parseListVersions(body, xml);
    expect(page.truncated).toBe(true);
    expect(page.nextKeyMarker).toBe("docs/b.txt");
    expect(page.nextVersionIdMarker).toBe("v9");
  });
  it("reads an empty last page", () => {
    const page = parseListVersions("<ListVersionsResult><IsTruncated>false</IsTruncated></ListVersionsResult>", xml);
    expect(page).toEqual({ versions: [], commonPrefixes: [], truncated: false, nextKeyMarker: undefined, nextVersionIdMarker: undefined });
  });
});

describe("parseS3Error", () => {
  it("reads S3's code, message and request id", () => {
    const body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>req-1</RequestId></Error>";
    expect(parseS3Error(403, body, xml)).toEqual({ code: "AccessDenied", message: "Access Denied", requestId: "req-1" });
  });
  it("says something plain for a body that is not S3's", () => {
    expect(parseS3Error(502, "<html>bad gateway</html>", xml)).toEqual({ code: "Http502", message: "Object storage refused the request (HTTP 502)." });
    expect(parseS3Error(0, "", xml).code).toBe("NetworkError");
  });
});

describe("prefixes", () => {
  it("makes breadcrumbs of a prefix", () => {
    expect(breadcrumbs("")).toEqual([]);
    expect(breadcrumbs("a/")).toEqual([{ label: "a", prefix: "a/" }]);
    expect(breadcrumbs("a/b c/")).toEqual([
      { label: "a", prefix: "a/" },
      { label: "b c", prefix: "a/b c/" },
    ]);
    expect(breadcrumbs("a/partial")).toEqual([
      { label: "a", prefix: "a/" },
      { label: "partial", prefix: "a/partial" },
    ]);
  });
  it("names keys inside a folder", () => {
    expect(nameIn("a/", "a/b.txt")).toBe("b.txt");
    expect(nameIn("a/", "a/c/")).toBe("c/");
    expect(nameIn("", "x")).toBe("x");
    expect(baseName("a/b/c.bin")).toBe("c.bin");
    expect(baseName("plain")).toBe("plain");
  });
  it("escapes a key for a URL path but keeps its slashes", () => {
    expect(keyPath("a b/c?d#e/ü")).toBe("a%20b/c%3Fd%23e/%C3%BC");
  });
  it("writes an attachment disposition with an ASCII fallback", () => {
    expect(attachmentDisposition("big.bin")).toBe(`attachment; filename="big.bin"; filename*=UTF-8''big.bin`);
    expect(attachmentDisposition('ré "x".txt')).toBe(`attachment; filename="r_ _x_.txt"; filename*=UTF-8''r%C3%A9%20%22x%22.txt`);
  });
});
