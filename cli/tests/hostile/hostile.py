"""Hostile checks against a running `kumo up` (run by cli/tests/hostile.rs).

Usage: hostile.py ENDPOINT STATE_DIR REPO_ROOT [CHECK-NAME-PREFIX...]

What a tenant (or nobody) may throw at the cloud: pathological describe filters, host
paths as image locations, tokens after demotion, deletion and logout, NUL / control
characters / invalid UTF-8 / oversized values in every string field, S3 keys that differ
only in bytes or whitespace, features asked for and not built (SSE-C, object lock),
signatures with a wrong region or an endless lifetime. Every check expects a 4xx with the
right code or the right behaviour; a 5xx is always a failure. Each check prints what it
measured; every check runs even when an earlier one failed. The last line of stdout is a
JSON report {"passed": [...], "failed": {name: reason}}; exit status 1 when any failed.
"""
import base64
import concurrent.futures
import datetime
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

import boto3
import botocore.serialize
import botocore.session
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

endpoint, state_dir, repo_root = sys.argv[1:4]
wanted = sys.argv[4:]
REGION = "us-east-1"
HTTP = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(connect=10, read=120))
DB_LEAKS = ("invalid byte sequence", "0x00", "sqlx", "postgres", "SQLSTATE", "error returned from database")

passed = []
failed = {}


def check(fn):
    """Run one check now; record PASS/FAIL with what it printed."""
    name = fn.__name__
    if wanted and not any(name.startswith(w) for w in wanted):
        return fn
    started = time.monotonic()
    try:
        measured = fn()
        took = time.monotonic() - started
        passed.append(name)
        print(f"PASS {name} ({took:.2f} s){': ' + str(measured) if measured else ''}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the next check runs
        took = time.monotonic() - started
        reason = f"{type(e).__name__}: {e}"
        failed[name] = reason
        print(f"FAIL {name} ({took:.2f} s): {reason}", flush=True)
        tb = traceback.format_exc().strip().splitlines()
        print("     " + "\n     ".join(tb[-4:]), flush=True)
    return fn


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


# ---------------------------------------------------------------------------------------
# HTTP helpers


def http(method, path, body=None, headers=None, token=None):
    """A raw request: (status, body bytes, seconds). `path` is sent as is (pre-encoded)."""
    h = dict(headers or {})
    if token:
        h["authorization"] = f"Bearer {token}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("content-type", "application/json")
    started = time.monotonic()
    r = HTTP.urlopen(method, endpoint + path, body=body, headers=h, redirect=False, preload_content=True)
    return r.status, r.data, time.monotonic() - started


def native(method, path, body=None, token=None, raw=None):
    """Native API call: (status, parsed JSON or text)."""
    headers = {}
    if raw is not None:
        body = raw
        headers["content-type"] = "application/json"
    status, data, _ = http(method, path, body, headers, token)
    try:
        return status, json.loads(data) if data else None
    except ValueError:
        return status, data.decode("utf-8", "replace")


def ok_native(method, path, body=None, token=None):
    status, value = native(method, path, body, token)
    expect(200 <= status < 300, f"{method} {path}: {status} {value}")
    return value


def signed(creds, service, body, region=REGION, path="/", method="POST", headers=None):
    """A SigV4-signed raw request with a pre-encoded body: (status, body bytes, seconds)."""
    h = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    h.update(headers or {})
    req = AWSRequest(method=method, url=endpoint + path, data=body, headers=h)
    SigV4Auth(Credentials(*creds), service, region).add_auth(req)
    hdrs = {k: v for k, v in req.headers.items()}
    started = time.monotonic()
    r = HTTP.urlopen(method, endpoint + path, body=body, headers=hdrs, redirect=False)
    return r.status, r.data, time.monotonic() - started


def aws_code(data):
    m = re.search(rb"<Code>([^<]*)</Code>", data or b"")
    return m.group(1).decode() if m else None


def query(creds, action, params, service="ec2", extra=""):
    """An AWS Query request. `params` is a list of (name, value) pairs, values already
    percent-encoded where they start with '%' raw marker `RAW:`; `extra` is appended as is."""
    parts = [("Action", action), ("Version", "2016-11-15" if service == "ec2" else "2010-05-08")]
    if service == "sts":
        parts[1] = ("Version", "2011-06-15")
    body = urllib.parse.urlencode(parts + [(k, v) for k, v in params if not str(v).startswith("RAW:")])
    for k, v in params:
        if str(v).startswith("RAW:"):
            body += "&" + urllib.parse.quote(k) + "=" + v[4:]
    body += extra
    return signed(creds, service, body)


def expect_code(result, status, code, what):
    got_status, data, took = result
    expect(
        got_status == status and (code is None or aws_code(data) == code),
        f"{what}: wanted {status} {code}, got {got_status} {aws_code(data)} {data[:300]!r}",
    )
    return took


def expect_4xx(result, what):
    got_status, data, took = result
    expect(400 <= got_status < 500, f"{what}: wanted a 4xx, got {got_status} {data[:300]!r}")
    text = data.decode("utf-8", "replace").lower()
    for leak in DB_LEAKS:
        expect(leak.lower() not in text, f"{what}: the answer leaks {leak!r}: {data[:300]!r}")
    return got_status, aws_code(data)


def healthz():
    status, _, took = http("GET", "/healthz")
    return status, took


def ec2(creds):
    return boto_client("ec2", creds)


def boto_client(service, creds, **config):
    cfg = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        read_timeout=120,
        s3={"addressing_style": "path"},
        signature_version="s3v4" if service == "s3" else None,
        **config,
    )
    session = boto3.session.Session(aws_access_key_id=creds[0], aws_secret_access_key=creds[1], region_name=REGION)
    return session.client(service, endpoint_url=endpoint, config=cfg)


