"""S3 conformance through boto3 (botocore parses every answer with AWS's own service model)
against a Kumo endpoint: path-style addressing, SigV4 (s3v4).

Usage: s3_conformance.py ENDPOINT KEY_A SECRET_A KEY_B SECRET_B KEY_R SECRET_R [SECTION...]
(A and B: admins of two accounts; R: a reader in A's account)

Every section runs even when an earlier one fails; the last line of stdout is a JSON
report {"passed": [...], "failed": {section: traceback}}. Exit status 1 when any failed.
"""
import base64
import datetime
import hashlib
import io
import json
import random
import sys
import traceback
import urllib.error
import urllib.parse
import urllib.request
import zlib

import boto3
import botocore.httpchecksum
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

endpoint, key_a, secret_a, key_b, secret_b, key_r, secret_r = sys.argv[1:8]
wanted_sections = set(sys.argv[8:])
REGION = "us-east-1"
MIB = 1024 * 1024


def client(key, secret, **config):
    cfg = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        **config,
    )
    session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=REGION)
    return session.client("s3", endpoint_url=endpoint, config=cfg)


a = client(key_a, secret_a)
b = client(key_b, secret_b)
reader = client(key_r, secret_r)


def data_of(size, seed):
    return random.Random(seed).randbytes(size)


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def quoted_md5(data):
    return '"%s"' % md5_hex(data)


def b64(raw):
    return base64.b64encode(raw).decode()


