"""Replica loss and rebuild with boto3 against a running `kumo up --storage-nodes 1` with its
compute agent and one external storage node (run by cli/tests/block_replicas.rs, which
kills and restarts that node when asked through files in STATE_DIR/control/).

Usage: replicas.py ENDPOINT STATE_DIR EXTERNAL_NODE_DIR SPARE_NODE_DIR

A 2-replica volume (one replica on kumo up's node, one on the external one) is attached to
a busybox VM whose script writes numbered 4 KiB blocks to it without end (block i holds
`kumo-seq-<i>` lines; each written with dd conv=fsync: acknowledged once the flush is
done) and prints `KUMO-ACK: i uptime` per acknowledged block. The external node is killed
mid-stream: the writes go on (the first one waits out the NBD reconnect delay), and its
replica turns stale. The node comes back on the same directory (same identity): the host
rebuilds its replica and the service marks it in sync again (its log, and the native
GET /v1/volumes/{id}'s replicas_in_sync). Then a spare node joins and the external node
dies again, for longer than the replacement grace: the service places a replica on the
spare and the host rebuilds it. Then a second volume is attached as the writer's stop
signal; the guest reads back every acknowledged block (page cache dropped) and prints
their md5, which must be that of the blocks written. After DetachVolume kumo up's replica
and the spare's must be identical (`qemu-img compare`), and the returned replica must hold
every block acknowledged before its second death. Prints the write stalls at the losses,
the rebuild time and the time to a replacement in sync. Exit status 1 on any failure.
"""
import glob
import hashlib
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "network"))

from harness import client, create_account, create_user, login, ok_native, operator_token, state_dir  # noqa: E402
from common import WAIT, attachment_state, eq, running, volume, wait_for  # noqa: E402

ZONE = "us-east-1a"
BLOCK = 4096
external_dir, spare_dir = sys.argv[3], sys.argv[4]
control = os.path.join(state_dir, "control")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ask(request):
    """Ask the Rust side to kill or restart the external node, or start the spare; wait
    until it is done (then clear both files: a request may come again)."""
    asked, done = os.path.join(control, request), os.path.join(control, f"{request}.done")
    open(asked, "w").close()
    wait_for(f"{request} done", lambda: os.path.exists(done), interval=0.05)
    os.remove(asked)
    os.remove(done)


def console_lines(instance_id):
    found = glob.glob(os.path.join(state_dir, "**", instance_id, "console.log"), recursive=True)
    if not found:
        return []
    with open(found[0], "rb") as f:
        return [line.strip() for line in f.read().decode("utf-8", "replace").splitlines()]


def markers(instance_id, prefix):
    return [line[len(prefix):].strip() for line in console_lines(instance_id) if line.startswith(prefix)]


def acks(instance_id):
    """[(block, guest uptime)] of the acknowledged blocks, in order."""
    found = []
    for rest in markers(instance_id, "KUMO-ACK:"):
        parts = rest.split()
        if len(parts) == 2:
            found.append((int(parts[0]), float(parts[1])))
    return found