def client_error(call, *args, **kwargs):
    """(code, status) of the ClientError the call raises; None when it succeeded."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


# ---------------------------------------------------------------------------------------
# Set-up: three accounts (A, B: victims and attackers; C: the scratch account for the
# generic sweep), each with an admin (password and access key) and a reader.

password = open(os.path.join(state_dir, "operator-password")).read().strip()
operator_token = ok_native("POST", "/v1/login", {"account": "operator", "user_name": "operator", "password": password})[
    "token"
]
run_tag = uuid.uuid4().hex[:8]
accounts = {}
for name in ("a", "b", "c"):
    acct = ok_native("POST", "/v1/accounts", {"name": f"hostile-{name}-{run_tag}"}, operator_token)
    account_id = acct["account_id"]
    users = {}
    for user, role in (("admin", "admin"), ("reader", "reader")):
        ok_native(
            "POST",
            f"/v1/accounts/{account_id}/users",
            {"user_name": user, "role": role, "password": f"pw-{user}-{run_tag}"},
            operator_token,
        )
        key = ok_native("POST", f"/v1/accounts/{account_id}/users/{user}/access-keys", None, operator_token)
        users[user] = (key["access_key_id"], key["secret_access_key"])
    token = ok_native(
        "POST", "/v1/login", {"account": account_id, "user_name": "admin", "password": f"pw-admin-{run_tag}"}
    )["token"]
    accounts[name] = {"id": account_id, "admin": users["admin"], "reader": users["reader"], "token": token}
A, B, C = accounts["a"], accounts["b"], accounts["c"]
print(f"accounts: A={A['id']} B={B['id']} C={C['id']}", flush=True)

# A compute host enrolled through the agent protocol (no workload runs: instances stay
# pending), so that RunInstances places instances whose rows the describe filters match.
join = ok_native("POST", "/v1/join-tokens", None, operator_token)
capacity = {"vcpus": 64, "memory_mib": 262144, "disk_gib": 1000, "kinds": ["container", "vm"]}
enrolled = ok_native(
    "POST",
    "/v1/agent/enrol",
    {"join_token": join["join_token"], "name": f"hostile-{run_tag}", "zone": "us-east-1a", "address": "", "capacity": capacity},
)
node_headers = {"x-kumo-node-token": enrolled["node_token"], "content-type": "application/json"}


def host_heartbeat():
    status, data, _ = http("POST", "/v1/agent/sync", json.dumps({"capacity": capacity, "instances": []}).encode(), node_headers)
    return status


expect(host_heartbeat() == 200, "agent sync")
images = ec2(A["admin"]).describe_images()["Images"]
container_image = next((i["ImageId"] for i in images if "container" in i.get("Name", "")), None)
a_instances = []
print(f"public images: {[(i['ImageId'], i.get('Name')) for i in images]}", flush=True)


def run_a_instances():
    global a_instances
    if not container_image:
        return "no container image registered (KUMO_IMAGE_DIR): instance rows not exercised"
    host_heartbeat()
    r = ec2(A["admin"]).run_instances(ImageId=container_image, MinCount=3, MaxCount=3)
    a_instances = [i["InstanceId"] for i in r["Instances"]]
    return f"A launched {a_instances} (pending on a host with no workload)"


s3a = boto_client("s3", A["admin"])
s3b = boto_client("s3", B["admin"])
bucket_a = f"hostile-a-{run_tag}"
bucket_b = f"hostile-b-{run_tag}"
s3a.create_bucket(Bucket=bucket_a)
s3b.create_bucket(Bucket=bucket_b)
s3a.put_object(Bucket=bucket_a, Key="secret", Body=b"A's secret")


# ---------------------------------------------------------------------------------------
# 1. Describe filters: huge, pathological, too many.

# (action, a filter it supports, more parameters so that every row is matched)
FILTERED = [
    ("DescribeInstances", "instance-id", []),
    ("DescribeImages", "name", []),
    ("DescribeKeyPairs", "key-name", []),
    ("DescribeTags", "value", []),
    ("DescribeInstanceStatus", "availability-zone", [("IncludeAllInstances", "true")]),
]


@check
def setup_rows_for_filters():
    e = ec2(A["admin"])
    for n in range(5):
        e.create_key_pair(KeyName=f"kp-{n}-" + "a" * 200)
    kp = e.describe_key_pairs()["KeyPairs"]
    e.create_tags(Resources=[kp[0]["KeyPairId"]], Tags=[{"Key": "k" * 100, "Value": "v" * 250}])
    return run_a_instances() + f"; {len(kp)} key pairs, a long tag"


@check
def filter_60000_stars_refused_and_process_alive():
    out = []
    for action, name, more in FILTERED:
        took = expect_code(
            query(A["reader"], action, more + [("Filter.1.Name", name), ("Filter.1.Value.1", "*" * 60000)]),
            400,
            "InvalidParameterValue",
            action,
        )
        out.append(f"{action} {took * 1000:.0f} ms")
    status, _ = healthz()
    expect(status == 200, f"/healthz {status}")
    return ", ".join(out)


@check
def filter_backtracking_patterns_do_not_stall():
    """`*`×15 + `z` from a reader, four at once per action, while /healthz is polled."""
    pattern = "*" * 15 + "z"
    stop = threading.Event()
    latencies = []

    def poll():
        while not stop.is_set():
            status, took = healthz()
            latencies.append((status, took))
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    timings = {}
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for action, name, more in FILTERED:
                futures = [
                    pool.submit(query, A["reader"], action, more + [("Filter.1.Name", name), ("Filter.1.Value.1", pattern)])
                    for _ in range(4)
                ]
                results = [f.result() for f in futures]
                for status, data, _ in results:
                    # An account runs at most two wildcard evaluations at once; a third
                    # in flight is throttled as AWS throttles (clients retry it).
                    throttled = status == 503 and b"RequestLimitExceeded" in data
                    expect(status == 200 or throttled, f"{action}: {status} {data[:200]!r}")
                expect(any(s == 200 for s, _, _ in results), f"{action}: none answered")
                timings[action] = max(t for _, _, t in results)
    finally:
        stop.set()
        poller.join()
    expect(latencies and all(s == 200 for s, _ in latencies), f"/healthz answers: {latencies[:5]}")
    worst = max(t for _, t in latencies)
    return (
        "slowest of 4 concurrent: "
        + ", ".join(f"{a} {t * 1000:.0f} ms" for a, t in timings.items())
        + f"; /healthz {len(latencies)} polls, worst {worst * 1000:.1f} ms"
    )


@check
def filter_51_filters_limit_exceeded():
    for action, name, more in FILTERED:
        params = list(more)
        for i in range(1, 52):
            params += [(f"Filter.{i}.Name", name), (f"Filter.{i}.Value.1", "x")]
        expect_code(query(A["reader"], action, params), 400, "FilterLimitExceeded", action)


@check
def filter_201_values_limit_exceeded():
    for action, name, more in FILTERED:
        params = more + [("Filter.1.Name", name)] + [(f"Filter.1.Value.{i}", f"v{i}") for i in range(1, 202)]
        expect_code(query(A["reader"], action, params), 400, "FilterLimitExceeded", action)


@check
def filter_50_by_200_answers():
    """The most the limits allow: 50 filters of 200 values each answers, and how fast."""
    out = []
    for action, name, more in FILTERED:
        params = list(more)
        for i in range(1, 51):
            params.append((f"Filter.{i}.Name", name))
            params += [(f"Filter.{i}.Value.{j}", f"*{i}-{j}*") for j in range(1, 201)]
        status, data, took = query(A["reader"], action, params)
        expect(status == 200, f"{action}: {status} {data[:300]!r}")
        out.append(f"{action} {took * 1000:.0f} ms")
    return ", ".join(out)


# ---------------------------------------------------------------------------------------
# 2. RegisterImage with host paths.

image_dir = os.environ.get("KUMO_IMAGE_DIR", os.path.join(repo_root, "target/kumo-images"))
HOST_PATHS = [
    "/etc/passwd",
    "/etc",
    "/",
    os.path.join(state_dir, "operator-password"),
    os.path.join(state_dir, "postgres/data/PG_VERSION"),
    os.path.join(image_dir, "container/rootfs.tar"),
    os.path.join(image_dir, "vm"),
    "../../../../etc/passwd",
    "/tmp/../etc/shadow.tar",
    "file:///etc/passwd",
]


@check
def register_image_host_paths_refused_ec2():
    seen = []
    for path in HOST_PATHS:
        status, data, _ = query(A["admin"], "RegisterImage", [("Name", f"steal-{uuid.uuid4().hex[:6]}"), ("ImageLocation", path)])
        expect(400 <= status < 500, f"RegisterImage {path}: {status} {data[:300]!r}")
        seen.append(aws_code(data))
    return f"codes: {sorted(set(seen))}"


@check
def register_image_host_paths_refused_native():
    seen = []
    for path in HOST_PATHS:
        status, value = native("POST", "/v1/images", {"name": f"steal-{uuid.uuid4().hex[:6]}", "location": path}, A["token"])
        expect(400 <= status < 500, f"POST /v1/images {path}: {status} {value}")
        seen.append(status)
    return f"statuses: {sorted(set(seen))}"


def host_path_strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from host_path_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from host_path_strings(v)
    elif isinstance(value, str) and (value.startswith("/") or state_dir in value or image_dir in value):
        yield value


@check
def images_show_tenants_no_host_paths():
    value = ok_native("GET", "/v1/images", None, A["token"])
    paths = list(host_path_strings(value))
    expect(not paths, f"GET /v1/images shows host paths: {paths}")
    status, data, _ = query(A["admin"], "DescribeImages", [("ExecutableBy.1", "all")])
    text = data.decode("utf-8", "replace")
    expect(status == 200, f"DescribeImages {status}")
    expect(image_dir not in text and state_dir not in text, f"DescribeImages shows host paths: {text[:500]}")
    return f"{len(value) if isinstance(value, list) else '?'} images listed, no path"


@check
def images_from_another_tenants_bucket_refused():
    """B names A's private S3 object as an image location: refused. A's own works or is
    refused cleanly; B launches none of A's images."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("etc/secret")
        data = b"A's rootfs secret\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    boto_client("s3", A["admin"]).put_object(Bucket=bucket_a, Key="images/rootfs.tar", Body=buf.getvalue())
    out = []
    for location in (f"{bucket_a}/images/rootfs.tar", f"s3://{bucket_a}/images/rootfs.tar", f"/{bucket_a}/images/rootfs.tar"):
        status, data, _ = query(B["admin"], "RegisterImage", [("Name", f"b-steal-{uuid.uuid4().hex[:6]}"), ("ImageLocation", location)])
        expect(400 <= status < 500, f"B RegisterImage {location}: {status} {data[:300]!r}")
        out.append(f"B {location}: {status} {aws_code(data)}")
    status, data, _ = query(A["admin"], "RegisterImage", [("Name", f"a-own-{run_tag}"), ("ImageLocation", f"{bucket_a}/images/rootfs.tar")])
    expect(status < 500, f"A RegisterImage from its own bucket: {status} {data[:300]!r}")
    out.append(f"A own bucket: {status} {aws_code(data)}")
    a_images = [i["ImageId"] for i in ec2(A["admin"]).describe_images(Owners=["self"])["Images"]]
    b_visible = {i["ImageId"] for i in ec2(B["admin"]).describe_images()["Images"]}
    expect(not set(a_images) & b_visible, f"B sees A's private images {set(a_images) & b_visible}")
    host_heartbeat()
    for image in a_images:
        status, data, _ = query(B["admin"], "RunInstances", [("ImageId", image), ("MinCount", "1"), ("MaxCount", "1")])
        expect(400 <= status < 500, f"B RunInstances {image} (A's): {status} {data[:300]!r}")
    out.append(f"B refused {len(a_images)} of A's images")
    return "; ".join(out)


