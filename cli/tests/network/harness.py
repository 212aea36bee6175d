"""The plumbing the network boto3 scripts share (topology.py, security_groups.py,
network_interfaces.py, tags.py), each run by its `cli/tests/network_*.rs` against a running
`kumo up` as `SCRIPT ENDPOINT STATE_DIR [CHECK-NAME-PREFIX...]`.

`check` runs a check (only those whose names start with a prefix given, when any are),
reports PASS or FAIL and goes on; `report()` ends the script with the JSON report
{"passed": [...], "failed": {name: reason}} and exit status 1 when any failed. `account`
makes a fresh account with an admin (access key, token and EC2 client) through the
operator's native API.
"""
import functools
import json
import os
import sys
import time
import traceback
import uuid

import boto3
import urllib3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, state_dir = sys.argv[1:3]
wanted = sys.argv[3:]
REGION = "us-east-1"
HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10, read=120))
# Names made by one run end with it, so that runs never collide.
run_tag = uuid.uuid4().hex[:8]

passed = []
failed = {}


def check(fn):
    name = fn.__name__
    if wanted and not any(name.startswith(w) for w in wanted):
        return fn
    started = time.monotonic()
    try:
        measured = fn()
        passed.append(name)
        took = time.monotonic() - started
        print(f"PASS {name} ({took:.2f} s){': ' + str(measured) if measured else ''}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the next check runs
        failed[name] = f"{type(e).__name__}: {e}"
        print(f"FAIL {name}: {failed[name]}", flush=True)
        tb = traceback.format_exc().strip().splitlines()
        print("     " + "\n     ".join(tb[-4:]), flush=True)
    return fn


def report():
    print(json.dumps({"passed": passed, "failed": failed}))
    sys.exit(1 if failed else 0)


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


def native(method, path, body=None, token=None):
    headers = {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    r = HTTP.urlopen(method, endpoint + path, body=data, headers=headers)
    try:
        return r.status, json.loads(r.data) if r.data else None
    except ValueError:
        return r.status, r.data.decode("utf-8", "replace")


def ok_native(method, path, body=None, token=None):
    status, value = native(method, path, body, token)
    expect(200 <= status < 300, f"{method} {path}: {status} {value}")
    return value


def error_code(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def expect_error(code, call, *args, **kwargs):
    got = error_code(call, *args, **kwargs)
    expect(got == code, f"wanted {code}, got {got}")


# ---------------------------------------------------------------------------------------
# Accounts, users and clients


@functools.cache
def operator_token():
    password = open(os.path.join(state_dir, "operator-password")).read().strip()
    return ok_native("POST", "/v1/login", {"account": "operator", "user_name": "operator", "password": password})["token"]


def create_account(name):
    """A new account named NAME-RUN_TAG; its id."""
    return ok_native("POST", "/v1/accounts", {"name": f"{name}-{run_tag}"}, operator_token())["account_id"]


def create_user(account_id, user_name, role):
    """A user with the password pw-RUN_TAG and an access key; the key (id, secret)."""
    ok_native(
        "POST",
        f"/v1/accounts/{account_id}/users",
        {"user_name": user_name, "role": role, "password": f"pw-{run_tag}"},
        operator_token(),
    )
    key = ok_native("POST", f"/v1/accounts/{account_id}/users/{user_name}/access-keys", None, operator_token())
    return key["access_key_id"], key["secret_access_key"]


def login(account_id, user_name):
    """A token of a user made by `create_user`."""
    body = {"account": account_id, "user_name": user_name, "password": f"pw-{run_tag}"}
    return ok_native("POST", "/v1/login", body)["token"]


def client(service, key):
    """A boto3 client of SERVICE at the endpoint with the access key (id, secret); no retries."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


def account(name):
    """A new account NAME-RUN_TAG with an admin: {"id", "ec2" (the admin's client), "token"}."""
    account_id = create_account(name)
    key = create_user(account_id, "admin", "admin")
    return {"id": account_id, "ec2": client("ec2", key), "token": login(account_id, "admin")}
