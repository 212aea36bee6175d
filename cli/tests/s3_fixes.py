"""S3 behaviours ceph's s3-tests and AWS agree on, each once wrong in Kumo (issue 12's
"wrong behaviour" list), checked through boto3 against a real `kumo up`.

Usage: s3_fixes.py ENDPOINT KEY SECRET [SECTION...]
The last line of stdout is a JSON report {"passed": [...], "failed": {section: traceback}}.
"""
import datetime
import json
import sys
import traceback
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.handlers import set_list_objects_encoding_type_url

endpoint, key, secret = sys.argv[1:4]
wanted = set(sys.argv[4:])
MIB = 1024 * 1024


def client(region="us-east-1"):
    cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                 retries={"max_attempts": 1, "mode": "standard"})
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                 region_name=region).client("s3", endpoint_url=endpoint, config=cfg)


s3 = client()
counter = [0]


def new_bucket():
    counter[0] += 1
    name = f"fixes-{counter[0]}-{datetime.datetime.now().strftime('%H%M%S%f')}"
    s3.create_bucket(Bucket=name)
    return name


def error_of(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded")


def multipart(bucket, key, sizes, **create):
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    parts = []
    for number, size in enumerate(sizes, 1):
        extra = {"ChecksumAlgorithm": create["ChecksumAlgorithm"]} if "ChecksumAlgorithm" in create else {}
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number,
                           Body=bytes([number]) * size, **extra)
        part = {"PartNumber": number, "ETag": r["ETag"]}
        if "ChecksumCRC32" in r:
            part["ChecksumCRC32"] = r["ChecksumCRC32"]
        parts.append(part)
    return upload, parts


def vanished_version_markers():
    bucket = new_bucket()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    versions = [s3.put_object(Bucket=bucket, Key=k, Body=b"x")["VersionId"] for k in ("a", "b", "c")]
    s3.delete_object(Bucket=bucket, Key="b", VersionId=versions[1])
    listing = s3.list_object_versions(Bucket=bucket, KeyMarker="b", VersionIdMarker=versions[1])
    assert [v["Key"] for v in listing["Versions"]] == ["c"], listing


def delete_objects_keeps_whitespace():
    bucket = new_bucket()
    for k in (" a ", "a"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": " a "}]})
    assert [d["Key"] for d in r["Deleted"]] == [" a "], r
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["a"], keys


def delete_bucket_with_upload_in_progress():
    bucket = new_bucket()
    multipart(bucket, "big", [5 * MIB])
    s3.delete_bucket(Bucket=bucket)
    assert error_of(s3.head_bucket, Bucket=bucket)[0] == 404
    # A new bucket of the same name starts without the old upload.
    s3.create_bucket(Bucket=bucket)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def complete_twice():
    bucket = new_bucket()
    upload, parts = multipart(bucket, "k", [5 * MIB, 1])
    first = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload,
                                         MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload,
                                         MultipartUpload={"Parts": parts})
    assert again["ETag"] == first["ETag"] and again["Key"] == "k", (first, again)


def expired_presigned_url():
    bucket = new_bucket()
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    # X-Amz-Expires=0: expired from the start (ceph's s3-tests, not marked fails_on_aws).
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=0)
    try:
        urllib.request.urlopen(url)
        raise AssertionError("an expired URL was served")
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        assert e.code == 403 and "<Code>AccessDenied</Code>" in body and "expired" in body, (e.code, body)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    assert urllib.request.urlopen(url).read() == b"x"


def object_attributes_parts():
    bucket = new_bucket()
    upload, parts = multipart(bucket, "plain", [5 * MIB] * 3 + [7])
    s3.complete_multipart_upload(Bucket=bucket, Key="plain", UploadId=upload, MultipartUpload={"Parts": parts})
    r = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["ObjectParts", "ObjectSize"],
                                 MaxParts=1, PartNumberMarker=2)
    op = r["ObjectParts"]
    assert op["TotalPartsCount"] == 4 and op["IsTruncated"] is True, op
    assert op["PartNumberMarker"] == 2 and op["NextPartNumberMarker"] == 3 and op["MaxParts"] == 1, op
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(3, 5 * MIB)], op
    r = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["ObjectParts"])
    assert [p["PartNumber"] for p in r["ObjectParts"]["Parts"]] == [1, 2, 3, 4], r
    assert r["ObjectParts"]["IsTruncated"] is False and r["ObjectParts"]["Parts"][3]["Size"] == 7, r
    upload, parts = multipart(bucket, "summed", [5 * MIB, 9], ChecksumAlgorithm="CRC32")
    s3.complete_multipart_upload(Bucket=bucket, Key="summed", UploadId=upload, MultipartUpload={"Parts": parts})
    r = s3.get_object_attributes(Bucket=bucket, Key="summed", ObjectAttributes=["ObjectParts", "Checksum"])
    assert r["Checksum"]["ChecksumType"] == "COMPOSITE" and r["Checksum"]["ChecksumCRC32"].endswith("-2"), r
    got = [(p["PartNumber"], p["ChecksumCRC32"]) for p in r["ObjectParts"]["Parts"]]
    assert got == [(p["PartNumber"], p["ChecksumCRC32"]) for p in parts], (got, parts)


def newline_prefix_is_raw():
    bucket = new_bucket()
    s3.put_object(Bucket=bucket, Key="a\nb", Body=b"x")
    # botocore asks for EncodingType=url unless told otherwise: ask without it.
    raw = client()
    for operation in ("ListObjects", "ListObjectsV2"):
        raw.meta.events.unregister(f"before-parameter-build.s3.{operation}", set_list_objects_encoding_type_url)
    for listing in (raw.list_objects(Bucket=bucket, Prefix="a\n"), raw.list_objects_v2(Bucket=bucket, Prefix="a\n")):
        assert "EncodingType" not in listing, listing
        assert listing["Prefix"] == "a\n" and [o["Key"] for o in listing["Contents"]] == ["a\nb"], listing


def empty_continuation_token():
    bucket = new_bucket()
    for k in ("bar", "baz"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.list_objects_v2(Bucket=bucket, ContinuationToken="")
    assert r["ContinuationToken"] == "" and [o["Key"] for o in r["Contents"]] == ["bar", "baz"], r


SECTIONS = [vanished_version_markers, delete_objects_keeps_whitespace, delete_bucket_with_upload_in_progress,
            complete_twice, expired_presigned_url, object_attributes_parts,
            newline_prefix_is_raw, empty_continuation_token]

passed, failed = [], {}
for section in SECTIONS:
    if wanted and section.__name__ not in wanted:
        continue
    try:
        section()
        passed.append(section.__name__)
    except Exception:
        failed[section.__name__] = traceback.format_exc()
for name, trace in failed.items():
    print(f"--- {name}\n{trace}")
print(json.dumps({"passed": passed, "failed": {k: v.strip().splitlines()[-1] for k, v in failed.items()}}))
sys.exit(1 if failed else 0)