# ---------------------------------------------------------------------------------------
# 3. Tokens after demotion, deletion and logout.


def new_user(account, user, role):
    ok_native(
        "POST", f"/v1/accounts/{account['id']}/users", {"user_name": user, "role": role, "password": f"pw-{user}-{run_tag}"}, operator_token
    )
    return ok_native("POST", "/v1/login", {"account": account["id"], "user_name": user, "password": f"pw-{user}-{run_tag}"})["token"]


@check
def token_after_demotion_refused():
    token = new_user(A, "demoted", "admin")
    status, _ = native("POST", f"/v1/accounts/{A['id']}/users", {"user_name": "before-demotion", "role": "reader"}, token)
    expect(status == 201 or status == 200, f"the admin's token works before: {status}")
    ok_native("PATCH", f"/v1/accounts/{A['id']}/users/demoted", {"role": "reader"}, operator_token)
    status, value = native("POST", f"/v1/accounts/{A['id']}/users", {"user_name": "after-demotion", "role": "reader"}, token)
    expect(status in (401, 403), f"create user with the demoted admin's old token: {status} {value}")
    return f"refused with {status}"


@check
def token_after_deletion_refused():
    token = new_user(A, "deleted", "admin")
    ok_native("DELETE", f"/v1/accounts/{A['id']}/users/deleted", None, operator_token)
    s1, v1 = native("POST", "/v1/buckets", {"name": f"deleted-user-{run_tag}"}, token)
    s2, v2 = native("GET", f"/v1/accounts/{A['id']}/users", None, token)
    expect(s1 in (401, 403), f"create bucket with a deleted user's token: {s1} {v1}")
    expect(s2 in (401, 403), f"list users with a deleted user's token: {s2} {v2}")
    return f"refused with {s1}, {s2}"