def block_bytes(i):
    line = f"kumo-seq-{i}\n".encode()
    return (line * (BLOCK // len(line) + 1))[:BLOCK]


def sync_events(volume_id):
    """[(node_id, in_sync)] of the service's 'replica sync state changed' log lines."""
    events = []
    with open(os.path.join(state_dir, "kumo-up.log"), errors="replace") as log:
        for line in log:
            if "replica sync state changed" not in line or volume_id not in line:
                continue
            line = ANSI.sub("", line)
            node = re.search(r'node_id="?([^"\s]+)', line)
            in_sync = re.search(r"in_sync=(true|false)", line)
            if node and in_sync:
                events.append((node.group(1), in_sync.group(1) == "true"))
    return events


def replicas_in_sync(volume_id):
    """The native GET's (replicas, replicas_in_sync) of the volume."""
    got = ok_native("GET", f"/v1/volumes/{volume_id}", None, token)
    return got["replicas"], got["replicas_in_sync"]


def block_nodes():
    return ok_native("GET", "/v1/block/nodes", None, operator_token())["nodes"]


def writer_script(volume_id, stop_volume_id):
    serial = volume_id.replace("-", "")[:20]
    stop_serial = stop_volume_id.replace("-", "")[:20]
    return (
        "#!/bin/sh\n"
        'echo "KUMO-VOL-WAITING"\n'
        "dev=\n"
        'while [ -z "$dev" ]; do\n'
        "  for s in /sys/block/vd*/serial; do\n"
        f'    [ -e "$s" ] && [ "$(cat "$s")" = "{serial}" ] && dev=$(basename $(dirname "$s"))\n'
        "  done\n"
        '  [ -z "$dev" ] && usleep 50000\n'
        "done\n"
        'echo "KUMO-VOL-SEEN: $dev"\n'
        "i=0\n"
        f'while ! grep -qx "{stop_serial}" /sys/block/vd*/serial 2>/dev/null; do\n'
        f'  yes "kumo-seq-$i" | head -c {BLOCK} > /run/block\n'
        f"  if dd if=/run/block of=/dev/$dev bs={BLOCK} seek=$i count=1 conv=fsync,notrunc 2>/dev/null; then\n"
        '    echo "KUMO-ACK: $i $(cut -d" " -f1 /proc/uptime)"\n'
        "    i=$((i + 1))\n"
        "  else\n"
        '    echo "KUMO-NACK: $i"\n'
        "    usleep 100000\n"
        "  fi\n"
        "done\n"
        'echo "KUMO-STOPPED: $i"\n'
        "echo 3 > /proc/sys/vm/drop_caches\n"
        f'echo "KUMO-READBACK: $i $(dd if=/dev/$dev bs={BLOCK} count=$i 2>/dev/null | md5sum | cut -d" " -f1)"\n'
    )


account_id = create_account("replicas")
key = create_user(account_id, "admin", "admin")
token = login(account_id, "admin")
ec2 = client("ec2", key)
vm_image = next(i["ImageId"] for i in ec2.describe_images()["Images"] if i.get("Name") == "kumo-busybox-vm")

# ----------------------------------------------------------------- two nodes, one volume
wait_for("two healthy block nodes", lambda: sum(1 for n in block_nodes() if n["healthy"]) == 2)
external = next(n["node_id"] for n in block_nodes() if n["name"] == "replicas-external")
vol = ec2.create_volume(AvailabilityZone=ZONE, Size=1, VolumeType="gp3")["VolumeId"]
stop = ec2.create_volume(AvailabilityZone=ZONE, Size=1, VolumeType="gp3")["VolumeId"]
for v in (vol, stop):
    wait_for(f"{v} available", lambda v=v: volume(ec2, v)["State"] == "available")
external_copy = os.path.join(external_dir, "block", f"{vol}.qcow2")
local_copies = [p for p in glob.glob(os.path.join(state_dir, "storage-node-*", "block", f"{vol}.qcow2"))]
assert os.path.exists(external_copy), f"no replica of {vol} on the external node"
eq(len(local_copies), 1, "replicas of the volume on kumo up's node")
eq(replicas_in_sync(vol), (2, 2), "replicas and in-sync replicas of the new volume")
print(f"volume {vol}: replicas {local_copies[0]} and {external_copy} (node {external})", flush=True)

writer = ec2.run_instances(
    ImageId=vm_image, InstanceType="t3.micro", MinCount=1, MaxCount=1, UserData=writer_script(vol, stop)
)["Instances"][0]["InstanceId"]
wait_for(f"{writer} running", lambda: running(ec2, writer))
wait_for("the writer's script waiting", lambda: markers(writer, "KUMO-VOL-WAITING"))
ec2.attach_volume(VolumeId=vol, InstanceId=writer, Device="/dev/sdf")
wait_for("attached", lambda: attachment_state(ec2, vol) == "attached")
wait_for("the device in the guest", lambda: markers(writer, "KUMO-VOL-SEEN:"))
wait_for("20 acknowledged blocks", lambda: len(acks(writer)) >= 20)
before = acks(writer)
gaps = [b[1] - a[1] for a, b in zip(before, before[1:])]
print(f"writing: {len(before)} blocks acknowledged, median gap {sorted(gaps)[len(gaps) // 2]:.3f} s", flush=True)

# ----------------------------------------------------------------- kill the external node
ask("kill")
killed_at = time.monotonic()
at_kill = len(acks(writer))
print(f"external node killed after {at_kill} acknowledged blocks", flush=True)
wait_for("40 more acknowledged blocks after the kill", lambda: len(acks(writer)) >= at_kill + 40)
after = acks(writer)
window = after[max(at_kill - 1, 0):]
stall = max(b[1] - a[1] for a, b in zip(window, window[1:]))
print(f"BENCH write stall at the loss (longest gap between acks): {stall:.2f} s", flush=True)
print(f"failed writes retried by the guest: {len(markers(writer, 'KUMO-NACK:'))}", flush=True)
eq([i for i, _ in after], list(range(len(after))), "acknowledged blocks in sequence")
wait_for("the lost replica stale", lambda: (external, False) in sync_events(vol))
# (The log line is written inside the transaction: the GET may lag it a moment.)
wait_for("GET: one replica in sync of two", lambda: replicas_in_sync(vol) == (2, 1), seconds=30)
print(f"replica on {external} marked stale {time.monotonic() - killed_at:.1f} s after the kill", flush=True)

# ----------------------------------------------------------------- it comes back
ask("restart")
returned_at = time.monotonic()
wait_for("the returned replica in sync", lambda: sync_events(vol)[-1:] == [(external, True)], seconds=2 * WAIT)
rebuild = time.monotonic() - returned_at
wait_for("GET: both replicas in sync", lambda: replicas_in_sync(vol) == (2, 2), seconds=30)
print(f"BENCH node back -> its replica rebuilt and in sync (1 GiB volume, written): {rebuild:.1f} s", flush=True)
eq(volume(ec2, vol)["State"], "in-use", "volume state after the rebuild")

# ----------------------------------------------------------------- killed again: replaced
# A spare node joins; the external node dies again and stays dead longer than the grace
# (KUMO_BLOCK_REPLACE_GRACE_SECS, set by block_replicas.rs): the service places a new
# replica on the spare, the host rebuilds it from the live copy.
ask("start-spare")
# Every block acknowledged so far is on the returned replica too (checked after the end).
on_returned = len(acks(writer))
wait_for("three healthy block nodes", lambda: sum(1 for n in block_nodes() if n["healthy"]) == 3)
spare = next(n["node_id"] for n in block_nodes() if n["name"] == "replicas-spare")
ask("kill")
killed_at = time.monotonic()
at_kill = len(acks(writer))
wait_for("20 more acknowledged blocks after the second kill", lambda: len(acks(writer)) >= at_kill + 20)
window = acks(writer)[max(at_kill - 1, 0):]
print(f"BENCH write stall at the second loss: {max(b[1] - a[1] for a, b in zip(window, window[1:])):.2f} s", flush=True)
wait_for("the replacement on the spare in sync", lambda: (spare, True) in sync_events(vol), seconds=2 * WAIT)
replaced = time.monotonic() - killed_at
wait_for("GET: both replicas in sync", lambda: replicas_in_sync(vol) == (2, 2), seconds=30)
print(f"BENCH node lost -> replacement on the spare rebuilt and in sync (grace included): {replaced:.1f} s", flush=True)
spare_copy = os.path.join(spare_dir, "block", f"{vol}.qcow2")
assert os.path.exists(spare_copy), f"no replica of {vol} on the spare"

# ----------------------------------------------------------------- stop, read back, compare
ec2.attach_volume(VolumeId=stop, InstanceId=writer, Device="/dev/sdg")
stopped = int(wait_for("the writer stopped", lambda: markers(writer, "KUMO-STOPPED:"))[0])
final = acks(writer)
eq(len(final), stopped, "acknowledged blocks when the writer stopped")
eq([i for i, _ in final], list(range(stopped)), "acknowledged blocks in sequence")
readback = wait_for("the read-back checksum", lambda: markers(writer, "KUMO-READBACK:"))[0].split()
expected = hashlib.md5(b"".join(block_bytes(i) for i in range(stopped))).hexdigest()
eq(readback, [str(stopped), expected], "md5 of every acknowledged block read back in the guest")
print(f"{stopped} acknowledged blocks ({stopped * BLOCK >> 10} KiB) read back intact", flush=True)

for v in (vol, stop):
    ec2.detach_volume(VolumeId=v, InstanceId=writer)
for v in (vol, stop):
    wait_for(f"{v} available after DetachVolume", lambda v=v: volume(ec2, v)["State"] == "available")
compare = subprocess.run(
    ["qemu-img", "compare", "-U", local_copies[0], spare_copy], capture_output=True, text=True
)
print(f"qemu-img compare: {compare.stdout.strip()} {compare.stderr.strip()}", flush=True)
eq(compare.returncode, 0, "qemu-img compare of kumo up's replica and the spare's (0: identical)")
# The returned replica, dead again since: it holds every block acknowledged before then.
raw = os.path.join(state_dir, "returned.raw")
subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", external_copy, raw], check=True)
with open(raw, "rb") as f:
    held = hashlib.md5(f.read(on_returned * BLOCK)).hexdigest()
os.remove(raw)
eq(held, hashlib.md5(b"".join(block_bytes(i) for i in range(on_returned))).hexdigest(),
   f"the {on_returned} blocks acknowledged before the second kill on the returned replica")

ec2.terminate_instances(InstanceIds=[writer])
for v in (vol, stop):
    ec2.delete_volume(VolumeId=v)
print("replicas.py: all checks passed", flush=True)
