"""Draining a storage node against a running `kumo up --storage-nodes 3` (run by
cli/tests/block_drain.rs).

Usage: drain.py ENDPOINT STATE_DIR

A detached 2-replica volume gets a pattern written into both replicas through each
node's NBD+TLS export (qemu-io with the export's own key); one holder is drained: a
replacement appears on the third node (copied from the in-sync peer's export), the drained
node ends with no replica and no file, the volume stays available, the remaining two
files are identical (`qemu-img compare -U`) and hold the pattern. A tenant may not drain;
undrain clears the flag. Exit status 1 on any failure.
"""
import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "network"))

from harness import client, create_account, create_user, login, native, ok_native, operator_token, state_dir  # noqa: E402

ZONE = "us-east-1a"
NBD_HOST = "127.0.0.1"


def eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


def wait_for(what, predicate, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def replica_files(volume_id):
    """{storage-node number: its qcow2 of the volume}."""
    found = {}
    for path in glob.glob(os.path.join(state_dir, "storage-node-*", "**", f"{volume_id}.qcow2"), recursive=True):
        number = path.split("storage-node-")[1].split(os.sep)[0]
        found[int(number)] = path
    return found


def qemu_io(volume_id, image, commands):
    """qemu-io over the replica's NBD+TLS export, with the export's own key."""
    run_dir = image[: -len(".qcow2")] + ".d"
    port = open(os.path.join(run_dir, "port")).read().strip()
    tls = os.path.join(run_dir, "tls")
    identity = open(os.path.join(tls, "keys.psk")).read().split(":")[0]
    args = ["timeout", "60", "qemu-io",
            "--object", f"tls-creds-psk,id=tls0,endpoint=client,username={identity},dir={tls}",
            "--image-opts", f"driver=nbd,host={NBD_HOST},port={port},export={volume_id},tls-creds=tls0"]
    for c in commands:
        args += ["-c", c]
    out = subprocess.run(args, capture_output=True, text=True)
    text = out.stdout + out.stderr
    assert out.returncode == 0 and "Pattern verification failed" not in text, f"qemu-io {commands}: {text}"


def nodes():
    return ok_native("GET", "/v1/block/nodes", token=operator_token())["nodes"]


def node_of(number):
    """The node kumo up named `<host>-s<number>`."""
    return next(n for n in nodes() if n["name"].endswith(f"-s{number}"))


account_id = create_account("drain")
key = create_user(account_id, "admin", "admin")
token = login(account_id, "admin")
ec2 = client("ec2", key)

vol = ec2.create_volume(AvailabilityZone=ZONE, Size=1, VolumeType="gp3")["VolumeId"]
wait_for("the volume available", lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] == "available")
files = wait_for("two replica files", lambda: len(replica_files(vol)) == 2 and replica_files(vol))
holders = sorted(files)
print(f"replicas on storage nodes {holders}")
for number in holders:
    qemu_io(vol, files[number], ["write -P 0x5a 1M 2M", "write -P 0xa5 700M 1M"])

drained_number = holders[0]
drained = node_of(drained_number)
(spare_number,) = {1, 2, 3} - set(holders)

# A tenant may not drain; an unknown node is 404.
eq(native("POST", f"/v1/block/nodes/{drained['node_id']}/drain", None, token)[0], 403, "tenant drain")
eq(native("POST", "/v1/block/nodes/no-such-node/drain", None, operator_token())[0], 404, "unknown node")

started = time.time()
answer = ok_native("POST", f"/v1/block/nodes/{drained['node_id']}/drain", None, operator_token())
eq((answer["node_id"], answer["draining"]), (drained["node_id"], True), "drain answer")
wait_for("the drained node to hold no replica",
         lambda: node_of(drained_number)["replicas"] == 0 and drained_number not in replica_files(vol))
print(f"drained in {time.time() - started:.1f} s")
after = replica_files(vol)
eq(sorted(after), sorted([holders[1], spare_number]), "replica files after the drain")
eq(node_of(spare_number)["replicas"], 1, "the spare's replicas")
eq(ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"], "available", "volume state")

compare = subprocess.run(["qemu-img", "compare", "-U", "-f", "qcow2", "-F", "qcow2",
                          after[holders[1]], after[spare_number]], capture_output=True, text=True)
eq(compare.returncode, 0, f"qemu-img compare of the two replicas: {compare.stdout}{compare.stderr}")
qemu_io(vol, after[spare_number], ["read -P 0 0 1M", "read -P 0x5a 1M 2M", "read -P 0xa5 700M 1M"])

# New volumes skip the draining node; undrain clears the flag.
other = ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
wait_for("the second volume available", lambda: ec2.describe_volumes(VolumeIds=[other])["Volumes"][0]["State"] == "available")
assert drained_number not in replica_files(other), replica_files(other)
answer = ok_native("POST", f"/v1/block/nodes/{drained['node_id']}/undrain", None, operator_token())
eq(answer["draining"], False, "undrain answer")

for v in (vol, other):
    ec2.delete_volume(VolumeId=v)
print("drain checks passed")