@check
def token_after_logout_refused():
    token = new_user(A, "leaver", "member")
    status, _ = native("GET", "/v1/whoami", None, token)
    expect(status == 200, f"whoami before logout: {status}")
    status, value = native("POST", "/v1/logout", None, token)
    expect(200 <= status < 300, f"logout: {status} {value}")
    status, value = native("GET", "/v1/whoami", None, token)
    expect(status == 401, f"whoami after logout: {status} {value}")
    return "refused with 401"


# ---------------------------------------------------------------------------------------
# 4. NUL, control characters, invalid UTF-8, oversized values in named fields.


@check
def nul_in_login_unauthenticated():
    out = []
    for body in (
        {"account": "a\u0000", "user_name": "x", "password": "y"},
        {"account": A["id"], "user_name": "admin\u0000", "password": "y"},
        {"account": A["id"], "user_name": "admin", "password": "p\u0000w"},
        {"account": "a" * 100_000, "user_name": "x", "password": "y"},
    ):
        status, value = native("POST", "/v1/login", body)
        expect(400 <= status < 500, f"login {str(body)[:80]}: {status} {value}")
        out.append(status)
    status, value = native("POST", "/v1/login", raw=b'{"account":"a\xff","user_name":"x","password":"y"}')
    expect(400 <= status < 500, f"login with invalid UTF-8: {status} {value}")
    out.append(status)
    return f"statuses {out}"


def keypair_id(creds):
    return ec2(creds).describe_key_pairs()["KeyPairs"][0]["KeyPairId"]


@check
def nul_in_ec2_fields():
    kp = keypair_id(A["admin"])
    cases = [
        ("CreateTags", [("ResourceId.1", kp), ("Tag.1.Key", "k"), ("Tag.1.Value", "a\x00b")]),
        ("CreateTags", [("ResourceId.1", kp), ("Tag.1.Key", "k\x00"), ("Tag.1.Value", "v")]),
        ("ImportKeyPair", [("KeyName", "n\x00"), ("PublicKeyMaterial", base64.b64encode(b"ssh-ed25519 AAAA x").decode())]),
        ("ImportKeyPair", [("KeyName", "nul-material"), ("PublicKeyMaterial", base64.b64encode(b"ssh-ed25519 AA\x00AA").decode())]),
        ("RunInstances", [("ImageId", container_image or "ami-00000000"), ("MinCount", "1"), ("MaxCount", "1"), ("ClientToken", "t\x00")]),
        ("DescribeImages", [("Owner.1", "a\x00")]),
        ("CreateKeyPair", [("KeyName", "a\x00b")]),
        ("DescribeKeyPairs", [("KeyName.1", "a\x00b")]),
    ]
    codes = []
    for action, params in cases:
        _, code = expect_4xx(query(A["admin"], action, params), f"{action} {params[-1][0]}")
        codes.append(code)
    return f"codes {sorted(set(c or '?' for c in codes))}"


@check
def control_char_tag_value_refused_and_xml_parses():
    e = ec2(A["admin"])
    kp = keypair_id(A["admin"])
    result = query(A["admin"], "CreateTags", [("ResourceId.1", kp), ("Tag.1.Key", "ctl"), ("Tag.1.Value", "a\x01b")])
    expect_code(result, 400, "InvalidParameterValue", "CreateTags a\\x01b")
    # Characters AWS allows and XML must escape round-trip.
    allowed = "tab\there\nnew<&>\"'line\r]]>"
    e.create_tags(Resources=[kp], Tags=[{"Key": "escaped", "Value": allowed}])
    tags = e.describe_tags(Filters=[{"Name": "key", "Values": ["escaped"]}])["Tags"]
    expect(tags and tags[0]["Value"].replace("\r\n", "\n") in (allowed, allowed.replace("\r", "\n")), f"round trip: {tags}")
    e.describe_key_pairs()
    e.describe_instances()
    e.describe_images(Owners=["self"])
    e.describe_instance_status(IncludeAllInstances=True)
    return f"round-tripped {tags[0]['Value']!r}"


@check
def invalid_utf8_in_query_params():
    kp = keypair_id(A["admin"])
    out = []
    for action, params in (
        ("CreateTags", [("ResourceId.1", kp), ("Tag.1.Key", "k"), ("Tag.1.Value", "RAW:%FF")]),
        ("DescribeKeyPairs", [("KeyName.1", "RAW:a%C3%28")]),
        ("DescribeImages", [("Owner.1", "RAW:%FE%FF")]),
    ):
        out.append(expect_code(query(A["admin"], action, params), 400, "InvalidParameterValue", action) * 1000)
    # In the parameter name too.
    expect_4xx(signed(A["admin"], "ec2", "Action=DescribeKeyPairs&Version=2016-11-15&Key%FFName.1=x"), "invalid UTF-8 name")
    return "refused"


@check
def oversized_ec2_values_refused():
    kp = keypair_id(A["admin"])
    cases = [
        ("CreateTags", [("ResourceId.1", kp), ("Tag.1.Key", "k" * 129), ("Tag.1.Value", "v")]),
        ("CreateTags", [("ResourceId.1", kp), ("Tag.1.Key", "k"), ("Tag.1.Value", "v" * 257)]),
        ("CreateKeyPair", [("KeyName", "n" * 256)]),
        ("RunInstances", [("ImageId", container_image or "ami-00000000"), ("MinCount", "1"), ("MaxCount", "1"), ("ClientToken", "t" * 65)]),
        ("DescribeKeyPairs", [("KeyName.1", "n" * 100_000)]),
    ]
    codes = []
    for action, params in cases:
        _, code = expect_4xx(query(A["admin"], action, params), f"{action} {params[-1][0]} of {len(params[-1][1])}")
        codes.append(code)
    return f"codes {codes}"


