"""The two clouds the scenario runs against, and the recorder that keeps every raw answer.

`Moto`: `moto_server` (PyPI `moto[server]`, pinned in deploy/install-deps.sh --test)
started on a free port. `Kumo`: a running `kumo up` with its own compute agent (the
instances are real containers), with the operator's access key from the profile it
writes (STATE/aws/credentials).
"""
import configparser
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError

REGION = "us-east-1"
# Waiting for an instance's state or console: every second, for at most five minutes (a
# bound that fails a stuck run clearly, not a timing assertion).
POLL_SECONDS = 1
POLL_ATTEMPTS = 300


class Call:
    """One recorded request: what was asked, and the raw answer."""

    def __init__(self, label, service, operation, operation_model):
        self.label = label
        self.service = service
        self.operation = operation
        self.operation_model = operation_model
        self.status = None
        self.headers = {}
        self.body = None  # bytes; None when the body is a stream (GetObject)
        self.error_code = None


class Recorder:
    """Clients whose raw responses are captured (botocore's `before-parse` event, before
    botocore turns XML into dicts), one `Call` per request."""

    def __init__(self, target):
        self.target = target
        self.calls = []
        self._labels = set()
        self._raw = None

    def client(self, service):
        client = self.quiet_client(service)
        client.meta.events.register("before-parse", self._capture)
        return client

    def quiet_client(self, service):
        """A client whose calls are not recorded (waiting is not part of the comparison)."""
        cfg = Config(
            retries={"max_attempts": 1, "mode": "standard"},
            read_timeout=120,
            s3={"addressing_style": "path"},
            signature_version="s3v4" if service == "s3" else None,
        )
        session = boto3.session.Session(
            aws_access_key_id=self.target.key[0], aws_secret_access_key=self.target.key[1], region_name=REGION
        )
        return session.client(service, endpoint_url=self.target.endpoint, config=cfg)

    def wait(self, waiter, instance_id):
        """Wait with boto3's waiter (`instance_running`, `instance_stopped`, …) until the
        instance is there; moto changes states at once, Kumo when its agent has acted."""
        ec2 = self.quiet_client("ec2")
        try:
            ec2.get_waiter(waiter).wait(
                InstanceIds=[instance_id], WaiterConfig={"Delay": POLL_SECONDS, "MaxAttempts": POLL_ATTEMPTS}
            )
        except WaiterError as e:
            raise RuntimeError(f"{self.target.name}: {instance_id} never passed {waiter}: {e}") from e

    def wait_for_console(self, instance_id):
        """Poll GetConsoleOutput until the instance has written to its console (Kumo's
        agent uploads it every few seconds)."""
        ec2 = self.quiet_client("ec2")
        for _ in range(POLL_ATTEMPTS):
            if ec2.get_console_output(InstanceId=instance_id).get("Output"):
                return
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"{self.target.name}: {instance_id} wrote nothing to its console")

    def _capture(self, operation_model, response_dict, **_):
        status = response_dict["status_code"]
        body = response_dict.get("body")
        if not isinstance(body, (bytes, bytearray)):
            body = None
        self._raw = (status, dict(response_dict.get("headers") or {}), body)

    def call(self, client, method, label=None, **kwargs):
        """Make one call; record it under `label` (default: the operation's name; repeats
        get #2, #3). Returns the parsed result, or {} when it failed."""
        operation = client.meta.method_to_api_mapping[method]
        label = label or operation
        base, n = label, 1
        while label in self._labels:
            n += 1
            label = f"{base}#{n}"
        self._labels.add(label)
        service = client.meta.service_model.service_name
        call = Call(label, service, operation, client.meta.service_model.operation_model(operation))
        self._raw = None
        result = {}
        try:
            result = getattr(client, method)(**kwargs)
        except ClientError as e:
            call.error_code = e.response.get("Error", {}).get("Code") or str(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        except Exception as e:  # noqa: BLE001 - an unparseable answer is a finding too
            call.error_code = f"client-side {type(e).__name__}: {e}"
        if self._raw:
            call.status, call.headers, call.body = self._raw
        self.calls.append(call)
        return result


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    name = "moto"

    def __init__(self):
        port = free_port()
        binary = os.path.join(os.path.dirname(sys.executable), "moto_server")
        self.process = subprocess.Popen(
            [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.endpoint = f"http://127.0.0.1:{port}"
        self.key = ("testing", "testing")
        for _ in range(300):
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}")
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server never answered")
        self.user_name = "conformance"
        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        iam.create_user(UserName=self.user_name)

    def public_address_pool(self, zone):
        """moto hands out public addresses without any pool."""

    def pick_image(self, ec2):
        images = ec2.describe_images(Owners=["amazon"])["Images"]
        return next(i["ImageId"] for i in images if i.get("Architecture") == "x86_64")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Kumo:
    name = "kumo"

    def __init__(self, endpoint, state_dir):
        self.endpoint = endpoint
        profile = configparser.ConfigParser()
        profile.read(os.path.join(state_dir, "aws", "credentials"))
        self.key = (profile["kumo"]["aws_access_key_id"], profile["kumo"]["aws_secret_access_key"])
        self.user_name = "operator"
        self.state_dir = state_dir

    def _native(self, method, path, body, token=None):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.endpoint + path, data=json.dumps(body).encode(), headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def public_address_pool(self, zone):
        """Elastic IPs come from the operator's pools: the operator adds one (native API)."""
        password = open(os.path.join(self.state_dir, "operator-password")).read().strip()
        token = self._native("POST", "/v1/login", {"account": "operator", "user_name": "operator", "password": password})["token"]
        self._native("POST", "/v1/address-pools", {"name": "conformance", "zone": zone, "cidr": "198.51.100.0/24"}, token)

    def pick_image(self, ec2):
        """The default container image (the quickest instance to start)."""
        images = ec2.describe_images()["Images"]
        return next(i["ImageId"] for i in images if "container" in i.get("Name", ""))

    def stop(self):
        """The Rust test stops `kumo up`."""
