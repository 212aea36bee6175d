"""STS and IAM through boto3/botocore against a Kumo endpoint: the real client parses our
XML with AWS's own service models, so this is a conformance check. Prints a JSON report."""
import json
import sys

import boto3
from botocore.exceptions import ClientError

endpoint, key_id, secret = sys.argv[1:4]
session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, region_name="us-east-1")
sts = session.client("sts", endpoint_url=endpoint)
iam = session.client("iam", endpoint_url=endpoint)

report = {}
ident = sts.get_caller_identity()
report["identity"] = {k: ident[k] for k in ("Account", "Arn", "UserId")}
report["identity_request_id"] = ident["ResponseMetadata"]["RequestId"]
report["identity_header_request_id"] = ident["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")

user = iam.get_user()["User"]
report["user"] = {"UserName": user["UserName"], "Arn": user["Arn"], "UserId": user["UserId"],
                  "Path": user["Path"], "CreateDate": user["CreateDate"].isoformat()}

created = iam.create_access_key()["AccessKey"]
report["created"] = {"AccessKeyId": created["AccessKeyId"], "Status": created["Status"],
                     "SecretLength": len(created["SecretAccessKey"])}
listed = iam.list_access_keys()
report["listed"] = sorted(m["AccessKeyId"] for m in listed["AccessKeyMetadata"])
report["listed_truncated"] = listed["IsTruncated"]

# The new key works on its own.
other = boto3.session.Session(aws_access_key_id=created["AccessKeyId"],
                              aws_secret_access_key=created["SecretAccessKey"], region_name="us-east-1")
report["new_key_identity"] = other.client("sts", endpoint_url=endpoint).get_caller_identity()["Arn"]

iam.delete_access_key(AccessKeyId=created["AccessKeyId"])
report["after_delete"] = sorted(m["AccessKeyId"] for m in iam.list_access_keys()["AccessKeyMetadata"])


def error_of(call):
    try:
        call()
    except ClientError as e:
        return {"code": e.response["Error"]["Code"], "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                "request_id": e.response["ResponseMetadata"].get("RequestId")}
    return None


report["no_such_user"] = error_of(lambda: iam.get_user(UserName="nobody"))
report["delete_missing_key"] = error_of(lambda: iam.delete_access_key(AccessKeyId="AKIAAAAAAAAAAAAAAAAA"))
report["deleted_key_rejected"] = error_of(
    lambda: other.client("sts", endpoint_url=endpoint).get_caller_identity())
print(json.dumps(report))