# ---------------------------------------------------------------------------------------
# S3




def s3_raw(creds, method, path, body=b"", headers=None, query_string=""):
    """A raw SigV4 (UNSIGNED-PAYLOAD) S3 request to a pre-encoded path."""
    h = dict(headers or {})
    h["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    url = endpoint + path + (("?" + query_string) if query_string else "")
    req = AWSRequest(method=method, url=url, data=body, headers=h)
    from botocore.auth import S3SigV4Auth

    S3SigV4Auth(Credentials(*creds), "s3", REGION).add_auth(req)
    r = HTTP.urlopen(method, url, body=body or None, headers=dict(req.headers.items()), redirect=False)
    return r.status, r.data, 0.0


@check
def nul_in_s3_fields():
    up = s3a.create_multipart_upload(Bucket=bucket_a, Key="mp")["UploadId"]
    cases = [
        ("PUT key", lambda: s3a.put_object(Bucket=bucket_a, Key="a\x00b", Body=b"x")),
        ("GET key", lambda: s3a.get_object(Bucket=bucket_a, Key="a\x00b")),
        ("prefix", lambda: s3a.list_objects(Bucket=bucket_a, Prefix="p\x00")),
        ("marker", lambda: s3a.list_objects(Bucket=bucket_a, Marker="m\x00")),
        ("v2 start-after", lambda: s3a.list_objects_v2(Bucket=bucket_a, StartAfter="m\x00")),
        ("v2 token", lambda: s3a.list_objects_v2(Bucket=bucket_a, ContinuationToken="t\x00")),
        ("delimiter", lambda: s3a.list_objects_v2(Bucket=bucket_a, Delimiter="\x00")),
        ("versions key-marker", lambda: s3a.list_object_versions(Bucket=bucket_a, KeyMarker="k\x00")),
        ("versionId", lambda: s3a.get_object(Bucket=bucket_a, Key="secret", VersionId="v\x00")),
        ("uploadId list parts", lambda: s3a.list_parts(Bucket=bucket_a, Key="mp", UploadId="u\x00")),
        ("uploadId part", lambda: s3a.upload_part(Bucket=bucket_a, Key="mp", UploadId=up + "\x00", PartNumber=1, Body=b"x")),
        ("uploads key-marker", lambda: s3a.list_multipart_uploads(Bucket=bucket_a, KeyMarker="k\x00")),
        ("tagging value", lambda: s3a.put_object_tagging(Bucket=bucket_a, Key="secret", Tagging={"TagSet": [{"Key": "k", "Value": "v\x00"}]})),
        ("tagging header", lambda: s3a.put_object(Bucket=bucket_a, Key="tagged", Body=b"x", Tagging="k=v%00")),
        ("copy source", lambda: s3a.copy_object(Bucket=bucket_a, Key="copy", CopySource=bucket_a + "/secret\x00")),
        ("metadata", lambda: s3a.put_object(Bucket=bucket_a, Key="meta", Body=b"x", Metadata={"m": "a\x01b"})),
        ("delete objects", lambda: s3a.delete_objects(Bucket=bucket_a, Delete={"Objects": [{"Key": "a\x00b"}]})),
    ]
    out = []
    for name, call in cases:
        try:
            result = call()
            # DeleteObjects answers 200 with per-key errors; anything else must fail.
            if name == "delete objects":
                text = json.dumps(result.get("Errors", []), default=str).lower()
                expect(result.get("Errors") and not result.get("Deleted"), f"{name}: {result}")
                for leak in DB_LEAKS:
                    expect(leak.lower() not in text, f"{name} leaks {leak!r}: {text[:300]}")
                out.append(f"{name}:per-key {result['Errors'][0].get('Code')}")
                continue
            raise AssertionError(f"{name}: accepted")
        except ClientError as e:
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            message = str(e.response["Error"].get("Message", "")).lower()
            expect(400 <= status < 500, f"{name}: {status} {e.response['Error']}")
            for leak in DB_LEAKS:
                expect(leak.lower() not in message, f"{name} leaks {leak!r}: {message[:300]}")
            out.append(f"{name}:{status}")
    s3a.abort_multipart_upload(Bucket=bucket_a, Key="mp", UploadId=up)
    return ", ".join(out)


@check
def s3_invalid_utf8_keys_never_collide():
    status, data, _ = s3_raw(A["admin"], "PUT", f"/{bucket_a}/lossy%FFkey", b"first object")
    expect(status < 500, f"PUT lossy%FFkey: {status} {data[:200]!r}")
    g_status, g_data, _ = s3_raw(A["admin"], "GET", f"/{bucket_a}/lossy%FEkey")
    expect(g_data != b"first object", f"GET lossy%FEkey returned the other key's object ({g_status})")
    expect(g_status < 500, f"GET lossy%FEkey {g_status}")
    if 200 <= status < 300:
        s, d, _ = s3_raw(A["admin"], "GET", f"/{bucket_a}/lossy%FFkey")
        expect(s == 200 and d == b"first object", f"the raw key reads back: {s} {d[:100]!r}")
        return f"stored as raw bytes; %FE → {g_status}"
    return f"PUT refused ({status} {aws_code(data)}); GET %FE → {g_status}"


@check
def s3_oversized_key_refused():
    code = client_error(s3a.put_object, Bucket=bucket_a, Key="k" * 1025, Body=b"x")
    expect(code and code[1] == 400, f"1025-byte key: {code}")
    return f"{code}"


# 5. S3 data and trust.


@check
def s3_delete_objects_keeps_whitespace():
    keys = [" ", "x ", " y"]
    for k in keys:
        s3a.put_object(Bucket=bucket_a, Key=k, Body=b"w")
    r = s3a.delete_objects(Bucket=bucket_a, Delete={"Objects": [{"Key": k} for k in keys]})
    deleted = sorted(d["Key"] for d in r.get("Deleted", []))
    expect(deleted == sorted(keys), f"reported deleted: {deleted!r}, errors {r.get('Errors')}")
    left = [o["Key"] for o in s3a.list_objects_v2(Bucket=bucket_a).get("Contents", []) if o["Key"] in keys]
    expect(not left, f"still there: {left!r}")
    return f"deleted {deleted!r}"


def refused(code):
    """A ClientError that refuses: a 4xx, or S3's NotImplemented (501) for a feature asked
    for and not built."""
    return code is not None and (400 <= code[1] < 500 or code == ("NotImplemented", 501))


@check
def s3_sse_refused_never_half_honoured():
    out = []
    key32 = os.urandom(32)
    code = client_error(
        s3a.put_object, Bucket=bucket_a, Key="ssec", Body=b"plaintext secret", SSECustomerAlgorithm="AES256", SSECustomerKey=key32
    )
    expect(refused(code), f"SSE-C PUT: {code}")
    out.append(f"SSE-C {code}")
    got = client_error(s3a.get_object, Bucket=bucket_a, Key="ssec")
    expect(got is not None, "a GET without the key returned the object")
    code = client_error(s3a.put_object, Bucket=bucket_a, Key="kms", Body=b"x", ServerSideEncryption="aws:kms")
    expect(refused(code), f"SSE-KMS PUT: {code}")
    out.append(f"KMS {code}")
    return ", ".join(out)


@check
def s3_object_lock_bucket_refused():
    name = f"hostile-lock-{run_tag}"
    code = client_error(s3a.create_bucket, Bucket=name, ObjectLockEnabledForBucket=True)
    expect(refused(code), f"CreateBucket with object lock: {code}")
    exists = client_error(s3a.head_bucket, Bucket=name)
    expect(exists is not None, "the bucket was created anyway")
    return f"{code}"


# ---------------------------------------------------------------------------------------
# 6. Signatures.


@check
def sigv4_wrong_region_refused():
    out = []
    status, data, _ = signed(A["admin"], "sts", "Action=GetCallerIdentity&Version=2011-06-15", region="eu-west-9")
    expect(400 <= status < 500, f"STS with region eu-west-9: {status} {data[:200]!r}")
    out.append(f"sts {status} {aws_code(data)}")
    status, data, _ = signed(A["admin"], "ec2", "Action=DescribeKeyPairs&Version=2016-11-15", region="xx-nowhere-1")
    expect(400 <= status < 500, f"EC2 with region xx-nowhere-1: {status}")
    out.append(f"ec2 {status} {aws_code(data)}")
    wrong = boto3.session.Session(aws_access_key_id=A["admin"][0], aws_secret_access_key=A["admin"][1], region_name="ap-south-7")
    s3w = wrong.client("s3", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
    code = client_error(s3w.list_objects_v2, Bucket=bucket_a)
    expect(code and 400 <= code[1] < 500, f"S3 with region ap-south-7: {code}")
    out.append(f"s3 {code}")
    # The right region still works.
    status, _, _ = signed(A["admin"], "sts", "Action=GetCallerIdentity&Version=2011-06-15")
    expect(status == 200, f"STS with the right region: {status}")
    return ", ".join(out)


def sigv2_presign(creds, bucket, key, expires):
    string_to_sign = f"GET\n\n\n{expires}\n/{bucket}/{key}"
    sig = base64.b64encode(hmac.new(creds[1].encode(), string_to_sign.encode(), hashlib.sha1).digest()).decode()
    q = urllib.parse.urlencode({"AWSAccessKeyId": creds[0], "Expires": str(expires), "Signature": sig})
    return f"/{bucket}/{key}?{q}"


@check
def sigv2_presign_lifetime_capped():
    now = int(time.time())
    status, data, _ = http("GET", sigv2_presign(A["admin"], bucket_a, "secret", now + 3600))
    expect(status == 200 and data == b"A's secret", f"a one-hour SigV2 presign works: {status} {data[:200]!r}")
    status, data, _ = http("GET", sigv2_presign(A["admin"], bucket_a, "secret", now + 10 * 365 * 86400))
    expect(400 <= status < 500 and b"A's secret" not in data, f"ten years: {status} {data[:200]!r}")
    status8, data8, _ = http("GET", sigv2_presign(A["admin"], bucket_a, "secret", now + 8 * 86400))
    expect(400 <= status8 < 500, f"eight days: {status8} {data8[:200]!r}")
    return f"1 h → 200; 8 d → {status8} {aws_code(data8)}; 10 y → {status} {aws_code(data)}"


# ---------------------------------------------------------------------------------------
# 7. The generic sweep: every string parameter of every action, four hostile values.

HOSTILE = {
    "nul": "a%00b",
    "ctl": "a%01b",
    "utf8": "a%FF%FEb",
    "big": "a" * 100_000,
}
MARK = "HOSTILEMARKQQ"


def string_leaves(shape, depth=0, seen=()):
    if shape.name in seen or depth > 4:
        return
    t = shape.type_name
    if t == "string":
        yield []
    elif t == "structure":
        for name, member in shape.members.items():
            for rest in string_leaves(member, depth + 1, seen + (shape.name,)):
                yield [name] + rest
    elif t == "list":
        for rest in string_leaves(shape.member, depth + 1, seen + (shape.name,)):
            yield [0] + rest
    elif t == "map":
        for rest in string_leaves(shape.value, depth + 1, seen + (shape.name,)):
            yield [("key",)] + rest


def with_mark(path):
    if not path:
        return MARK
    head, rest = path[0], path[1:]
    if head == 0:
        return [with_mark(rest)]
    if isinstance(head, tuple):
        return {"k": with_mark(rest)}
    return {head: with_mark(rest)}


def benign(shape):
    return {"string": "x", "integer": 1, "long": 1, "boolean": False, "timestamp": 0}.get(shape.type_name)


def sweep_bodies(model, action, limit=40):
    op = model.operation_model(action)
    serializer = botocore.serialize.create_serializer(model.metadata["protocol"])
    bodies = []
    shape = op.input_shape
    if shape is None:
        req = serializer.serialize_to_request({}, op)
        return [urllib.parse.urlencode(req["body"]) + "&Hostile=" + MARK]
    for path in list(string_leaves(shape))[:limit]:
        params = with_mark(path)
        for name in shape.required_members:
            if name not in params and benign(shape.members[name]) is not None:
                params[name] = benign(shape.members[name])
        try:
            req = serializer.serialize_to_request(params, op)
        except Exception:  # noqa: BLE001 - a shape the serializer needs more for: skip it
            continue
        bodies.append(urllib.parse.urlencode(req["body"]))
    return bodies


def sweep(creds, service, action_bodies):
    """Send every body with each hostile value; (requests, 5xx list, max seconds)."""
    jobs = []
    for action, bodies in action_bodies:
        for body in bodies:
            for kind, value in HOSTILE.items():
                jobs.append((action, kind, body.replace(MARK, value)))
    bad = []
    worst = 0.0

    def one(job):
        action, kind, body = job
        status, data, took = signed(creds, service, body)
        return action, kind, body, status, data, took

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for action, kind, body, status, data, took in pool.map(one, jobs):
            worst = max(worst, took)
            text = data.decode("utf-8", "replace").lower()
            leak = next((l for l in DB_LEAKS if l.lower() in text), None)
            if status >= 500 or leak:
                bad.append(f"{action}/{kind} {status} {body[:120]!r} → {data[:160]!r}")
    return len(jobs), bad, worst


def ec2_actions(service="compute"):
    text = open(os.path.join(repo_root, f"services/{service}/src/ec2/mod.rs")).read()
    block = text.split("pub const ACTIONS", 1)[1].split("];", 1)[0]
    return re.findall(r'\("([A-Za-z]+)",', block)


@check
def sweep_ec2_every_string_parameter():
    session = botocore.session.get_session()
    model = session.get_service_model("ec2")
    actions = ec2_actions()
    expect(len(actions) >= 20, f"EC2 actions found: {actions}")
    bodies = [(a, sweep_bodies(model, a)) for a in actions]
    n, bad, worst = sweep(C["admin"], "ec2", bodies)
    expect(not bad, f"{len(bad)} of {n} answered 5xx or leaked:\n       " + "\n       ".join(bad[:15]))
    status, _ = healthz()
    expect(status == 200, "/healthz after the sweep")
    return f"{len(actions)} actions, {n} requests, slowest {worst * 1000:.0f} ms"


@check
def sweep_ec2_networking_every_string_parameter():
    """The network service's EC2 actions (VPCs, subnets, gateways, route tables, security
    groups, interfaces, addresses): every string parameter (the first 12 of each action)
    with NUL, a control character, invalid UTF-8 and 100 KB; then 10,000-item lists."""
    session = botocore.session.get_session()
    model = session.get_service_model("ec2")
    actions = ec2_actions("network")
    expect(len(actions) >= 40, f"network EC2 actions found: {actions}")
    bodies = [(a, sweep_bodies(model, a, limit=12)) for a in actions]
    n, bad, worst = sweep(C["admin"], "ec2", bodies)
    expect(not bad, f"{len(bad)} of {n} answered 5xx or leaked:\n       " + "\n       ".join(bad[:15]))
    many = [(f"VpcId.{i}", f"vpc-{i:08x}") for i in range(1, 10_001)]
    expect_4xx(query(C["admin"], "DescribeVpcs", many), "DescribeVpcs with 10,000 ids")
    values = [("Filter.1.Name", "group-name")] + [(f"Filter.1.Value.{i}", "x") for i in range(1, 10_001)]
    expect_4xx(query(C["admin"], "DescribeSecurityGroups", values), "a filter with 10,000 values")
    permissions = [("GroupId", "sg-00000000"), ("IpPermissions.1.IpProtocol", "tcp"),
                   ("IpPermissions.1.FromPort", "1"), ("IpPermissions.1.ToPort", "2")]
    permissions += [(f"IpPermissions.1.IpRanges.{i}.CidrIp", "10.0.0.0/8") for i in range(1, 10_001)]
    expect_4xx(query(C["admin"], "AuthorizeSecurityGroupIngress", permissions), "10,000 IP ranges")
    status, _ = healthz()
    expect(status == 200, "/healthz after the sweep")
    return f"{len(actions)} actions, {n} requests, slowest {worst * 1000:.0f} ms"


@check
def sweep_ec2_volumes_every_string_parameter():
    """The block-storage service's EC2 actions (volumes): every string parameter with NUL,
    a control character, invalid UTF-8 and 100 KB; then 10,000 volume ids."""
    session = botocore.session.get_session()
    model = session.get_service_model("ec2")
    actions = ec2_actions("block-storage")
    expect(len(actions) >= 7, f"block-storage EC2 actions found: {actions}")
    bodies = [(a, sweep_bodies(model, a, limit=12)) for a in actions]
    n, bad, worst = sweep(C["admin"], "ec2", bodies)
    expect(not bad, f"{len(bad)} of {n} answered 5xx or leaked:\n       " + "\n       ".join(bad[:15]))
    many = [(f"VolumeId.{i}", f"vol-{i:08x}") for i in range(1, 10_001)]
    expect_4xx(query(C["admin"], "DescribeVolumes", many), "DescribeVolumes with 10,000 ids")
    status, _ = healthz()
    expect(status == 200, "/healthz after the sweep")
    return f"{len(actions)} actions, {n} requests, slowest {worst * 1000:.0f} ms"


@check
def sweep_iam_sts_every_string_parameter():
    session = botocore.session.get_session()
    iam = session.get_service_model("iam")
    sts = session.get_service_model("sts")
    iam_actions = ["GetUser", "CreateAccessKey", "ListAccessKeys", "DeleteAccessKey", "UpdateAccessKey"]
    n1, bad1, w1 = sweep(C["admin"], "iam", [(a, sweep_bodies(iam, a)) for a in iam_actions])
    n2, bad2, w2 = sweep(C["admin"], "sts", [("GetCallerIdentity", sweep_bodies(sts, "GetCallerIdentity"))])
    bad = bad1 + bad2
    expect(not bad, f"{len(bad)} answered 5xx or leaked:\n       " + "\n       ".join(bad[:15]))
    return f"{n1 + n2} requests, slowest {max(w1, w2) * 1000:.0f} ms"


NATIVE_VALUES = {
    "nul": lambda: json.dumps("a\u0000b"),
    "ctl": lambda: json.dumps("a\u0001b"),
    "utf8": None,  # raw bytes, see below
    "big": lambda: json.dumps("a" * 100_000),
}


def resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def benign_json(spec, schema, name):
    schema = resolve(spec, schema)
    if "enum" in schema:
        return schema["enum"][-1]
    if "oneOf" in schema:
        for s in schema["oneOf"]:
            if resolve(spec, s).get("type") != "null":
                return benign_json(spec, s, name)
        return None
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t == "string":
        return f"h{uuid.uuid4().hex[:10]}"
    if t == "integer":
        return 1
    if t == "boolean":
        return False
    if t == "object":
        return {}
    if t == "array":
        return []
    return None


@check
def sweep_native_json_routes():
    spec = json.load(open(os.path.join(repo_root, "openapi/kumo.json")))
    path_values = {
        "account_id": C["id"],
        "user_name": "admin",
        "bucket": f"hostile-c-{run_tag}",
        "image_id": container_image or "ami-00000000",
        "instance_id": "i-0000000000000000",
        "key_name": "nope",
        "host_id": "h-nope",
        "node_id": "sn-nope",
        "access_key_id": "AKIANOPE",
        "key": "k",
    }
    ok_native("POST", "/v1/buckets", {"name": path_values["bucket"]}, C["token"])
    jobs = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            concrete = re.sub(r"\{([a-z_]+)\}", lambda m: urllib.parse.quote(path_values.get(m.group(1), "x")), path)
            if path == "/v1/logout":
                continue
            # Path parameters with hostile values.
            for param in re.findall(r"\{([a-z_]+)\}", path):
                for kind, raw in (("nul", "a%00b"), ("ctl", "a%01b"), ("utf8", "a%FFb"), ("big", "a" * 100_000)):
                    p = path.replace("{" + param + "}", raw)
                    p = re.sub(r"\{([a-z_]+)\}", lambda m: urllib.parse.quote(path_values.get(m.group(1), "x")), p)
                    jobs.append((method.upper(), p, None, f"{param}={kind}"))
            if not body:
                continue
            schema = resolve(spec, body["schema"])
            props = schema.get("properties", {})
            for field, fschema in props.items():
                fs = resolve(spec, fschema)
                types = fs.get("type")
                types = types if isinstance(types, list) else [types]
                if "string" not in types and "enum" not in fs:
                    continue
                others = {k: benign_json(spec, v, k) for k, v in props.items() if k != field and k in schema.get("required", [])}
                for kind in ("nul", "ctl", "utf8", "big"):
                    prefix = json.dumps(others)[:-1] + (", " if others else "")
                    if kind == "utf8":
                        raw = (prefix + json.dumps(field) + ': "a').encode() + b"\xff\xfe" + b'b"}'
                    else:
                        raw = (prefix + json.dumps(field) + ": " + NATIVE_VALUES[kind]() + "}").encode()
                    jobs.append((method.upper(), concrete, raw, f"{field}={kind}"))
    bad = []
    worst = 0.0

    def one(job):
        method, path, raw, what = job
        token = operator_token if re.match(r"/v1/(accounts|hosts|join-tokens|storage|signing-keys)", path) else C["token"]
        headers = {"authorization": f"Bearer {token}"}
        if raw is not None:
            headers["content-type"] = "application/json"
        started = time.monotonic()
        r = HTTP.urlopen(method, endpoint + path, body=raw, headers=headers, redirect=False)
        return method, path, what, r.status, r.data, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for method, path, what, status, data, took in pool.map(one, jobs):
            worst = max(worst, took)
            text = data.decode("utf-8", "replace").lower()
            leak = next((l for l in DB_LEAKS if l.lower() in text), None)
            if status >= 500 or leak:
                bad.append(f"{method} {path[:60]} {what} → {status} {data[:160]!r}")
    expect(not bad, f"{len(bad)} of {len(jobs)} answered 5xx or leaked:\n       " + "\n       ".join(bad[:20]))
    return f"{len(jobs)} requests, slowest {worst * 1000:.0f} ms"


# ---------------------------------------------------------------------------------------
# No cross-tenant effect, and the process still serves.


@check
def no_cross_tenant_effect():
    eb = ec2(B["admin"])
    a_keys = {k["KeyName"] for k in ec2(A["admin"]).describe_key_pairs()["KeyPairs"]}
    b_keys = {k["KeyName"] for k in eb.describe_key_pairs()["KeyPairs"]}
    expect(not (a_keys & b_keys) or not b_keys, f"B sees A's key pairs: {a_keys & b_keys}")
    for name in list(a_keys)[:2]:
        eb.delete_key_pair(KeyName=name)
    expect(a_keys == {k["KeyName"] for k in ec2(A["admin"]).describe_key_pairs()["KeyPairs"]}, "B's DeleteKeyPair touched A")
    b_tags = eb.describe_tags()["Tags"]
    expect(not any(t["ResourceId"].startswith("key-") and t["Key"] == "escaped" for t in b_tags), f"B sees A's tags: {b_tags}")
    code = client_error(s3b.get_object, Bucket=bucket_a, Key="secret")
    expect(code and code[1] == 403, f"B reads A's object: {code}")
    if a_instances:
        b_seen = [i["InstanceId"] for r in eb.describe_instances()["Reservations"] for i in r["Instances"]]
        expect(not set(a_instances) & set(b_seen), "B sees A's instances")
        code = client_error(eb.terminate_instances, InstanceIds=a_instances[:1])
        expect(code and 400 <= code[1] < 500, f"B terminates A's instance: {code}")
    body = s3a.get_object(Bucket=bucket_a, Key="secret")["Body"].read()
    expect(body == b"A's secret", "A's object changed")
    status, _ = healthz()
    expect(status == 200, f"/healthz {status}")
    return f"A has {len(a_keys)} key pairs, B {len(b_keys)}; B refused A's object and instance"


if a_instances:
    try:
        ec2(A["admin"]).terminate_instances(InstanceIds=a_instances)
    except ClientError as e:
        print(f"cleanup: terminate {e}", flush=True)

print(f"hostile summary - {len(passed)} checks passed and {len(failed)} checks failed", flush=True)
print(json.dumps({"passed": passed, "failed": failed}))
sys.exit(1 if failed else 0)
