"""A stopped EBS-backed instance starts on another host (run by cli/tests/block_instances.rs
against `kumo up --no-agent --storage-nodes 2` and two `kumo agent` children).

Usage: instances_move.py ENDPOINT STATE_DIR HOST1_NAME HOST2_NAME

A busybox VM launched on host 1 (host 2 disabled meanwhile) boots from its root volume and
counts its first boot on /; it is stopped, host 1 is disabled, and StartInstances places
it on host 2, where it boots from the same root volume: the boot count it kept on / is 2.
Then host 2 drains while the instance is stopped again: it moves back to host 1 at once.
Exit status 1 on any failure.
"""
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "network"))

from harness import client, create_account, create_user, login, ok_native, operator_token, state_dir  # noqa: E402
from common import eq, instance, wait_for  # noqa: E402

host_names = sys.argv[3:5]


def host_ids():
    def reachable():
        by_name = {h["name"]: h for h in ok_native("GET", "/v1/hosts", None, operator_token())}
        if all(by_name.get(n, {}).get("reachable") for n in host_names):
            return [by_name[n]["host_id"] for n in host_names]
        return None

    return wait_for("both hosts reachable", reachable, seconds=90, interval=0.5)


def host_action(host_id, action):
    ok_native("POST", f"/v1/hosts/{host_id}/{action}", None, operator_token())


def root_lines(instance_id):
    """Every KUMO-ROOT line of the VM's consoles, on any host."""
    lines = []
    for path in glob.glob(os.path.join(state_dir, "**", instance_id, "console.log"), recursive=True):
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        lines += [l.strip()[len("KUMO-ROOT:"):].strip() for l in text.splitlines() if l.strip().startswith("KUMO-ROOT:")]
    return lines


def state(ec2, iid):
    return instance(ec2, iid)["State"]["Name"]


HOSTS = host_ids()
account_id = create_account("ebs-move")
a = client("ec2", create_user(account_id, "admin", "admin"))
token = login(account_id, "admin")
image = next(i["ImageId"] for i in a.describe_images()["Images"] if i.get("Name") == "kumo-busybox-vm")


def placed(iid):
    return ok_native("GET", f"/v1/instances/{iid}", None, token)["host_id"]


host_action(HOSTS[1], "disable")
try:
    iid = a.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
finally:
    host_action(HOSTS[1], "enable")
eq(placed(iid), HOSTS[0], "launched on host 1")
wait_for(f"{iid} running", lambda: state(a, iid) == "running")
root = next(m["Ebs"]["VolumeId"] for m in instance(a, iid)["BlockDeviceMappings"] if m["DeviceName"] == "/dev/xvda")
first = wait_for("the first boot's KUMO-ROOT line", lambda: [l for l in root_lines(iid) if l.endswith("boot 1")])
print(f"{iid} on host 1: KUMO-ROOT: {first[0]}", flush=True)

a.stop_instances(InstanceIds=[iid])
wait_for(f"{iid} stopped", lambda: state(a, iid) == "stopped")
host_action(HOSTS[0], "disable")
try:
    a.start_instances(InstanceIds=[iid])
    eq(placed(iid), HOSTS[1], "started on host 2")
    wait_for(f"{iid} running on host 2", lambda: state(a, iid) == "running")
    second = wait_for("the second boot's KUMO-ROOT line", lambda: [l for l in root_lines(iid) if l.endswith("boot 2")])
    print(f"{iid} on host 2: KUMO-ROOT: {second[0]}", flush=True)
    eq(second[0].split()[1], root.replace("-", "")[:20], "the same root volume")
finally:
    host_action(HOSTS[0], "enable")

# Stopped again: draining host 2 moves it back to host 1 at once.
a.stop_instances(InstanceIds=[iid])
wait_for(f"{iid} stopped again", lambda: state(a, iid) == "stopped")
host_action(HOSTS[1], "drain")
try:
    eq(placed(iid), HOSTS[0], "moved off the draining host")
finally:
    host_action(HOSTS[1], "enable")

a.terminate_instances(InstanceIds=[iid])
wait_for(f"{iid} terminated", lambda: state(a, iid) == "terminated")
wait_for(f"{root} deleted", lambda: not a.describe_volumes(Filters=[{"Name": "volume-id", "Values": [root]}])["Volumes"])
print("a stopped EBS-backed instance moved between hosts: OK", flush=True)