def crc32_b64(data):
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def error_of(call, *args, **kwargs):
    """(code, HTTP status) of the ClientError the call must raise."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{getattr(call, '__name__', call)}{args}{kwargs} succeeded; an error was expected")


def expect_error(code, status, call, *args, **kwargs):
    got = error_of(call, *args, **kwargs)
    assert got == (code, status), f"{getattr(call, '__name__', call)}: expected {(code, status)}, got {got}"


def eq(actual, expected, what=""):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def body(response):
    return response["Body"].read()


def keys_of(listing):
    return [o["Key"] for o in listing.get("Contents", [])]


def prefixes_of(listing):
    return [p["Prefix"] for p in listing.get("CommonPrefixes", [])]


def raw(method, path, data=b"", headers=None, creds=(key_a, secret_a), sign=True):
    """A request of our own making (signed with botocore's S3 signer unless sign=False):
    (status, headers, body)."""
    url = endpoint + path
    headers = dict(headers or {})
    if sign:
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        S3SigV4Auth(Credentials(*creds), "s3", REGION).add_auth(request)
        prepared = request.prepare()
        url, headers = prepared.url, dict(prepared.headers)
    request = urllib.request.Request(url, data=data if data else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def xml_code(data):
    text = data.decode(errors="replace")
    start = text.find("<Code>")
    end = text.find("</Code>")
    return text[start + 6:end] if start >= 0 and end > start else text


def empty_bucket(s3, bucket):
    versions = s3.list_object_versions(Bucket=bucket)
    for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])


SECTIONS = []


def section(fn):
    SECTIONS.append(fn)
    return fn


@section
def buckets():
    name = "conf-buckets"
    eq(error_of(a.head_bucket, Bucket=name), ("404", 404), "HEAD of a missing bucket")
    created = a.create_bucket(Bucket=name)
    eq(created["Location"], f"/{name}", "Location")
    head = a.head_bucket(Bucket=name)
    eq(head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region"), REGION, "x-amz-bucket-region")
    eq(head.get("BucketRegion"), REGION, "BucketRegion")
    listed = a.list_buckets()
    assert name in [x["Name"] for x in listed["Buckets"]], listed
    assert listed["Owner"]["ID"], listed
    eq(a.get_bucket_location(Bucket=name)["LocationConstraint"], None, "LocationConstraint (us-east-1)")
    # us-east-1 is the empty constraint; naming it is an error, as on AWS.
    eq(error_of(a.create_bucket, Bucket="conf-constraint",
                CreateBucketConfiguration={"LocationConstraint": REGION}),
       ("InvalidLocationConstraint", 400), "explicit us-east-1")
    a.put_object(Bucket=name, Key="k", Body=b"x")
    expect_error("BucketNotEmpty", 409, a.delete_bucket, Bucket=name)
    a.delete_object(Bucket=name, Key="k")
    eq(a.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"], 204, "DeleteBucket status")
    eq(error_of(a.head_bucket, Bucket=name), ("404", 404), "HEAD after delete")
    expect_error("NoSuchBucket", 404, a.delete_bucket, Bucket=name)
    expect_error("NoSuchBucket", 404, a.list_objects_v2, Bucket=name)
    expect_error("NoSuchBucket", 404, a.put_object, Bucket=name, Key="k", Body=b"x")
    # An error's body names the request and the resource.
    try:
        a.get_object(Bucket=name, Key="k")
    except ClientError as e:
        assert e.response["ResponseMetadata"].get("RequestId"), e.response
        assert e.response["Error"]["Message"], e.response


@section
def versioning():
    bucket = "conf-versioning"
    a.create_bucket(Bucket=bucket)
    assert "Status" not in a.get_bucket_versioning(Bucket=bucket)
    a.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    eq(a.get_bucket_versioning(Bucket=bucket).get("Status"), "Enabled", "versioning status")
    contents = [b"first version", b"second version!", b"third version, longest"]
    ids = []
    for c in contents:
        put = a.put_object(Bucket=bucket, Key="doc", Body=c)
        assert put.get("VersionId") and put["VersionId"] != "null", put
        ids.append(put["VersionId"])
    eq(len(set(ids)), 3, "distinct version ids")
    versions = a.list_object_versions(Bucket=bucket, Prefix="doc")
    listed = versions["Versions"]
    eq([v["VersionId"] for v in listed], ids[::-1], "versions, newest first")
    eq([v["IsLatest"] for v in listed], [True, False, False], "IsLatest")
    eq([v["Size"] for v in listed], [len(c) for c in contents[::-1]], "sizes")
    eq([v["ETag"] for v in listed], [quoted_md5(c) for c in contents[::-1]], "etags")
    for version_id, c in zip(ids, contents):
        got = a.get_object(Bucket=bucket, Key="doc", VersionId=version_id)
        eq(body(got), c, f"version {version_id}")
        eq(got["VersionId"], version_id, "VersionId header")
    eq(body(a.get_object(Bucket=bucket, Key="doc")), contents[-1], "latest")

    deleted = a.delete_object(Bucket=bucket, Key="doc")
    assert deleted.get("DeleteMarker") is True, deleted
    marker = deleted["VersionId"]
    assert marker not in ids
    versions = a.list_object_versions(Bucket=bucket, Prefix="doc")
    eq([m["VersionId"] for m in versions["DeleteMarkers"]], [marker], "delete markers")
    assert versions["DeleteMarkers"][0]["IsLatest"] is True
    assert all(not v["IsLatest"] for v in versions["Versions"])
    expect_error("NoSuchKey", 404, a.get_object, Bucket=bucket, Key="doc")
    eq(error_of(a.head_object, Bucket=bucket, Key="doc"), ("404", 404), "HEAD of a deleted object")
    for call in (a.get_object, a.head_object):
        try:
            call(Bucket=bucket, Key="doc")
        except ClientError as e:
            headers = e.response["ResponseMetadata"]["HTTPHeaders"]
            eq(headers.get("x-amz-delete-marker"), "true", f"{call.__name__}: x-amz-delete-marker")
            eq(headers.get("x-amz-version-id"), marker, f"{call.__name__}: the marker's version id")
    expect_error("MethodNotAllowed", 405, a.get_object, Bucket=bucket, Key="doc", VersionId=marker)
    eq(keys_of(a.list_objects_v2(Bucket=bucket)), [], "listing hides a deleted key")
    # Removing the marker brings the object back.
    removed = a.delete_object(Bucket=bucket, Key="doc", VersionId=marker)
    eq(removed.get("VersionId"), marker, "deleted marker's id")
    assert removed.get("DeleteMarker") is True, removed
    eq(body(a.get_object(Bucket=bucket, Key="doc")), contents[-1], "back after the marker went")
    eq(keys_of(a.list_objects_v2(Bucket=bucket)), ["doc"], "listing")
    # Deleting one version for good.
    a.delete_object(Bucket=bucket, Key="doc", VersionId=ids[1])
    eq([v["VersionId"] for v in a.list_object_versions(Bucket=bucket)["Versions"]], [ids[2], ids[0]], "after a version delete")
    # Deleting the latest version makes the previous one current.
    a.delete_object(Bucket=bucket, Key="doc", VersionId=ids[2])
    eq(body(a.get_object(Bucket=bucket, Key="doc")), contents[0], "previous version current")
    a.put_object(Bucket=bucket, Key="doc", Body=contents[2])

    # Copying an older version.
    copied = a.copy_object(Bucket=bucket, Key="doc-copy", CopySource={"Bucket": bucket, "Key": "doc", "VersionId": ids[0]})
    eq(copied.get("CopySourceVersionId"), ids[0], "CopySourceVersionId")
    eq(body(a.get_object(Bucket=bucket, Key="doc-copy")), contents[0], "copy of an older version")
    a.delete_object(Bucket=bucket, Key="doc-copy", VersionId=copied["VersionId"])
    # Version listings page by key and version id markers.
    for i in range(3):
        a.put_object(Bucket=bucket, Key="paged", Body=b"p%d" % i)
    a.delete_object(Bucket=bucket, Key="paged")
    whole = a.list_object_versions(Bucket=bucket, Prefix="paged")
    whole_ids = [v["VersionId"] for v in whole["Versions"]] + [m["VersionId"] for m in whole["DeleteMarkers"]]
    paged_ids = []
    for page in a.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="paged", PaginationConfig={"PageSize": 1}):
        paged_ids += [v["VersionId"] for v in page.get("Versions", [])] + [m["VersionId"] for m in page.get("DeleteMarkers", [])]
    eq(sorted(paged_ids), sorted(whole_ids), "version pages")
    eq(len(paged_ids), 4, "three versions and a marker")
    first = a.list_object_versions(Bucket=bucket, Prefix="paged", MaxKeys=2)
    assert first["IsTruncated"] and first["NextKeyMarker"] == "paged" and first["NextVersionIdMarker"], first
    rest = a.list_object_versions(Bucket=bucket, Prefix="paged", KeyMarker=first["NextKeyMarker"],
                                  VersionIdMarker=first["NextVersionIdMarker"])
    eq(len(rest.get("Versions", [])) + len(rest.get("DeleteMarkers", [])), 2, "versions after the markers")
    for v in whole["Versions"] + whole["DeleteMarkers"]:
        a.delete_object(Bucket=bucket, Key="paged", VersionId=v["VersionId"])

    # Suspended: new writes are the "null" version, older versions stay.
    a.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    eq(a.get_bucket_versioning(Bucket=bucket).get("Status"), "Suspended", "suspended")
    a.put_object(Bucket=bucket, Key="doc", Body=b"null one")
    a.put_object(Bucket=bucket, Key="doc", Body=b"null two")
    versions = a.list_object_versions(Bucket=bucket, Prefix="doc")["Versions"]
    eq([v["VersionId"] for v in versions].count("null"), 1, "one null version")
    eq(versions[0]["VersionId"], "null", "null version newest")
    eq(len(versions), 3, "null + two versioned")
    eq(body(a.get_object(Bucket=bucket, Key="doc", VersionId="null")), b"null two", "null version bytes")
    eq(body(a.get_object(Bucket=bucket, Key="doc", VersionId=ids[0])), contents[0], "old version kept")
    deleted = a.delete_object(Bucket=bucket, Key="doc")
    assert deleted.get("DeleteMarker") is True, deleted
    eq(deleted.get("VersionId"), "null", "suspended delete marker id")
    versions = a.list_object_versions(Bucket=bucket, Prefix="doc")
    eq([m["VersionId"] for m in versions.get("DeleteMarkers", [])], ["null"], "null delete marker")
    eq(len(versions["Versions"]), 2, "the null version went with the delete")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def tagging():
    bucket = "conf-tagging"
    a.create_bucket(Bucket=bucket)
    expect_error("NoSuchTagSet", 404, a.get_bucket_tagging, Bucket=bucket)
    tags = [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "kumo & co <x>"}]
    a.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    eq(sorted(a.get_bucket_tagging(Bucket=bucket)["TagSet"], key=lambda t: t["Key"]), tags, "bucket tags")
    a.delete_bucket_tagging(Bucket=bucket)
    expect_error("NoSuchTagSet", 404, a.get_bucket_tagging, Bucket=bucket)

    a.put_object(Bucket=bucket, Key="obj", Body=b"tagged", Tagging="a=1&b=two%20words")
    eq(a.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"],
       [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "two words"}], "tags from x-amz-tagging")
    eq(a.get_object(Bucket=bucket, Key="obj").get("TagCount"), 2, "TagCount")
    a.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    eq(a.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"], [{"Key": "c", "Value": "3"}], "replaced tags")
    a.delete_object_tagging(Bucket=bucket, Key="obj")
    eq(a.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"], [], "tags deleted")
    expect_error("NoSuchKey", 404, a.get_object_tagging, Bucket=bucket, Key="missing")
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    expect_error("InvalidTag", 400, a.put_object_tagging, Bucket=bucket, Key="obj", Tagging={"TagSet": too_many})
    duplicate = [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]
    expect_error("InvalidTag", 400, a.put_object_tagging, Bucket=bucket, Key="obj", Tagging={"TagSet": duplicate})
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def metadata():
    bucket = "conf-metadata"
    a.create_bucket(Bucket=bucket)
    data = b"with metadata"
    a.put_object(Bucket=bucket, Key="m", Body=data, ContentType="text/plain; charset=utf-8",
                 Metadata={"color": "blue", "Owner-Name": "Ann"}, CacheControl="max-age=60",
                 ContentDisposition='attachment; filename="m.txt"', ContentLanguage="en")
    head = a.head_object(Bucket=bucket, Key="m")
    eq(head["Metadata"], {"color": "blue", "owner-name": "Ann"}, "metadata")
    eq(head["ContentType"], "text/plain; charset=utf-8", "ContentType")
    eq(head["CacheControl"], "max-age=60", "CacheControl")
    eq(head["ContentDisposition"], 'attachment; filename="m.txt"', "ContentDisposition")
    eq(head["ContentLanguage"], "en", "ContentLanguage")
    eq(head["ContentLength"], len(data), "ContentLength")
    eq(head["ETag"], quoted_md5(data), "ETag")
    eq(head.get("AcceptRanges"), "bytes", "AcceptRanges")
    got = a.get_object(Bucket=bucket, Key="m", ResponseContentType="application/x-override",
                       ResponseCacheControl="no-store")
    eq(got["ContentType"], "application/x-override", "response-content-type")
    eq(got["CacheControl"], "no-store", "response-cache-control")
    eq(got["Metadata"], {"color": "blue", "owner-name": "Ann"}, "metadata on GET")
    eq(body(got), data, "bytes")
    # An object with no Content-Type gets S3's default.
    a.put_object(Bucket=bucket, Key="plain", Body=b"")
    head = a.head_object(Bucket=bucket, Key="plain")
    eq(head["ContentLength"], 0, "empty object")
    eq(head["ETag"], quoted_md5(b""), "empty ETag")
    eq(body(a.get_object(Bucket=bucket, Key="plain")), b"", "empty body")
    expect_error("MetadataTooLarge", 400, a.put_object, Bucket=bucket, Key="big-meta", Body=b"x",
                 Metadata={"big": "v" * 2100})
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def ranges():
    bucket = "conf-ranges"
    a.create_bucket(Bucket=bucket)
    data = data_of(700 * 1024 + 17, 1)  # three 256 KiB chunks
    size = len(data)
    a.put_object(Bucket=bucket, Key="r", Body=data)
    got = a.get_object(Bucket=bucket, Key="r", Range="bytes=0-9")
    eq(got["ResponseMetadata"]["HTTPStatusCode"], 206, "status")
    eq(got["ContentRange"], f"bytes 0-9/{size}", "ContentRange")
    eq(got["ContentLength"], 10, "ContentLength")
    eq(body(got), data[:10], "first bytes")
    got = a.get_object(Bucket=bucket, Key="r", Range="bytes=-100")
    eq(got["ContentRange"], f"bytes {size - 100}-{size - 1}/{size}", "suffix ContentRange")
    eq(body(got), data[-100:], "suffix")
    got = a.get_object(Bucket=bucket, Key="r", Range="bytes=700000-")
    eq(body(got), data[700000:], "open-ended")
    got = a.get_object(Bucket=bucket, Key="r", Range="bytes=200000-600000")
    eq(body(got), data[200000:600001], "across chunk boundaries")
    got = a.get_object(Bucket=bucket, Key="r", Range=f"bytes={size - 5}-{size + 1000}")
    eq(body(got), data[-5:], "end clipped to the object")
    got = a.get_object(Bucket=bucket, Key="r", Range="bytes=-99999999")
    eq(body(got), data, "suffix longer than the object")
    expect_error("InvalidRange", 416, a.get_object, Bucket=bucket, Key="r", Range=f"bytes={size}-")
    expect_error("InvalidRange", 416, a.get_object, Bucket=bucket, Key="r", Range="bytes=99999999-")
    head = a.head_object(Bucket=bucket, Key="r", Range="bytes=5-14")
    eq(head["ContentLength"], 10, "HEAD with a range")
    eq(body(a.get_object(Bucket=bucket, Key="r")), data, "whole object")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def conditionals():
    bucket = "conf-conditionals"
    a.create_bucket(Bucket=bucket)
    data = b"conditional content"
    a.put_object(Bucket=bucket, Key="c", Body=data)
    head = a.head_object(Bucket=bucket, Key="c")
    etag, modified = head["ETag"], head["LastModified"]
    day = datetime.timedelta(days=1)
    eq(body(a.get_object(Bucket=bucket, Key="c", IfMatch=etag)), data, "If-Match hit")
    expect_error("PreconditionFailed", 412, a.get_object, Bucket=bucket, Key="c", IfMatch='"0123"')
    eq(error_of(a.get_object, Bucket=bucket, Key="c", IfNoneMatch=etag), ("304", 304), "If-None-Match hit")
    eq(body(a.get_object(Bucket=bucket, Key="c", IfNoneMatch='"0123"')), data, "If-None-Match miss")
    eq(error_of(a.get_object, Bucket=bucket, Key="c", IfModifiedSince=modified), ("304", 304), "If-Modified-Since = Last-Modified")
    eq(body(a.get_object(Bucket=bucket, Key="c", IfModifiedSince=modified - day)), data, "If-Modified-Since earlier")
    expect_error("PreconditionFailed", 412, a.get_object, Bucket=bucket, Key="c", IfUnmodifiedSince=modified - day)
    eq(body(a.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=modified)), data, "If-Unmodified-Since = Last-Modified")
    eq(error_of(a.head_object, Bucket=bucket, Key="c", IfNoneMatch=etag), ("304", 304), "HEAD If-None-Match")
    eq(error_of(a.head_object, Bucket=bucket, Key="c", IfMatch='"0123"'), ("412", 412), "HEAD If-Match")
    # Conditional writes: If-None-Match: * creates only.
    expect_error("PreconditionFailed", 412, a.put_object, Bucket=bucket, Key="c", Body=b"other", IfNoneMatch="*")
    eq(body(a.get_object(Bucket=bucket, Key="c")), data, "not overwritten")
    a.put_object(Bucket=bucket, Key="fresh", Body=b"new", IfNoneMatch="*")
    eq(body(a.get_object(Bucket=bucket, Key="fresh")), b"new", "created")
    # If-Match: compare-and-swap on the ETag.
    expect_error("PreconditionFailed", 412, a.put_object, Bucket=bucket, Key="c", Body=b"lost update", IfMatch='"0123"')
    swapped = a.put_object(Bucket=bucket, Key="c", Body=b"swapped", IfMatch=etag)
    expect_error("PreconditionFailed", 412, a.put_object, Bucket=bucket, Key="c", Body=b"stale", IfMatch=etag)
    eq(body(a.get_object(Bucket=bucket, Key="c")), b"swapped", "If-Match swap")
    a.put_object(Bucket=bucket, Key="c", Body=b"again", IfMatch=swapped["ETag"])
    expect_error("NoSuchKey", 404, a.put_object, Bucket=bucket, Key="absent", Body=b"x", IfMatch=etag)
    # The same on multipart completion.
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="c")["UploadId"]
    part = a.upload_part(Bucket=bucket, Key="c", UploadId=upload_id, PartNumber=1, Body=b"multipart")
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    expect_error("PreconditionFailed", 412, a.complete_multipart_upload, Bucket=bucket, Key="c", UploadId=upload_id,
                 MultipartUpload=parts, IfNoneMatch="*")
    expect_error("PreconditionFailed", 412, a.complete_multipart_upload, Bucket=bucket, Key="c", UploadId=upload_id,
                 MultipartUpload=parts, IfMatch='"0123"')
    current = a.head_object(Bucket=bucket, Key="c")["ETag"]
    a.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=upload_id, MultipartUpload=parts, IfMatch=current)
    eq(body(a.get_object(Bucket=bucket, Key="c")), b"multipart", "conditional completion")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def copy():
    bucket = "conf-copy"
    a.create_bucket(Bucket=bucket)
    data = data_of(600 * 1024, 2)
    src = "src dir/ü ñ+.bin"
    put = a.put_object(Bucket=bucket, Key=src, Body=data, ContentType="text/plain", Metadata={"k": "v"})
    copied = a.copy_object(Bucket=bucket, Key="dst-copy", CopySource={"Bucket": bucket, "Key": src})
    eq(copied["CopyObjectResult"]["ETag"], put["ETag"], "copy ETag")
    head = a.head_object(Bucket=bucket, Key="dst-copy")
    eq(head["Metadata"], {"k": "v"}, "COPY keeps metadata")
    eq(head["ContentType"], "text/plain", "COPY keeps Content-Type")
    eq(body(a.get_object(Bucket=bucket, Key="dst-copy")), data, "copied bytes")
    a.copy_object(Bucket=bucket, Key="dst-replace", CopySource={"Bucket": bucket, "Key": src},
                  MetadataDirective="REPLACE", Metadata={"n": "w"}, ContentType="application/json")
    head = a.head_object(Bucket=bucket, Key="dst-replace")
    eq(head["Metadata"], {"n": "w"}, "REPLACE metadata")
    eq(head["ContentType"], "application/json", "REPLACE Content-Type")
    eq(body(a.get_object(Bucket=bucket, Key="dst-replace")), data, "replaced copy bytes")
    expect_error("InvalidRequest", 400, a.copy_object, Bucket=bucket, Key=src, CopySource={"Bucket": bucket, "Key": src})
    a.copy_object(Bucket=bucket, Key=src, CopySource={"Bucket": bucket, "Key": src},
                  MetadataDirective="REPLACE", Metadata={"again": "1"})
    eq(a.head_object(Bucket=bucket, Key=src)["Metadata"], {"again": "1"}, "copy onto itself with REPLACE")
    expect_error("NoSuchKey", 404, a.copy_object, Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    expect_error("PreconditionFailed", 412, a.copy_object, Bucket=bucket, Key="x",
                 CopySource={"Bucket": bucket, "Key": src}, CopySourceIfMatch='"0123"')
    # Across buckets of the same account.
    a.create_bucket(Bucket="conf-copy-2")
    a.copy_object(Bucket="conf-copy-2", Key="there", CopySource={"Bucket": bucket, "Key": src})
    eq(body(a.get_object(Bucket="conf-copy-2", Key="there")), data, "cross-bucket copy")
    # The source may go; the copy keeps its bytes.
    a.delete_object(Bucket=bucket, Key=src)
    eq(body(a.get_object(Bucket="conf-copy-2", Key="there")), data, "copy outlives its source")
    for name in (bucket, "conf-copy-2"):
        empty_bucket(a, name)
        a.delete_bucket(Bucket=name)


@section
def delete_objects():
    bucket = "conf-delete-objects"
    a.create_bucket(Bucket=bucket)
    for i in range(5):
        a.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
    result = a.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k0"}, {"Key": "k1"}, {"Key": "missing"}]})
    eq(sorted(d["Key"] for d in result.get("Deleted", [])), ["k0", "k1", "missing"], "Deleted")
    eq(result.get("Errors", []), [], "Errors")
    result = a.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k2"}, {"Key": "k3"}], "Quiet": True})
    eq(result.get("Deleted", []), [], "quiet mode reports nothing")
    eq(keys_of(a.list_objects_v2(Bucket=bucket)), ["k4"], "what is left")
    # Versioned: delete markers, and version deletes.
    a.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v = a.put_object(Bucket=bucket, Key="v", Body=b"1")["VersionId"]
    result = a.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "v"}]})
    deleted = result["Deleted"][0]
    assert deleted.get("DeleteMarker") is True and deleted.get("DeleteMarkerVersionId"), deleted
    result = a.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "v", "VersionId": v}, {"Key": "v", "VersionId": deleted["DeleteMarkerVersionId"]}]})
    eq(len(result["Deleted"]), 2, "version deletes")
    eq(a.list_object_versions(Bucket=bucket, Prefix="v").get("Versions", []), [], "versions gone")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def listing():
    bucket = "conf-listing"
    a.create_bucket(Bucket=bucket)
    page_keys = [f"page/key-{i:02}" for i in range(25)]
    other = ["dir/a", "dir/b", "dir/sub/c", "dir/sub/d", "dir/zz/e", "top.txt"]
    for key in page_keys + other:
        a.put_object(Bucket=bucket, Key=key, Body=key.encode())

    # V2: pages of 10 over 25 keys with continuation tokens.
    seen, token, pages = [], None, 0
    while True:
        args = {"Bucket": bucket, "Prefix": "page/", "MaxKeys": 10}
        if token:
            args["ContinuationToken"] = token
        page = a.list_objects_v2(**args)
        pages += 1
        eq(page["KeyCount"], len(page.get("Contents", [])), "KeyCount")
        eq(page["MaxKeys"], 10, "MaxKeys")
        seen += keys_of(page)
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        token = page["NextContinuationToken"]
        assert token
    eq(pages, 3, "pages")
    eq(seen, page_keys, "paginated keys")
    paginated = []
    for page in a.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 7}):
        paginated += keys_of(page)
    eq(paginated, sorted(page_keys + other), "paginator over the bucket")
    listed = a.list_objects_v2(Bucket=bucket, Prefix="page/", StartAfter="page/key-20")
    eq(keys_of(listed), page_keys[21:], "StartAfter")
    first = a.list_objects_v2(Bucket=bucket, Prefix="page/", MaxKeys=1)["Contents"][0]
    eq(first["Size"], len(b"page/key-00"), "Size")
    eq(first["ETag"], quoted_md5(b"page/key-00"), "ETag")
    eq(first["StorageClass"], "STANDARD", "StorageClass")
    assert "Owner" not in first
    owner = a.list_objects_v2(Bucket=bucket, Prefix="page/", MaxKeys=1, FetchOwner=True)["Contents"][0]
    assert owner["Owner"]["ID"], owner

    # Delimiters roll keys up into common prefixes.
    listed = a.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    eq(keys_of(listed), ["dir/a", "dir/b"], "keys under dir/")
    eq(prefixes_of(listed), ["dir/sub/", "dir/zz/"], "common prefixes under dir/")
    eq(listed["KeyCount"], 4, "KeyCount counts prefixes")
    listed = a.list_objects_v2(Bucket=bucket, Delimiter="/")
    eq(keys_of(listed), ["top.txt"], "top-level keys")
    eq(prefixes_of(listed), ["dir/", "page/"], "top-level prefixes")
    entries, token = [], None
    while True:
        args = {"Bucket": bucket, "Prefix": "dir/", "Delimiter": "/", "MaxKeys": 1}
        if token:
            args["ContinuationToken"] = token
        page = a.list_objects_v2(**args)
        entries += keys_of(page) + prefixes_of(page)
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    eq(entries, ["dir/a", "dir/b", "dir/sub/", "dir/zz/"], "one entry per page with a delimiter")
    expect_error("InvalidArgument", 400, a.list_objects_v2, Bucket=bucket, ContinuationToken="not a token")

    # V1 with Marker.
    v1 = a.list_objects(Bucket=bucket, Prefix="page/", MaxKeys=10)
    eq(keys_of(v1), page_keys[:10], "v1 first page")
    assert v1["IsTruncated"] is True
    v1 = a.list_objects(Bucket=bucket, Prefix="page/", Marker=page_keys[9], MaxKeys=10)
    eq(keys_of(v1), page_keys[10:20], "v1 after Marker")
    eq(v1["Marker"], page_keys[9], "Marker echoed")
    v1 = a.list_objects(Bucket=bucket, Prefix="page/", Marker="page/key-19")
    eq(keys_of(v1), page_keys[20:], "v1 last page")
    assert v1["IsTruncated"] is False
    v1 = a.list_objects(Bucket=bucket, Prefix="dir/", Delimiter="/", MaxKeys=3)
    eq(keys_of(v1) + prefixes_of(v1), ["dir/a", "dir/b", "dir/sub/"], "v1 with a delimiter")
    eq(v1.get("NextMarker"), "dir/sub/", "NextMarker")
    v1 = a.list_objects(Bucket=bucket, Prefix="dir/", Delimiter="/", Marker=v1["NextMarker"])
    eq(keys_of(v1) + prefixes_of(v1), ["dir/zz/"], "v1 after a prefix marker")
    v1_all = []
    for page in a.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 4}):
        v1_all += keys_of(page)
    eq(v1_all, sorted(page_keys + other), "v1 paginator")

    # Keys that need encoding: botocore asks for encoding-type=url and decodes by itself...
    odd = ["enc/with space.txt", "enc/ünïcödé/ファイル.txt", "enc/plus+sign", "enc/amp&lt<gt>'\"", "enc/tab\tand%percent",
           "enc/folder/", "enc//double", "enc/q?uestion=1&x#frag", "enc/~tilde;semi:colon@at$dollar,comma"]
    for key in odd:
        a.put_object(Bucket=bucket, Key=key, Body=key.encode())
        eq(body(a.get_object(Bucket=bucket, Key=key)), key.encode(), f"GET {key!r}")
    eq(keys_of(a.list_objects_v2(Bucket=bucket, Prefix="enc/")), sorted(odd, key=lambda k: k.encode()), "decoded keys (v2)")
    eq(keys_of(a.list_objects(Bucket=bucket, Prefix="enc/")), sorted(odd, key=lambda k: k.encode()), "decoded keys (v1)")
    eq(prefixes_of(a.list_objects_v2(Bucket=bucket, Prefix="enc/", Delimiter="/")), ["enc//", "enc/folder/", "enc/ünïcödé/"], "decoded prefixes")
    versions = a.list_object_versions(Bucket=bucket, Prefix="enc/")
    eq(sorted(v["Key"] for v in versions["Versions"]), sorted(odd), "decoded keys (versions)")
    # ...and when the caller asks for it, the keys come back encoded.
    explicit = a.list_objects_v2(Bucket=bucket, Prefix="enc/", EncodingType="url")
    eq(explicit.get("EncodingType"), "url", "EncodingType")
    encoded = keys_of(explicit)
    assert "enc/with space.txt" not in encoded, encoded
    eq([urllib.parse.unquote_plus(k) for k in encoded], sorted(odd, key=lambda k: k.encode()), "encoded keys")
    expect_error("InvalidArgument", 400, a.list_objects_v2, Bucket=bucket, EncodingType="bogus")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def multipart():
    bucket = "conf-multipart"
    a.create_bucket(Bucket=bucket)
    created = a.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="application/x-test", Metadata={"m": "1"})
    upload_id = created["UploadId"]
    eq(created["Key"], "mp", "Key")
    uploads = a.list_multipart_uploads(Bucket=bucket)["Uploads"]
    eq([(u["Key"], u["UploadId"]) for u in uploads], [("mp", upload_id)], "uploads")
    part1, part2 = data_of(5 * MIB, 3), data_of(300 * 1024 + 5, 4)
    e1 = a.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=part1)["ETag"]
    e2 = a.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=2, Body=part2)["ETag"]
    eq((e1, e2), (quoted_md5(part1), quoted_md5(part2)), "part ETags")
    parts = a.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]
    eq([(p["PartNumber"], p["Size"], p["ETag"]) for p in parts], [(1, len(part1), e1), (2, len(part2), e2)], "list_parts")
    page = a.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id, MaxParts=1)
    assert page["IsTruncated"] is True and page["NextPartNumberMarker"] == 1, page
    page = a.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumberMarker=1)
    eq([p["PartNumber"] for p in page["Parts"]], [2], "parts after the marker")
    done = a.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    expected_etag = '"%s-2"' % hashlib.md5(hashlib.md5(part1).digest() + hashlib.md5(part2).digest()).hexdigest()
    eq(done["ETag"], expected_etag, "multipart ETag")
    got = a.get_object(Bucket=bucket, Key="mp")
    eq(got["ETag"], expected_etag, "ETag on GET")
    eq(got["ContentType"], "application/x-test", "Content-Type from create")
    eq(got["Metadata"], {"m": "1"}, "metadata from create")
    eq(body(got), part1 + part2, "assembled bytes")
    eq(body(a.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MIB - 10}-{5 * MIB + 9}")),
       (part1 + part2)[5 * MIB - 10:5 * MIB + 10], "range across the part boundary")
    attributes = a.get_object_attributes(Bucket=bucket, Key="mp",
                                         ObjectAttributes=["ETag", "ObjectSize", "StorageClass", "ObjectParts"])
    eq(attributes["ETag"], expected_etag.strip('"'), "attributes: ETag")
    eq(attributes["ObjectSize"], len(part1) + len(part2), "attributes: ObjectSize")
    eq(attributes["StorageClass"], "STANDARD", "attributes: StorageClass")
    eq(attributes["ObjectParts"]["TotalPartsCount"], 2, "attributes: parts")
    expect_error("NotImplemented", 501, a.get_object_retention, Bucket=bucket, Key="mp")
    expect_error("NotImplemented", 501, a.get_object_legal_hold, Bucket=bucket, Key="mp")
    eq(a.list_multipart_uploads(Bucket=bucket).get("Uploads", []), [], "no uploads left")
    # Upload listings page.
    made = sorted((f"up-{i % 3}", a.create_multipart_upload(Bucket=bucket, Key=f"up-{i % 3}")["UploadId"]) for i in range(5))
    seen = []
    for page in a.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
    eq(sorted(seen), made, "upload pages")
    eq(len(seen), 5, "each upload once")
    eq([u["Key"] for u in a.list_multipart_uploads(Bucket=bucket, Prefix="up-1")["Uploads"]], ["up-1"] * 2, "upload prefix")
    for key, upload in made:
        a.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
    expect_error("NoSuchUpload", 404, a.list_parts, Bucket=bucket, Key="mp", UploadId=upload_id)

    # boto3's transfer manager (what aws-cli's `s3 cp` uses): parallel parts with CRC32
    # checksums, listed again on completion; ranged, parallel downloads.
    import tempfile
    from boto3.s3.transfer import TransferConfig
    transfer = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    big = data_of(12 * MIB + 3, 9)
    with tempfile.TemporaryDirectory() as tmp:
        source, target = f"{tmp}/up.bin", f"{tmp}/down.bin"
        with open(source, "wb") as f:
            f.write(big)
        a.upload_file(source, bucket, "transfer.bin", Config=transfer)
        head = a.head_object(Bucket=bucket, Key="transfer.bin", ChecksumMode="ENABLED")
        assert head["ETag"].endswith('-3"'), head["ETag"]
        eq(head.get("ChecksumType"), "COMPOSITE", "transfer manager upload checksum type")
        a.download_file(bucket, "transfer.bin", target, Config=transfer)
        with open(target, "rb") as f:
            eq(f.read(), big, "transfer manager round trip")

    # Abort.
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    a.upload_part(Bucket=bucket, Key="aborted", UploadId=upload_id, PartNumber=1, Body=b"some bytes")
    eq(a.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload_id)["ResponseMetadata"]["HTTPStatusCode"], 204, "abort")
    expect_error("NoSuchUpload", 404, a.list_parts, Bucket=bucket, Key="aborted", UploadId=upload_id)
    expect_error("NoSuchUpload", 404, a.upload_part, Bucket=bucket, Key="aborted", UploadId=upload_id, PartNumber=2, Body=b"x")
    expect_error("NoSuchUpload", 404, a.abort_multipart_upload, Bucket=bucket, Key="aborted", UploadId=upload_id)
    expect_error("NoSuchUpload", 404, a.complete_multipart_upload, Bucket=bucket, Key="aborted", UploadId=upload_id,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})
    eq(error_of(a.head_object, Bucket=bucket, Key="aborted"), ("404", 404), "no object from an aborted upload")

    # UploadPartCopy with ranges.
    whole = part1 + part2
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="mpcopy")["UploadId"]
    c1 = a.upload_part_copy(Bucket=bucket, Key="mpcopy", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "mp"}, CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    c2 = a.upload_part_copy(Bucket=bucket, Key="mpcopy", UploadId=upload_id, PartNumber=2,
                            CopySource={"Bucket": bucket, "Key": "mp"}, CopySourceRange=f"bytes={5 * MIB + 100}-{5 * MIB + 1099}")
    r1, r2 = whole[:5 * MIB], whole[5 * MIB + 100:5 * MIB + 1100]
    eq((c1["CopyPartResult"]["ETag"], c2["CopyPartResult"]["ETag"]), (quoted_md5(r1), quoted_md5(r2)), "copied part ETags")
    done = a.complete_multipart_upload(Bucket=bucket, Key="mpcopy", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": c1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": c2["CopyPartResult"]["ETag"]}]})
    eq(done["ETag"], '"%s-2"' % hashlib.md5(hashlib.md5(r1).digest() + hashlib.md5(r2).digest()).hexdigest(), "copy ETag")
    eq(body(a.get_object(Bucket=bucket, Key="mpcopy")), r1 + r2, "bytes of the part copies")

    # Completion errors.
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="bad")["UploadId"]
    s1 = a.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=1, Body=b"a" * 1024)["ETag"]
    s2 = a.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=2, Body=b"b" * 1024)["ETag"]
    expect_error("InvalidPartOrder", 400, a.complete_multipart_upload, Bucket=bucket, Key="bad", UploadId=upload_id,
                 MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": s2}, {"PartNumber": 1, "ETag": s1}]})
    expect_error("EntityTooSmall", 400, a.complete_multipart_upload, Bucket=bucket, Key="bad", UploadId=upload_id,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": s1}, {"PartNumber": 2, "ETag": s2}]})
    expect_error("InvalidPart", 400, a.complete_multipart_upload, Bucket=bucket, Key="bad", UploadId=upload_id,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]})
    expect_error("InvalidPart", 400, a.complete_multipart_upload, Bucket=bucket, Key="bad", UploadId=upload_id,
                 MultipartUpload={"Parts": [{"PartNumber": 3, "ETag": s1}]})
    expect_error("InvalidArgument", 400, a.upload_part, Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=10001, Body=b"x")
    # A single small part is a valid (last) part.
    done = a.complete_multipart_upload(Bucket=bucket, Key="bad", UploadId=upload_id,
                                       MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": s2}]})
    eq(body(a.get_object(Bucket=bucket, Key="bad")), b"b" * 1024, "one-part upload")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


class _HttpsLooking:
    """Make botocore choose what it sends over TLS (checksum trailers, aws-chunked) on our
    plain-HTTP endpoint: the bytes on the wire are botocore's own encoder's."""

    def __init__(self):
        self.original = botocore.httpchecksum.urlparse

    def __enter__(self):
        original = self.original

        def urlparse(url, *args, **kwargs):
            return original(url.replace("http://", "https://", 1), *args, **kwargs)

        botocore.httpchecksum.urlparse = urlparse

    def __exit__(self, *exc):
        botocore.httpchecksum.urlparse = self.original


@section
def checksums():
    bucket = "conf-checksums"
    a.create_bucket(Bucket=bucket)
    data = data_of(600 * 1024, 5)
    sha256 = b64(hashlib.sha256(data).digest())
    sha1 = b64(hashlib.sha1(data).digest())
    crc = crc32_b64(data)
    put = a.put_object(Bucket=bucket, Key="crc", Body=data, ChecksumAlgorithm="CRC32")
    eq(put.get("ChecksumCRC32"), crc, "CRC32 on PUT")
    eq(put.get("ChecksumType"), "FULL_OBJECT", "ChecksumType on PUT")
    got = a.get_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    eq(got.get("ChecksumCRC32"), crc, "CRC32 on GET")
    eq(body(got), data, "bytes")
    put = a.put_object(Bucket=bucket, Key="sha", Body=data, ChecksumAlgorithm="SHA256")
    eq(put.get("ChecksumSHA256"), sha256, "SHA256 on PUT")
    got = a.get_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")
    eq(got.get("ChecksumSHA256"), sha256, "SHA256 on GET")
    eq(body(got), data, "bytes")
    eq(a.head_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED").get("ChecksumSHA256"), sha256, "SHA256 on HEAD")
    put = a.put_object(Bucket=bucket, Key="sha1", Body=data, ChecksumSHA1=sha1)
    eq(put.get("ChecksumSHA1"), sha1, "SHA1 given by value")
    # A range is not the object: the full-object checksum must not come with it (botocore
    # would check the range against it).
    got = a.get_object(Bucket=bucket, Key="sha", Range="bytes=10-19", ChecksumMode="ENABLED")
    eq(body(got), data[10:20], "range of a checksummed object")
    assert "ChecksumSHA256" not in got, got.get("ChecksumSHA256")

    # aws-chunked bodies with a trailing checksum, as botocore sends them over TLS.
    big = data_of(2 * MIB + 12345, 6)
    with _HttpsLooking():
        for algorithm, expected in (("CRC32", crc32_b64(big)), ("SHA256", b64(hashlib.sha256(big).digest()))):
            key = f"trailer-{algorithm}"
            put = a.put_object(Bucket=bucket, Key=key, Body=io.BytesIO(big), ChecksumAlgorithm=algorithm)
            eq(put.get(f"Checksum{algorithm}"), expected, f"{algorithm} trailer on PUT")
            got = a.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
            eq(got.get(f"Checksum{algorithm}"), expected, f"{algorithm} after a trailer upload")
            eq(body(got), big, f"aws-chunked bytes ({algorithm})")
            eq(got["ContentLength"], len(big), "decoded length")
            eq(got["ETag"], quoted_md5(big), "ETag of the decoded bytes")
        upload_id = a.create_multipart_upload(Bucket=bucket, Key="trailer-mp", ChecksumAlgorithm="CRC32")["UploadId"]
        p1 = a.upload_part(Bucket=bucket, Key="trailer-mp", UploadId=upload_id, PartNumber=1, Body=io.BytesIO(big * 3),
                           ChecksumAlgorithm="CRC32")
        eq(p1.get("ChecksumCRC32"), crc32_b64(big * 3), "part checksum from a trailer")
        p2 = a.upload_part(Bucket=bucket, Key="trailer-mp", UploadId=upload_id, PartNumber=2, Body=io.BytesIO(b"tail"),
                           ChecksumAlgorithm="CRC32")
        parts = [{"PartNumber": 1, "ETag": p1["ETag"], "ChecksumCRC32": p1["ChecksumCRC32"]},
                 {"PartNumber": 2, "ETag": p2["ETag"], "ChecksumCRC32": p2["ChecksumCRC32"]}]
        wrong = [dict(parts[0], ChecksumCRC32=crc32_b64(b"not the part")), parts[1]]
        expect_error("InvalidPart", 400, a.complete_multipart_upload, Bucket=bucket, Key="trailer-mp", UploadId=upload_id,
                     MultipartUpload={"Parts": wrong})
        expect_error("InvalidRequest", 400, a.upload_part, Bucket=bucket, Key="trailer-mp", UploadId=upload_id,
                     PartNumber=3, Body=b"x", ChecksumAlgorithm="SHA256")
        done = a.complete_multipart_upload(Bucket=bucket, Key="trailer-mp", UploadId=upload_id,
                                           MultipartUpload={"Parts": parts})
    composite = b64(zlib.crc32(base64.b64decode(p1["ChecksumCRC32"]) + base64.b64decode(p2["ChecksumCRC32"])).to_bytes(4, "big")) + "-2"
    eq(done.get("ChecksumCRC32"), composite, "composite checksum on completion")
    eq(done.get("ChecksumType"), "COMPOSITE", "ChecksumType on completion")
    got = a.get_object(Bucket=bucket, Key="trailer-mp", ChecksumMode="ENABLED")
    eq(got.get("ChecksumCRC32"), composite, "composite checksum on GET")
    eq(got.get("ChecksumType"), "COMPOSITE", "ChecksumType on GET")
    eq(body(got), big * 3 + b"tail", "multipart of aws-chunked parts")
    # Parts sent without a checksum get the upload's algorithm computed for them.
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="sha-mp", ChecksumAlgorithm="SHA256")["UploadId"]
    eq(a.list_parts(Bucket=bucket, Key="sha-mp", UploadId=upload_id).get("ChecksumAlgorithm"), "SHA256", "upload algorithm")
    part = a.upload_part(Bucket=bucket, Key="sha-mp", UploadId=upload_id, PartNumber=1, Body=b"abc", ChecksumAlgorithm="SHA256")
    eq(part.get("ChecksumSHA256"), b64(hashlib.sha256(b"abc").digest()), "part SHA256")
    listed = a.list_parts(Bucket=bucket, Key="sha-mp", UploadId=upload_id)["Parts"]
    eq(listed[0].get("ChecksumSHA256"), part["ChecksumSHA256"], "part checksum listed")
    copied = a.upload_part_copy(Bucket=bucket, Key="sha-mp", UploadId=upload_id, PartNumber=2,
                                CopySource={"Bucket": bucket, "Key": "sha"}, CopySourceRange="bytes=0-99")
    eq(copied["CopyPartResult"].get("ChecksumSHA256"), b64(hashlib.sha256(data[:100]).digest()), "part copy SHA256")
    part = dict(part, ETag=a.upload_part(Bucket=bucket, Key="sha-mp", UploadId=upload_id, PartNumber=1,
                                         Body=b"a" * (5 * MIB), ChecksumAlgorithm="SHA256")["ETag"])
    done = a.complete_multipart_upload(Bucket=bucket, Key="sha-mp", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}, {"PartNumber": 2, "ETag": copied["CopyPartResult"]["ETag"]}]})
    raw_parts = hashlib.sha256(b"a" * (5 * MIB)).digest() + hashlib.sha256(data[:100]).digest()
    eq(done.get("ChecksumSHA256"), b64(hashlib.sha256(raw_parts).digest()) + "-2", "composite SHA256")
    status, _, text = raw("POST", f"/{bucket}/bad-alg?uploads", headers={"x-amz-checksum-algorithm": "MD5"})
    eq((status, xml_code(text)), (400, "InvalidRequest"), "unknown checksum algorithm")

    wrong_md5 = b64(hashlib.md5(b"something else").digest())
    expect_error("BadDigest", 400, a.put_object, Bucket=bucket, Key="bad-md5", Body=b"payload", ContentMD5=wrong_md5)
    expect_error("InvalidDigest", 400, a.put_object, Bucket=bucket, Key="bad-md5", Body=b"payload", ContentMD5="notbase64md5")
    expect_error("BadDigest", 400, a.put_object, Bucket=bucket, Key="bad-sha", Body=b"payload",
                 ChecksumSHA256=b64(hashlib.sha256(b"other").digest()))
    eq(error_of(a.head_object, Bucket=bucket, Key="bad-md5"), ("404", 404), "a refused body stores nothing")
    ok = a.put_object(Bucket=bucket, Key="good-md5", Body=b"payload", ContentMD5=b64(hashlib.md5(b"payload").digest()))
    eq(ok["ETag"], quoted_md5(b"payload"), "matching Content-MD5")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def part_numbers():
    """GetObject/HeadObject with partNumber: exactly one part of a multipart object."""
    bucket = "conf-part-numbers"
    a.create_bucket(Bucket=bucket)
    parts = [data_of(5 * MIB, 21), data_of(5 * MIB + 7, 22), data_of(1234, 23)]
    whole = b"".join(parts)
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etags = [a.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=p)["ETag"]
             for n, p in enumerate(parts, 1)]
    done = a.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    a.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket, "Key": "mp"})
    for key in ("mp", "mp-copy"):
        start = 0
        for n, part in enumerate(parts, 1):
            content_range = f"bytes {start}-{start + len(part) - 1}/{len(whole)}"
            got = a.get_object(Bucket=bucket, Key=key, PartNumber=n)
            eq(got["ResponseMetadata"]["HTTPStatusCode"], 206, f"{key} part {n}: status")
            eq(got["ContentLength"], len(part), f"{key} part {n}: Content-Length")
            eq(got.get("ContentRange"), content_range, f"{key} part {n}: Content-Range")
            eq(got.get("PartsCount"), 3, f"{key} part {n}: PartsCount")
            eq(got["ETag"], done["ETag"], f"{key} part {n}: ETag of the whole object")
            eq(body(got), part, f"{key} part {n}: bytes")
            head = a.head_object(Bucket=bucket, Key=key, PartNumber=n)
            eq(head["ResponseMetadata"]["HTTPStatusCode"], 206, f"{key} HEAD part {n}: status")
            eq(head["ContentLength"], len(part), f"{key} HEAD part {n}: Content-Length")
            eq(head.get("ContentRange"), content_range, f"{key} HEAD part {n}: Content-Range")
            eq(head.get("PartsCount"), 3, f"{key} HEAD part {n}: PartsCount")
            start += len(part)
    expect_error("InvalidPartNumber", 416, a.get_object, Bucket=bucket, Key="mp", PartNumber=4)
    eq(error_of(a.head_object, Bucket=bucket, Key="mp", PartNumber=4), ("416", 416), "HEAD of a missing part")
    expect_error("InvalidArgument", 400, a.get_object, Bucket=bucket, Key="mp", PartNumber=10001)
    expect_error("InvalidRequest", 400, a.get_object, Bucket=bucket, Key="mp", PartNumber=1, Range="bytes=0-9")
    # An object written in one piece is its own part 1.
    a.put_object(Bucket=bucket, Key="single", Body=b"0123456789")
    got = a.get_object(Bucket=bucket, Key="single", PartNumber=1)
    eq(got["ContentLength"], 10, "single part: Content-Length")
    eq(got.get("ContentRange"), "bytes 0-9/10", "single part: Content-Range")
    assert "PartsCount" not in got, got.get("PartsCount")
    eq(body(got), b"0123456789", "single part: bytes")
    eq(a.head_object(Bucket=bucket, Key="single", PartNumber=1)["ContentLength"], 10, "single part: HEAD")
    expect_error("InvalidPartNumber", 416, a.get_object, Bucket=bucket, Key="single", PartNumber=2)
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


def _crc64nvme_table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x9A6C9329AC4BC9B5 if crc & 1 else crc >> 1
        table.append(crc)
    return table


CRC64NVME_TABLE = _crc64nvme_table()


def crc64nvme(data, crc=0):
    """CRC-64/NVME of data, continuing from crc (the CRC of what came before), like zlib.crc32."""
    table, mask = CRC64NVME_TABLE, 0xFFFFFFFFFFFFFFFF
    crc ^= mask
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


@section
def full_object_checksums():
    """x-amz-checksum-type: FULL_OBJECT multipart uploads: the CRC of the whole object."""
    bucket = "conf-full-object"
    a.create_bucket(Bucket=bucket)
    parts = [data_of(5 * MIB, 31), data_of(5 * MIB + 11, 32), data_of(4321, 33)]
    whole = b"".join(parts)
    full = crc32_b64(whole)
    created = a.create_multipart_upload(Bucket=bucket, Key="crc32", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    eq(created.get("ChecksumType"), "FULL_OBJECT", "ChecksumType on create")
    eq(created.get("ChecksumAlgorithm"), "CRC32", "ChecksumAlgorithm on create")
    upload_id = created["UploadId"]
    uploaded = [a.upload_part(Bucket=bucket, Key="crc32", UploadId=upload_id, PartNumber=n, Body=p, ChecksumAlgorithm="CRC32")
                for n, p in enumerate(parts, 1)]
    eq([u.get("ChecksumCRC32") for u in uploaded], [crc32_b64(p) for p in parts], "part CRC32s")
    listed = a.list_parts(Bucket=bucket, Key="crc32", UploadId=upload_id)
    eq(listed.get("ChecksumType"), "FULL_OBJECT", "ChecksumType listed")
    completed = [{"PartNumber": n, "ETag": u["ETag"], "ChecksumCRC32": u["ChecksumCRC32"]} for n, u in enumerate(uploaded, 1)]
    expect_error("BadDigest", 400, a.complete_multipart_upload, Bucket=bucket, Key="crc32", UploadId=upload_id,
                 MultipartUpload={"Parts": completed}, ChecksumCRC32=crc32_b64(b"not the object"), ChecksumType="FULL_OBJECT")
    expect_error("BadDigest", 400, a.complete_multipart_upload, Bucket=bucket, Key="crc32", UploadId=upload_id,
                 MultipartUpload={"Parts": completed}, ChecksumType="COMPOSITE")
    expect_error("InvalidRequest", 400, a.complete_multipart_upload, Bucket=bucket, Key="crc32", UploadId=upload_id,
                 MultipartUpload={"Parts": completed}, MpuObjectSize=len(whole) + 1)
    done = a.complete_multipart_upload(Bucket=bucket, Key="crc32", UploadId=upload_id, MultipartUpload={"Parts": completed},
                                       ChecksumCRC32=full, ChecksumType="FULL_OBJECT", MpuObjectSize=len(whole))
    eq(done.get("ChecksumCRC32"), full, "full-object CRC32 on completion")
    eq(done.get("ChecksumType"), "FULL_OBJECT", "ChecksumType on completion")
    head = a.head_object(Bucket=bucket, Key="crc32", ChecksumMode="ENABLED")
    eq(head.get("ChecksumCRC32"), full, "full-object CRC32 on HEAD")
    eq(head.get("ChecksumType"), "FULL_OBJECT", "ChecksumType on HEAD")
    assert head["ETag"].endswith('-3"'), head["ETag"]
    # botocore checks the bytes it receives against a full-object checksum.
    got = a.get_object(Bucket=bucket, Key="crc32", ChecksumMode="ENABLED")
    eq(got.get("ChecksumCRC32"), full, "full-object CRC32 on GET")
    eq(got.get("ChecksumType"), "FULL_OBJECT", "ChecksumType on GET")
    eq(body(got), whole, "bytes")
    attributes = a.get_object_attributes(Bucket=bucket, Key="crc32", ObjectAttributes=["Checksum"])
    eq(attributes["Checksum"].get("ChecksumType"), "FULL_OBJECT", "attributes: ChecksumType")
    # Without a full checksum on completion, the computed one is stored.
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="crc32-unchecked", ChecksumAlgorithm="CRC32",
                                          ChecksumType="FULL_OBJECT")["UploadId"]
    part = a.upload_part(Bucket=bucket, Key="crc32-unchecked", UploadId=upload_id, PartNumber=1, Body=parts[2],
                         ChecksumAlgorithm="CRC32")
    done = a.complete_multipart_upload(Bucket=bucket, Key="crc32-unchecked", UploadId=upload_id,
                                       MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    eq(done.get("ChecksumCRC32"), crc32_b64(parts[2]), "computed full-object CRC32")

    # CRC64NVME (botocore computes it only with awscrt: the values are given here).
    eq(crc64nvme(b"123456789"), 0xAE8B14860A799888, "CRC-64/NVME check value")
    nvme_parts = [parts[0], parts[2]]
    part_crcs = [crc64nvme(p) for p in nvme_parts]
    full_nvme = b64(crc64nvme(nvme_parts[1], part_crcs[0]).to_bytes(8, "big"))
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="nvme", ChecksumAlgorithm="CRC64NVME",
                                          ChecksumType="FULL_OBJECT")["UploadId"]
    completed = []
    for n, (p, crc) in enumerate(zip(nvme_parts, part_crcs), 1):
        value = b64(crc.to_bytes(8, "big"))
        etag = a.upload_part(Bucket=bucket, Key="nvme", UploadId=upload_id, PartNumber=n, Body=p, ChecksumCRC64NVME=value)["ETag"]
        completed.append({"PartNumber": n, "ETag": etag, "ChecksumCRC64NVME": value})
    expect_error("BadDigest", 400, a.complete_multipart_upload, Bucket=bucket, Key="nvme", UploadId=upload_id,
                 MultipartUpload={"Parts": completed}, ChecksumCRC64NVME=b64(bytes(8)))
    done = a.complete_multipart_upload(Bucket=bucket, Key="nvme", UploadId=upload_id, MultipartUpload={"Parts": completed},
                                       ChecksumCRC64NVME=full_nvme)
    eq(done.get("ChecksumCRC64NVME"), full_nvme, "full-object CRC64NVME on completion")
    head = a.head_object(Bucket=bucket, Key="nvme", ChecksumMode="ENABLED")
    eq((head.get("ChecksumCRC64NVME"), head.get("ChecksumType")), (full_nvme, "FULL_OBJECT"), "CRC64NVME on HEAD")

    # FULL_OBJECT needs a CRC, and an algorithm.
    for algorithm in ("SHA1", "SHA256"):
        expect_error("InvalidRequest", 400, a.create_multipart_upload, Bucket=bucket, Key="sha",
                     ChecksumAlgorithm=algorithm, ChecksumType="FULL_OBJECT")
    expect_error("InvalidRequest", 400, a.create_multipart_upload, Bucket=bucket, Key="none", ChecksumType="FULL_OBJECT")
    # COMPOSITE asked for by name is what an upload with an algorithm gets anyway.
    created = a.create_multipart_upload(Bucket=bucket, Key="composite", ChecksumAlgorithm="CRC32", ChecksumType="COMPOSITE")
    eq(created.get("ChecksumType"), "COMPOSITE", "COMPOSITE on create")
    part = a.upload_part(Bucket=bucket, Key="composite", UploadId=created["UploadId"], PartNumber=1, Body=b"abc",
                         ChecksumAlgorithm="CRC32")
    done = a.complete_multipart_upload(Bucket=bucket, Key="composite", UploadId=created["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}]})
    eq(done.get("ChecksumCRC32"), b64(zlib.crc32(base64.b64decode(part["ChecksumCRC32"])).to_bytes(4, "big")) + "-1",
       "composite checksum")
    eq(done.get("ChecksumType"), "COMPOSITE", "COMPOSITE on completion")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def presigned():
    bucket = "conf-presigned"
    a.create_bucket(Bucket=bucket)
    data = data_of(300 * 1024, 7)
    a.put_object(Bucket=bucket, Key="dl file.bin", Body=data)
    url = a.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dl file.bin"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url, url
    with urllib.request.urlopen(url) as response:
        eq(response.status, 200, "presigned GET")
        eq(response.read(), data, "presigned GET bytes")
    put_url = a.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "ul.bin"}, ExpiresIn=300)
    uploaded = data_of(1000, 8)
    request = urllib.request.Request(put_url, data=uploaded, method="PUT")
    with urllib.request.urlopen(request) as response:
        eq(response.status, 200, "presigned PUT")
    eq(body(a.get_object(Bucket=bucket, Key="ul.bin")), uploaded, "presigned PUT bytes")
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Signature"][0]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    tampered = url.replace(signature, flipped)
    status, _, text = raw("GET", tampered[len(endpoint):], sign=False)
    eq(status, 403, "tampered presigned URL")
    eq(xml_code(text), "SignatureDoesNotMatch", "tampered presigned URL code")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def terraform_subresources():
    bucket = "conf-terraform"
    a.create_bucket(Bucket=bucket)
    for call, code in [
        (a.get_bucket_policy, "NoSuchBucketPolicy"),
        (a.get_bucket_cors, "NoSuchCORSConfiguration"),
        (a.get_bucket_website, "NoSuchWebsiteConfiguration"),
        (a.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration"),
        (a.get_bucket_replication, "ReplicationConfigurationNotFoundError"),
        (a.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError"),
        (a.get_object_lock_configuration, "ObjectLockConfigurationNotFoundError"),
        (a.get_bucket_ownership_controls, "OwnershipControlsNotFoundError"),
        (a.get_public_access_block, "NoSuchPublicAccessBlockConfiguration"),
        (a.get_bucket_tagging, "NoSuchTagSet"),
    ]:
        expect_error(code, 404, call, Bucket=bucket)
    acl = a.get_bucket_acl(Bucket=bucket)
    assert acl["Owner"]["ID"], acl
    eq([g["Permission"] for g in acl["Grants"]], ["FULL_CONTROL"], "ACL grants")
    eq(acl["Grants"][0]["Grantee"]["ID"], acl["Owner"]["ID"], "the owner is the grantee")
    accelerate = a.get_bucket_accelerate_configuration(Bucket=bucket)
    assert "Status" not in accelerate, accelerate
    eq(a.get_bucket_request_payment(Bucket=bucket)["Payer"], "BucketOwner", "Payer")
    logging = a.get_bucket_logging(Bucket=bucket)
    assert "LoggingEnabled" not in logging, logging
    eq(a.get_bucket_versioning(Bucket=bucket).get("Status"), None, "versioning never enabled")
    # The provider's requests, as the Go SDK sends them (x-id is harmless).
    status, _, text = raw("PUT", f"/{bucket}/tf.txt?x-id=PutObject", data=b"from terraform",
                          headers={"Content-Type": "text/plain"})
    eq(status, 200, f"PutObject with x-id: {text!r}")
    status, _, _ = raw("HEAD", f"/{bucket}/tf.txt")
    eq(status, 200, "HEAD")
    status, _, _ = raw("DELETE", f"/{bucket}/tf.txt?x-id=DeleteObject")
    eq(status, 204, "DeleteObject with x-id")
    # Deleting configurations Kumo does not keep succeeds.
    for call in (a.delete_bucket_policy, a.delete_bucket_cors, a.delete_bucket_website,
                 a.delete_bucket_lifecycle, a.delete_bucket_encryption):
        eq(call(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"], 204, call.__name__)
    a.delete_bucket(Bucket=bucket)
    for call, code in [(a.get_bucket_policy, "NoSuchBucket"), (a.get_bucket_acl, "NoSuchBucket")]:
        expect_error(code, 404, call, Bucket=bucket)


@section
def isolation():
    bucket = "conf-isolation-a"
    a.create_bucket(Bucket=bucket)
    a.put_object(Bucket=bucket, Key="secret", Body=b"for A only")
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    denied = [
        (b.get_object, {"Key": "secret"}),
        (b.list_objects_v2, {}),
        (b.list_objects, {}),
        (b.list_object_versions, {}),
        (b.delete_object, {"Key": "secret"}),
        (b.put_object, {"Key": "planted", "Body": b"x"}),
        (b.delete_bucket, {}),
        (b.get_bucket_versioning, {}),
        (b.put_bucket_versioning, {"VersioningConfiguration": {"Status": "Enabled"}}),
        (b.get_bucket_location, {}),
        (b.get_bucket_tagging, {}),
        (b.put_bucket_tagging, {"Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]}}),
        (b.get_object_tagging, {"Key": "secret"}),
        (b.put_object_tagging, {"Key": "secret", "Tagging": {"TagSet": []}}),
        (b.delete_objects, {"Delete": {"Objects": [{"Key": "secret"}]}}),
        (b.create_multipart_upload, {"Key": "mp2"}),
        (b.list_multipart_uploads, {}),
        (b.list_parts, {"Key": "mp", "UploadId": upload_id}),
        (b.upload_part, {"Key": "mp", "UploadId": upload_id, "PartNumber": 1, "Body": b"x"}),
        (b.abort_multipart_upload, {"Key": "mp", "UploadId": upload_id}),
        (b.get_bucket_policy, {}),
        (b.get_bucket_acl, {}),
    ]
    for call, args in denied:
        expect_error("AccessDenied", 403, call, Bucket=bucket, **args)
    eq(error_of(b.head_bucket, Bucket=bucket), ("403", 403), "B heads A's bucket")
    eq(error_of(b.head_object, Bucket=bucket, Key="secret"), ("403", 403), "B heads A's object")
    # Copies out of A's bucket into B's own are refused too.
    b.create_bucket(Bucket="conf-isolation-b")
    expect_error("AccessDenied", 403, b.copy_object, Bucket="conf-isolation-b", Key="stolen",
                 CopySource={"Bucket": bucket, "Key": "secret"})
    b_upload = b.create_multipart_upload(Bucket="conf-isolation-b", Key="mp")["UploadId"]
    expect_error("AccessDenied", 403, b.upload_part_copy, Bucket="conf-isolation-b", Key="mp", UploadId=b_upload,
                 PartNumber=1, CopySource={"Bucket": bucket, "Key": "secret"})
    # A cannot use its own upload id under B's bucket, nor B's under A's.
    expect_error("AccessDenied", 403, a.upload_part, Bucket="conf-isolation-b", Key="mp", UploadId=b_upload, PartNumber=1, Body=b"x")
    expect_error("NoSuchUpload", 404, a.upload_part, Bucket=bucket, Key="mp", UploadId=b_upload, PartNumber=1, Body=b"x")
    # Bucket names are global.
    expect_error("BucketAlreadyExists", 409, b.create_bucket, Bucket=bucket)
    expect_error("BucketAlreadyOwnedByYou", 409, a.create_bucket, Bucket=bucket)
    assert bucket not in [x["Name"] for x in b.list_buckets()["Buckets"]]
    eq([x["Name"] for x in b.list_buckets()["Buckets"]], ["conf-isolation-b"], "B's buckets")
    # Nothing B tried changed A's data.
    eq(body(a.get_object(Bucket=bucket, Key="secret")), b"for A only", "A's object intact")
    eq(keys_of(a.list_objects_v2(Bucket=bucket)), ["secret"], "A's listing")
    eq([u["UploadId"] for u in a.list_multipart_uploads(Bucket=bucket)["Uploads"]], [upload_id], "A's upload intact")
    eq(a.list_object_versions(Bucket=bucket).get("DeleteMarkers", []), [], "no delete markers")
    b.abort_multipart_upload(Bucket="conf-isolation-b", Key="mp", UploadId=b_upload)
    b.delete_bucket(Bucket="conf-isolation-b")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def reader_role():
    bucket = "conf-reader"
    a.create_bucket(Bucket=bucket)
    a.put_object(Bucket=bucket, Key="doc", Body=b"readable")
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    # A reader of the account reads...
    eq(body(reader.get_object(Bucket=bucket, Key="doc")), b"readable", "reader GET")
    eq(keys_of(reader.list_objects_v2(Bucket=bucket)), ["doc"], "reader listing")
    reader.head_bucket(Bucket=bucket)
    assert bucket in [x["Name"] for x in reader.list_buckets()["Buckets"]]
    # ...and changes nothing.
    for call, args in [
        (reader.put_object, {"Key": "new", "Body": b"x"}),
        (reader.delete_object, {"Key": "doc"}),
        (reader.delete_objects, {"Delete": {"Objects": [{"Key": "doc"}]}}),
        (reader.copy_object, {"Key": "copy", "CopySource": {"Bucket": bucket, "Key": "doc"}}),
        (reader.put_object_tagging, {"Key": "doc", "Tagging": {"TagSet": []}}),
        (reader.delete_object_tagging, {"Key": "doc"}),
        (reader.put_bucket_tagging, {"Tagging": {"TagSet": []}}),
        (reader.delete_bucket_tagging, {}),
        (reader.put_bucket_versioning, {"VersioningConfiguration": {"Status": "Enabled"}}),
        (reader.create_multipart_upload, {"Key": "mp2"}),
        (reader.upload_part, {"Key": "mp", "UploadId": upload_id, "PartNumber": 1, "Body": b"x"}),
        (reader.abort_multipart_upload, {"Key": "mp", "UploadId": upload_id}),
        (reader.complete_multipart_upload, {"Key": "mp", "UploadId": upload_id,
                                            "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}}),
        (reader.delete_bucket, {}),
        (reader.delete_bucket_policy, {}),
    ]:
        expect_error("AccessDenied", 403, call, Bucket=bucket, **args)
    expect_error("AccessDenied", 403, reader.create_bucket, Bucket="conf-reader-new")
    eq(keys_of(a.list_objects_v2(Bucket=bucket)), ["doc"], "unchanged")
    a.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def bad_input():
    bucket = "conf-bad-input"
    a.create_bucket(Bucket=bucket)
    for name in ["ab", "Upper-Case", "bad_name", "-start", "end-", "192.168.5.4", "a..b", "a.-b", "x" * 64,
                 "xn--punycode", "name-s3alias"]:
        eq(error_of(a.create_bucket, Bucket=name), ("InvalidBucketName", 400), f"bucket name {name!r}")
    a.create_bucket(Bucket="a" * 63)
    a.delete_bucket(Bucket="a" * 63)
    expect_error("KeyTooLongError", 400, a.put_object, Bucket=bucket, Key="k" * 1025, Body=b"x")
    a.put_object(Bucket=bucket, Key="k" * 1024, Body=b"x")
    eq(body(a.get_object(Bucket=bucket, Key="k" * 1024)), b"x", "a 1024-byte key")
    expect_error("KeyTooLongError", 400, a.create_multipart_upload, Bucket=bucket, Key="é" * 513)
    # Wrong credentials.
    expect_error("SignatureDoesNotMatch", 403, client(key_a, "wrong" + secret_a[5:]).list_buckets)
    expect_error("InvalidAccessKeyId", 403, client("AKIAUNKNOWNKEY000000", secret_a).list_buckets)

    # Anonymous requests: S3's AccessDenied XML.
    for method, path in [("GET", f"/{bucket}/{'k' * 1024}"), ("GET", f"/{bucket}"), ("PUT", "/anon-bucket"),
                         ("DELETE", f"/{bucket}"), ("POST", f"/{bucket}?delete")]:
        status, headers, text = raw(method, path, sign=False)
        eq(status, 403, f"anonymous {method} {path}")
        eq(xml_code(text), "AccessDenied", f"anonymous {method} {path} code")
        assert "xml" in headers.get("Content-Type", ""), headers.get("Content-Type")
    eq(error_of(b.head_bucket, Bucket="anon-bucket"), ("404", 404), "no bucket was made anonymously")

    # Malformed XML documents.
    a.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "keep", "Value": "me"}]})
    a.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    a.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"part")
    malformed = [
        ("PUT", f"/{bucket}?versioning", b"<VersioningConfiguration><Status>"),
        ("PUT", f"/{bucket}?versioning", b"not xml at all"),
        ("PUT", f"/{bucket}?versioning", b"<VersioningConfiguration><Status>Suspended</Status>"),
        ("PUT", f"/{bucket}?tagging", b"not xml"),
        ("PUT", f"/{bucket}?tagging", b"<Tagging><TagSet><Tag><Key>a</Key>"),
        ("PUT", f"/{bucket}?tagging", b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet>"),
        ("PUT", f"/{bucket}/mp?tagging", b"<Tagging><TagSet><Tag><Key>a</Tag></TagSet></Tagging>"),
        ("POST", f"/{bucket}?delete", b"<Delete><Object><Key>a</Key>"),
        ("POST", f"/{bucket}?delete", b"<Delete></Delete>"),
        ("POST", f"/{bucket}?delete", b"garbage"),
        ("POST", f"/{bucket}/mp?uploadId={upload_id}", b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"),
        ("POST", f"/{bucket}/mp?uploadId={upload_id}", b"<CompleteMultipartUpload></CompleteMultipartUpload>"),
        ("POST", f"/{bucket}/mp?uploadId={upload_id}", b"{}"),
        ("PUT", "/conf-bad-xml", b"<CreateBucketConfiguration><LocationConstraint>"),
    ]
    for method, path, document in malformed:
        md5 = b64(hashlib.md5(document).digest())
        status, _, text = raw(method, path, data=document, headers={"Content-MD5": md5})
        eq((status, xml_code(text)), (400, "MalformedXML"), f"{method} {path} {document!r}")
    eq(a.get_bucket_tagging(Bucket=bucket)["TagSet"], [{"Key": "keep", "Value": "me"}], "tags survive bad documents")
    eq(a.get_bucket_versioning(Bucket=bucket).get("Status"), "Enabled", "versioning survives bad documents")
    eq(error_of(a.head_bucket, Bucket="conf-bad-xml"), ("404", 404), "no bucket from a bad document")
    eq([p["PartNumber"] for p in a.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]], [1], "upload intact")
    # Refusals of big bodies sent without `Expect: 100-continue` still reach the client
    # (the server reads what it does not store rather than resetting the connection).
    big = data_of(24 * MIB, 11)
    for creds, path, code, status in [((key_a, secret_a), "/conf-no-such-bucket/big", "NoSuchBucket", 404),
                                      ((key_b, secret_b), f"/{bucket}/big", "AccessDenied", 403),
                                      ((key_a, secret_a), f"/{bucket}/{'k' * 1100}", "KeyTooLongError", 400),
                                      ((key_a, "wrong" + secret_a[5:]), f"/{bucket}/big", "SignatureDoesNotMatch", 403),
                                      (("AKIAUNKNOWNKEY000000", secret_a), f"/{bucket}/big", "InvalidAccessKeyId", 403),
                                      (None, f"/{bucket}/big", "AccessDenied", 403)]:
        got, _, text = raw("PUT", path, data=big, creds=creds, sign=creds is not None)
        eq((got, xml_code(text)), (status, code), f"big body refused: {code}")
    # Bad query values.
    status, _, text = raw("GET", f"/{bucket}?list-type=2&max-keys=abc")
    eq((status, xml_code(text)), (400, "InvalidArgument"), "max-keys=abc")
    status, _, text = raw("PUT", f"/{bucket}/mp?partNumber=0&uploadId={upload_id}", data=b"x")
    eq((status, xml_code(text)), (400, "InvalidArgument"), "partNumber=0")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


@section
def refusals():
    """What Kumo lacks is refused, as botocore sends it: nothing is stored or created."""
    bucket = "conf-refusals"
    a.create_bucket(Bucket=bucket)
    sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": "k" * 32}
    expect_error("NotImplemented", 501, a.put_object, Bucket=bucket, Key="secret", Body=b"plain", **sse_c)
    expect_error("NoSuchKey", 404, a.get_object, Bucket=bucket, Key="secret")
    for extra in ({"ServerSideEncryption": "AES256"}, {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "k"},
                  {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": "2099-01-01T00:00:00Z"},
                  {"ObjectLockLegalHoldStatus": "ON"}, {"ACL": "public-read"}, {"GrantRead": "id=x"},
                  {"StorageClass": "GLACIER"}, {"WebsiteRedirectLocation": "/x"}):
        expect_error("NotImplemented", 501, a.put_object, Bucket=bucket, Key="refused", Body=b"x", **extra)
        expect_error("NotImplemented", 501, a.create_multipart_upload, Bucket=bucket, Key="refused", **extra)
    a.put_object(Bucket=bucket, Key="src", Body=b"x")
    expect_error("NotImplemented", 501, a.get_object, Bucket=bucket, Key="src", **sse_c)
    expect_error("NotImplemented", 501, a.copy_object, Bucket=bucket, Key="dst",
                 CopySource={"Bucket": bucket, "Key": "src"}, ServerSideEncryption="AES256")
    expect_error("NotImplemented", 501, a.copy_object, Bucket=bucket, Key="dst",
                 CopySource={"Bucket": bucket, "Key": "src"}, CopySourceSSECustomerAlgorithm="AES256",
                 CopySourceSSECustomerKey="k" * 32)
    eq(keys_of(a.list_objects_v2(Bucket=bucket)), ["src"], "nothing stored by refused requests")
    expect_error("NotImplemented", 501, a.put_bucket_encryption, Bucket=bucket,
                 ServerSideEncryptionConfiguration={"Rules": [
                     {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    expect_error("NotImplemented", 501, a.create_bucket, Bucket="conf-locked", ObjectLockEnabledForBucket=True)
    eq(error_of(a.head_bucket, Bucket="conf-locked"), ("404", 404), "no locked bucket created")
    # Keys are bytes: whitespace keys are deleted exactly.
    for key in (" ", "x ", " y"):
        a.put_object(Bucket=bucket, Key=key, Body=b"w")
    result = a.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in (" ", "x ", " y")]})
    eq(sorted(d["Key"] for d in result.get("Deleted", [])), [" ", " y", "x "], "whitespace keys deleted")
    eq(keys_of(a.list_objects_v2(Bucket=bucket)), ["src"], "whitespace keys gone")
    empty_bucket(a, bucket)
    a.delete_bucket(Bucket=bucket)


report = {"passed": [], "failed": {}}
for fn in SECTIONS:
    if wanted_sections and fn.__name__ not in wanted_sections:
        continue
    try:
        fn()
        report["passed"].append(fn.__name__)
    except Exception:  # noqa: BLE001 - every failure is reported, then the next section runs
        report["failed"][fn.__name__] = traceback.format_exc()
print(json.dumps(report))
sys.exit(1 if report["failed"] else 0)
