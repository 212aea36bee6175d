"""EBS volumes in running containers with boto3 against a running `kumo up` with its compute
agent and two storage nodes (run by cli/tests/block_containers.rs).

Usage: containers.py ENDPOINT STATE_DIR [HOST_NAME_1 HOST_NAME_2 AGENT_PID_1 AGENT_PID_2]

With two compute hosts named, the writer runs on the first and the reader on the second
(placement pinned by enabling one host at a time): the volume moves between hosts. Then
the reader's host dies (its agent frozen with SIGSTOP): Force detach, and the volume is
attached on the writer's host again; the dead host, back, drops the device. Last, a second
volume moves between busybox VMs on the two hosts (written on one, read on the other).

A 2-replica volume is attached to a running busybox container: the agent opens both
replicas (NBD with TLS-PSK, quorum) in a local qemu-storage-daemon, exports it through
FUSE, binds a loop device and makes the block device node `/dev/sdf` in the container. The
container's user data waits for the node, writes a 64 MiB pattern with dd, syncs and prints
its md5sum on the console; DetachVolume: the volume is `available` again and the node goes
while the container keeps running. Attached to a second container at `/dev/xvdg`, the same
checksum reads back. Also Force detach, tenant isolation (B cannot attach A's volume to its
container, nor A's volume to A's container through B). Prints AttachVolume → device
visible in the container (read from the container's console file on this host).
Exit status 1 on any failure.
"""
import glob
import hashlib
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "network"))

from harness import client, create_account, create_user, login, ok_native, operator_token, state_dir  # noqa: E402
from common import PATTERN_BYTES, attachment_state, vm_script, eq, expect_code, instance, pattern, running, volume, wait_for  # noqa: E402

host_names = sys.argv[3:5]
# With two hosts: their agents' pids (host 1's, host 2's), to freeze one.
agent_pids = [int(p) for p in sys.argv[5:7]]

ZONE = "us-east-1a"


def marker(instance_id, prefix):
    """The rest of the first line of the container's console starting with PREFIX, or None."""
    found = glob.glob(os.path.join(state_dir, "**", instance_id, "console.log"), recursive=True)
    if not found:
        return None
    with open(found[0], "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            line = line.strip()
            if line.startswith(prefix):
                return line[len(prefix):].strip()
    return None


def container_script(volume_id, device, write):
    """User data: wait for the block device node, write the pattern (or read it back),
    print its md5sum, then wait for the node to go."""
    if write:
        work = (
            f'yes "kumo-pattern-{volume_id}" | head -c {PATTERN_BYTES} | dd of={device} bs=1M conv=fsync 2>/dev/null\n'
            "sync\n"
            f'echo "KUMO-VOL-WRITTEN: $(head -c {PATTERN_BYTES} {device} | md5sum | cut -d" " -f1)"\n'
        )
    else:
        work = f'echo "KUMO-VOL-READ: $(head -c {PATTERN_BYTES} {device} | md5sum | cut -d" " -f1)"\n'
    return (
        "#!/bin/sh\n"
        'echo "KUMO-VOL-WAITING"\n'
        f"while [ ! -b {device} ]; do usleep 20000; done\n"
        f'echo "KUMO-VOL-SEEN: {device}"\n'
        f'echo "KUMO-VOL-SIZE: $(blockdev --getsize64 {device})"\n'
        + work
        + f"while [ -b {device} ]; do usleep 100000; done\n"
        f'echo "KUMO-VOL-GONE: {device}"\n'
    )


def host_ids():
    """The named compute hosts' ids, once both are enrolled and reachable."""
    def reachable():
        by_name = {h["name"]: h for h in ok_native("GET", "/v1/hosts", None, operator_token())}
        if all(by_name.get(n, {}).get("reachable") for n in host_names):
            return [by_name[n]["host_id"] for n in host_names]
        return None

    return wait_for("both hosts reachable", reachable, seconds=90, interval=0.5)


def launch(ec2, image, user_data, on_host=None):
    """Run one instance; with ON_HOST (an index in HOSTS) only that host takes it."""
    if on_host is not None:
        for index, host_id in enumerate(HOSTS):
            action = "enable" if index == on_host else "disable"
            ok_native("POST", f"/v1/hosts/{host_id}/{action}", None, operator_token())
    try:
        return ec2.run_instances(
            ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, UserData=user_data
        )["Instances"][0]["InstanceId"]
    finally:
        for host_id in HOSTS:
            ok_native("POST", f"/v1/hosts/{host_id}/enable", None, operator_token())


HOSTS = host_ids() if host_names else []
accounts, account_ids = {}, {}
for name in ("a", "b"):
    account_ids[name] = create_account(f"containers-{name}")
    accounts[name] = create_user(account_ids[name], "admin", "admin")
a, b = client("ec2", accounts["a"]), client("ec2", accounts["b"])
images = a.describe_images()["Images"]
container_image = next(i["ImageId"] for i in images if i.get("Name") == "kumo-busybox-container")

vol = a.create_volume(AvailabilityZone=ZONE, Size=1, VolumeType="gp3")["VolumeId"]
wait_for(f"{vol} available", lambda: volume(a, vol)["State"] == "available")
eq(len(volume(a, vol).get("Attachments", [])), 0, "no attachment yet")
expected = hashlib.md5(pattern(vol)).hexdigest()

pinned = (0, 1) if HOSTS else (None, None)
writer = launch(a, container_image, container_script(vol, "/dev/sdf", write=True), pinned[0])
reader = launch(a, container_image, container_script(vol, "/dev/xvdg", write=False), pinned[1])
other = launch(b, container_image, "")
for ec2, iid in ((a, writer), (a, reader), (b, other)):
    wait_for(f"{iid} running", lambda ec2=ec2, iid=iid: running(ec2, iid))
for iid in (writer, reader):
    wait_for(f"{iid}'s script waiting", lambda iid=iid: marker(iid, "KUMO-VOL-WAITING") is not None)
print(f"containers running: writer {writer}, reader {reader}, B's {other}", flush=True)
if HOSTS:
    token = login(account_ids["a"], "admin")
    placed = [ok_native("GET", f"/v1/instances/{iid}", None, token)["host_id"] for iid in (writer, reader)]
    print(f"writer on {placed[0]}, reader on {placed[1]}", flush=True)
    eq(placed, HOSTS, "the writer and the reader on the two hosts")

# Tenant isolation: B cannot attach A's volume (to any instance), A cannot use B's container.
expect_code("InvalidVolume.NotFound", b.attach_volume, VolumeId=vol, InstanceId=other, Device="/dev/sdf")
expect_code("InvalidVolume.NotFound", b.attach_volume, VolumeId=vol, InstanceId=writer, Device="/dev/sdf")
expect_code("InvalidInstanceID.NotFound", a.attach_volume, VolumeId=vol, InstanceId=other, Device="/dev/sdf")
expect_code("InvalidParameterValue", a.attach_volume, VolumeId=vol, InstanceId=writer, Device="/dev/sda")

# ----------------------------------------------------------------- attach to the writer
started = time.monotonic()
print(f"AttachVolume at {time.strftime('%H:%M:%S', time.gmtime())}Z", flush=True)
answer = a.attach_volume(VolumeId=vol, InstanceId=writer, Device="/dev/sdf")
eq((answer["State"], answer["Device"], answer["InstanceId"]), ("attaching", "/dev/sdf", writer), "AttachVolume's answer")
seen = wait_for("the device in the container", lambda: marker(writer, "KUMO-VOL-SEEN:"), interval=0.05)
visible = time.monotonic() - started
print(f"BENCH AttachVolume -> block device visible in the container: {visible:.2f} s ({seen})", flush=True)
eq(seen, "/dev/sdf", "the device node")
eq(wait_for("the device's size", lambda: marker(writer, "KUMO-VOL-SIZE:")), str(1 << 30), "the device's size")
wait_for("attached", lambda: attachment_state(a, vol) == "attached")
with open(os.path.join(state_dir, "kumo-up.log"), errors="replace") as log:
    for line in log:
        if vol in line and ("attached" in line or "failed" in line):
            print("log:", line.rstrip()[:300], flush=True)
print(f"AttachVolume -> attachment 'attached': {time.monotonic() - started:.2f} s", flush=True)
eq(volume(a, vol)["State"], "in-use", "volume state while attached")
mapping = instance(a, writer)["BlockDeviceMappings"]
eq([(m["DeviceName"], m["Ebs"]["VolumeId"], m["Ebs"]["Status"]) for m in mapping],
   [("/dev/sdf", vol, "attached")], "blockDeviceMapping")
expect_code("VolumeInUse", a.attach_volume, VolumeId=vol, InstanceId=reader, Device="/dev/sdg")
expect_code("InvalidVolume.NotFound", b.detach_volume, VolumeId=vol)
written = wait_for("the pattern's checksum on the console", lambda: marker(writer, "KUMO-VOL-WRITTEN:"))
eq(written, expected, "checksum of the 64 MiB written by the container")

# ----------------------------------------------------------------- detach while it runs
started = time.monotonic()
eq(a.detach_volume(VolumeId=vol, InstanceId=writer)["State"], "detaching", "DetachVolume's answer")
wait_for("available after DetachVolume", lambda: volume(a, vol)["State"] == "available")
print(f"DetachVolume -> available: {time.monotonic() - started:.2f} s", flush=True)
wait_for("the node gone from the container", lambda: marker(writer, "KUMO-VOL-GONE:"))
eq(instance(a, writer)["State"]["Name"], "running", "the writer kept running")
eq(instance(a, writer)["BlockDeviceMappings"], [], "blockDeviceMapping after detach")

# ----------------------------------------------------------------- the second container
a.attach_volume(VolumeId=vol, InstanceId=reader, Device="/dev/xvdg")
wait_for("attached to the reader", lambda: attachment_state(a, vol) == "attached")
read = wait_for("the reader's checksum", lambda: marker(reader, "KUMO-VOL-READ:"))
eq(read, expected, "checksum read back by the second container")
print(f"second container read back {read}", flush=True)
# Force ends it at once; the live host takes the device away all the same. With two hosts
# the reader's host is dead meanwhile (its agent frozen with SIGSTOP): the volume goes back
# to the writer's host all the same, and the returning host drops the device.
frozen = agent_pids[1] if HOSTS else None
if frozen:
    os.kill(frozen, signal.SIGSTOP)
try:
    a.detach_volume(VolumeId=vol, Force=True)
    eq(volume(a, vol)["State"], "available", "state after a forced detach")
    if frozen:
        a.attach_volume(VolumeId=vol, InstanceId=writer, Device="/dev/sdh")
        wait_for("attached to the writer again", lambda: attachment_state(a, vol) == "attached")
        print("forced off a dead host, attached on the other host", flush=True)
        eq(marker(reader, "KUMO-VOL-GONE:"), None, "the dead host's container still has the device")
finally:
    if frozen:
        os.kill(frozen, signal.SIGCONT)
wait_for("the reader losing the device", lambda: marker(reader, "KUMO-VOL-GONE:") is not None)
if frozen:
    a.detach_volume(VolumeId=vol)
    wait_for("available after the last DetachVolume", lambda: volume(a, vol)["State"] == "available")

# ----------------------------------------------------------------- between VMs on two hosts
# With two hosts, the same volume moves between VMs too: a VM on the first host writes a
# new pattern (its QEMU dials the storage nodes' NBD exports from its host's namespace),
# detach while it runs, a VM on the second host reads the same checksum.
if HOSTS:
    vm_image = next(i["ImageId"] for i in images if i.get("Name") == "kumo-busybox-vm")
    moved = a.create_volume(AvailabilityZone=ZONE, Size=1, VolumeType="gp3")["VolumeId"]
    wait_for(f"{moved} available", lambda: volume(a, moved)["State"] == "available")
    vm_writer = launch(a, vm_image, vm_script(moved, write=True), 0)
    vm_reader = launch(a, vm_image, vm_script(moved, write=False), 1)
    for iid in (vm_writer, vm_reader):
        wait_for(f"{iid} running", lambda iid=iid: running(a, iid))
        wait_for(f"{iid}'s script waiting", lambda iid=iid: marker(iid, "KUMO-VOL-WAITING") is not None)
    token = login(account_ids["a"], "admin")
    placed = [ok_native("GET", f"/v1/instances/{iid}", None, token)["host_id"] for iid in (vm_writer, vm_reader)]
    eq(placed, HOSTS, "the VM writer and the VM reader on the two hosts")
    moved_sum = hashlib.md5(pattern(moved)).hexdigest()
    a.attach_volume(VolumeId=moved, InstanceId=vm_writer, Device="/dev/sdf")
    eq(wait_for("the VM writer's checksum", lambda: marker(vm_writer, "KUMO-VOL-WRITTEN:")), moved_sum,
       "checksum of the 64 MiB the VM on the first host wrote")
    a.detach_volume(VolumeId=moved, InstanceId=vm_writer)
    wait_for("the VM writer losing the disk", lambda: marker(vm_writer, "KUMO-VOL-GONE:") is not None)
    wait_for(f"{moved} available again", lambda: volume(a, moved)["State"] == "available")
    a.attach_volume(VolumeId=moved, InstanceId=vm_reader, Device="/dev/sdf")
    eq(wait_for("the VM reader's checksum", lambda: marker(vm_reader, "KUMO-VOL-READ:")), moved_sum,
       "checksum read back by the VM on the second host")
    print(f"a volume moved between VMs on two hosts: {moved_sum}", flush=True)
    a.detach_volume(VolumeId=moved, Force=True)
    a.terminate_instances(InstanceIds=[vm_writer, vm_reader])
    wait_for(f"{moved} available after the move", lambda: volume(a, moved)["State"] == "available")
    a.delete_volume(VolumeId=moved)

a.terminate_instances(InstanceIds=[writer, reader])
b.terminate_instances(InstanceIds=[other])
a.delete_volume(VolumeId=vol)
print("containers.py: all checks passed", flush=True)
