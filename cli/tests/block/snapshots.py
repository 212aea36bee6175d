"""EBS snapshots with boto3 against a running `kumo up` with its compute agent and two
storage nodes (run by cli/tests/block_snapshots.rs).

Usage: snapshots.py ENDPOINT STATE_DIR

A busybox VM gets two 2-replica volumes: on the first it writes a 64 MiB pattern and
prints its md5sum; onto the second it writes a small ext4 filesystem (made here with
mkfs.ext4, sent xz-compressed in the user data), mounts it and keeps writing files with
fsync. CreateSnapshot of the first → completed; a volume restored from it, attached to a
second VM, reads the same checksum; that VM changes 1 MiB and a snapshot of the restored
volume uploads about one chunk (the dedup figure, from the storage node's log). A snapshot
of the second volume taken WHILE the guest writes restores to a filesystem e2fsck passes
(on the host, on a raw copy of the restored replica). Also CopySnapshot, DescribeSnapshots
(ids, Owner self, filters, pages), DeleteSnapshot, AWS's error codes and tenant isolation.
Exit status 1 on any failure.
"""
import base64
import glob
import hashlib
import lzma
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "network"))

from harness import client, create_account, create_user, error_code, state_dir  # noqa: E402

ZONE = "us-east-1a"
PATTERN_BYTES = 64 << 20
WAIT = 300
FS_MIB = 32


def eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


def expect_code(expected, fn, **kwargs):
    got = error_code(fn, **kwargs)
    assert got == expected, f"{fn.__name__}({kwargs}): expected {expected}, got {got}"


def wait_for(what, predicate, seconds=WAIT, interval=0.2):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def volume(ec2, volume_id):
    return ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]


def snapshot(ec2, snapshot_id):
    return ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]


def instance(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def console_lines(instance_id):
    found = glob.glob(os.path.join(state_dir, "**", instance_id, "console.log"), recursive=True)
    if not found:
        return []
    with open(found[0], "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines()


def marker(instance_id, prefix):
    for line in console_lines(instance_id):
        line = line.strip()
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


def pattern(volume_id):
    line = f"kumo-pattern-{volume_id}\n".encode()
    data = line * (PATTERN_BYTES // len(line) + 1)
    return data[:PATTERN_BYTES]


def find_disk(volume_id, var):
    """Shell: wait for the disk whose serial is the volume's, its name in $VAR."""
    serial = volume_id.replace("-", "")[:20]
    return (
        f"{var}=\n"
        f'while [ -z "${var}" ]; do\n'
        "  for s in /sys/block/vd*/serial; do\n"
        f'    [ -e "$s" ] && [ "$(cat "$s")" = "{serial}" ] && {var}=$(basename $(dirname "$s"))\n'
        "  done\n"
        f'  [ -z "${var}" ] && usleep 50000\n'
        "done\n"
    )


def ext4_image():
    """A small ext4 filesystem (with a journal), xz-compressed and base64'd."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fs.img")
        with open(path, "wb") as f:
            f.truncate(FS_MIB << 20)
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-b", "1024", "-N", "128", "-J", "size=1",
             "-E", "lazy_itable_init=0,lazy_journal_init=0", path],
            check=True,
        )
        with open(path, "rb") as f:
            return base64.b64encode(lzma.compress(f.read(), preset=9 | lzma.PRESET_EXTREME)).decode()


def writer_script(raw_volume, fs_volume):
    """Pattern onto RAW_VOLUME; an ext4 onto FS_VOLUME, mounted and written to forever."""
    return (
        "#!/bin/sh\n"
        'echo "KUMO-SNAP-WAITING"\n'
        + find_disk(raw_volume, "raw")
        + f'yes "kumo-pattern-{raw_volume}" | head -c {PATTERN_BYTES} | dd of=/dev/$raw bs=1M conv=fsync 2>/dev/null\n'
        "sync\n"
        f'echo "KUMO-VOL-WRITTEN: $(head -c {PATTERN_BYTES} /dev/$raw | md5sum | cut -d" " -f1)"\n'
        + find_disk(fs_volume, "fs")
        + f'echo "{ext4_image()}" | base64 -d | xzcat | dd of=/dev/$fs bs=1M conv=fsync 2>/dev/null\n'
        "for m in crc16 mbcache jbd2 crc32c_generic ext4; do\n"
        '  f=$(find /lib/modules -name "$m.ko*" 2>/dev/null | head -n 1)\n'
        '  [ -n "$f" ] && insmod "$f" 2>/dev/null\n'
        "done\n"
        "mkdir -p /mnt/fs\n"
        'mount -t ext4 /dev/$fs /mnt/fs || echo "KUMO-FS-MOUNT-FAILED"\n'
        'echo "KUMO-FS-WRITING"\n'
        "i=0\n"
        "while :; do\n"
        "  mkdir -p /mnt/fs/d$((i % 7))\n"
        "  dd if=/dev/urandom of=/mnt/fs/d$((i % 7))/f$((i % 40)) bs=16k count=$((i % 8 + 1)) conv=fsync 2>/dev/null\n"
        "  [ $((i % 5)) -eq 0 ] && rm -f /mnt/fs/d$((i % 7))/f$(((i + 3) % 40))\n"
        "  i=$((i + 1))\n"
        "done\n"
    )


def reader_script(volume_id):
    """Read the pattern back, then change 1 MiB (at 10 MiB) and say so."""
    return (
        "#!/bin/sh\n"
        'echo "KUMO-SNAP-WAITING"\n'
        + find_disk(volume_id, "dev")
        + f'echo "KUMO-VOL-READ: $(head -c {PATTERN_BYTES} /dev/$dev | md5sum | cut -d" " -f1)"\n'
        "dd if=/dev/urandom of=/dev/$dev bs=1M count=1 seek=10 conv=fsync 2>/dev/null\n"
        "sync\n"
        'echo "KUMO-VOL-CHANGED"\n'
    )


def launch(ec2, image, user_data):
    return ec2.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, UserData=user_data
    )["Instances"][0]["InstanceId"]


def running(ec2, instance_id):
    state = instance(ec2, instance_id)["State"]["Name"]
    assert state in ("pending", "running"), f"{instance_id} is {state}"
    return state == "running"


def completed(ec2, snapshot_id):
    state = snapshot(ec2, snapshot_id)
    assert state["State"] != "error", state
    return state["State"] == "completed"


def taken(snapshot_id):
    """(chunks, uploaded) from the storage node's `snapshot taken` log line."""
    with open(os.path.join(state_dir, "kumo-up.log"), errors="replace") as log:
        for line in log:
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)
            if "snapshot taken" in line and snapshot_id in line:
                chunks = int(re.search(r"chunks=(\d+)", line).group(1))
                uploaded = int(re.search(r"uploaded=(\d+)", line).group(1))
                return chunks, uploaded
    return None


def take(ec2, volume_id, description):
    started = time.monotonic()
    snap = ec2.create_snapshot(
        VolumeId=volume_id,
        Description=description,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "Name", "Value": description}]}],
    )
    eq((snap["State"], snap["VolumeId"], snap["VolumeSize"], snap["Description"]),
       ("pending", volume_id, 1, description), "CreateSnapshot's answer")
    wait_for(f"{snap['SnapshotId']} completed", lambda: completed(ec2, snap["SnapshotId"]))
    elapsed = time.monotonic() - started
    stats = wait_for("the node's log line", lambda: taken(snap["SnapshotId"]), seconds=30)
    print(f"BENCH snapshot {description}: {elapsed:.2f} s, chunks {stats[0]}, uploaded {stats[1]}", flush=True)
    return snap["SnapshotId"], stats


def restore(ec2, snapshot_id):
    vol = ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=snapshot_id)
    eq((vol["Size"], vol["SnapshotId"]), (1, snapshot_id), "CreateVolume from a snapshot")
    started = time.monotonic()
    wait_for(f"{vol['VolumeId']} available", lambda: volume(ec2, vol["VolumeId"])["State"] == "available")
    print(f"restored {snapshot_id} into {vol['VolumeId']} in {time.monotonic() - started:.2f} s", flush=True)
    return vol["VolumeId"]


def replica_file(volume_id):
    found = glob.glob(os.path.join(state_dir, "**", f"{volume_id}.qcow2"), recursive=True)
    assert found, f"no replica file of {volume_id} under {state_dir}"
    return found[0]


accounts = {}
for name in ("a", "b"):
    account_id = create_account(f"snap-{name}")
    accounts[name] = (account_id, create_user(account_id, "admin", "admin"))
a, b = client("ec2", accounts["a"][1]), client("ec2", accounts["b"][1])
a_account = accounts["a"][0]

images = a.describe_images()["Images"]
vm_image = next(i["ImageId"] for i in images if i.get("Name") == "kumo-busybox-vm")

raw = a.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
fs = a.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
for v in (raw, fs):
    wait_for(f"{v} available", lambda v=v: volume(a, v)["State"] == "available")
expected = hashlib.md5(pattern(raw)).hexdigest()

# ----------------------------------------------------------------- refusals before any data
expect_code("InvalidVolume.NotFound", a.create_snapshot, VolumeId="vol-0123456789abcdef0")
expect_code("InvalidVolume.NotFound", b.create_snapshot, VolumeId=raw)
expect_code("InvalidSnapshot.NotFound", a.describe_snapshots, SnapshotIds=["snap-0123456789abcdef0"])
expect_code("InvalidSnapshot.NotFound", a.delete_snapshot, SnapshotId="snap-0123456789abcdef0")
expect_code("InvalidSnapshot.NotFound", a.create_volume, AvailabilityZone=ZONE, SnapshotId="snap-0123456789abcdef0")
expect_code("InvalidSnapshotID.Malformed", a.describe_snapshots, SnapshotIds=["snap-zz"])

writer = launch(a, vm_image, writer_script(raw, fs))
wait_for(f"{writer} running", lambda: running(a, writer))
wait_for("the writer's script", lambda: marker(writer, "KUMO-SNAP-WAITING") is not None)
a.attach_volume(VolumeId=raw, InstanceId=writer, Device="/dev/sdf")
a.attach_volume(VolumeId=fs, InstanceId=writer, Device="/dev/sdg")
written = wait_for("the pattern's checksum", lambda: marker(writer, "KUMO-VOL-WRITTEN:"))
eq(written, expected, "checksum written by the guest")

# ----------------------------------------------------------------- a snapshot of the pattern
first, (chunks, uploaded) = take(a, raw, "pattern")
assert chunks >= 64, f"a 64 MiB pattern is at least 64 chunks, got {chunks}"
described = snapshot(a, first)
eq((described["OwnerId"], described["Progress"], described["Encrypted"]), (a_account, "100%", False), "DescribeSnapshots")
eq(described["Tags"], [{"Key": "Name", "Value": "pattern"}], "tags")
eq([s["SnapshotId"] for s in a.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [raw]}])["Snapshots"]],
   [first], "Owner self + volume-id filter")
eq(a.describe_snapshots(OwnerIds=["amazon"])["Snapshots"], [], "Owner amazon")
eq(b.describe_snapshots()["Snapshots"], [], "B's snapshots")
expect_code("InvalidSnapshot.NotFound", b.describe_snapshots, SnapshotIds=[first])
expect_code("InvalidSnapshot.NotFound", b.create_volume, AvailabilityZone=ZONE, SnapshotId=first)
expect_code("InvalidSnapshot.NotFound", b.copy_snapshot, SourceSnapshotId=first, SourceRegion="us-east-1")
expect_code("InvalidSnapshot.NotFound", b.delete_snapshot, SnapshotId=first)
attribute = a.describe_snapshot_attribute(SnapshotId=first, Attribute="createVolumePermission")
eq(attribute["CreateVolumePermissions"], [], "createVolumePermission")

# ----------------------------------------------------------------- the ext4 while it is written
wait_for("the guest writing files", lambda: marker(writer, "KUMO-FS-WRITING") is not None)
assert marker(writer, "KUMO-FS-MOUNT-FAILED") is None, "the guest could not mount the ext4"
time.sleep(3)
live, _ = take(a, fs, "while-writing")

# ----------------------------------------------------------------- restore and read back
restored = restore(a, first)
reader = launch(a, vm_image, reader_script(restored))
wait_for(f"{reader} running", lambda: running(a, reader))
wait_for("the reader's script", lambda: marker(reader, "KUMO-SNAP-WAITING") is not None)
a.attach_volume(VolumeId=restored, InstanceId=reader, Device="/dev/sdf")
read = wait_for("the reader's checksum", lambda: marker(reader, "KUMO-VOL-READ:"))
eq(read, expected, "checksum of the volume restored from the snapshot")
print(f"restored volume reads back {read}", flush=True)
wait_for("the reader's 1 MiB change", lambda: marker(reader, "KUMO-VOL-CHANGED") is not None)
second, (chunks2, uploaded2) = take(a, restored, "changed-1MiB")
assert uploaded2 <= 2, f"a snapshot after changing 1 MiB uploaded {uploaded2} chunks"
print(f"BENCH dedup: second snapshot (1 MiB changed) uploaded {uploaded2} of {chunks2} chunks "
      f"(the first uploaded {uploaded} of {chunks})", flush=True)

# ----------------------------------------------------------------- fsck of the live snapshot
fs_restored = restore(a, live)
with tempfile.TemporaryDirectory() as tmp:
    copy = os.path.join(tmp, "fs.raw")
    subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", replica_file(fs_restored), copy], check=True)
    with open(copy, "r+b") as f:
        f.truncate(FS_MIB << 20)
    replay = subprocess.run(["e2fsck", "-fy", copy], capture_output=True, text=True)
    check = subprocess.run(["e2fsck", "-fn", copy], capture_output=True, text=True)
    print(f"e2fsck after journal replay: exit {check.returncode}\n{check.stdout.strip()}", flush=True)
    assert replay.returncode in (0, 1), f"e2fsck -fy: {replay.returncode}\n{replay.stdout}{replay.stderr}"
    eq(check.returncode, 0, "e2fsck -fn of the snapshot taken while the guest wrote")
    listing = subprocess.run(["debugfs", "-R", "ls -l /d0", copy], capture_output=True, text=True)
    assert "f0" in listing.stdout or "f" in listing.stdout, listing.stdout

# ----------------------------------------------------------------- copy, pages, delete
copy_id = a.copy_snapshot(SourceSnapshotId=first, SourceRegion="us-east-1", Description="copy")["SnapshotId"]
copied = snapshot(a, copy_id)
eq((copied["State"], copied["VolumeSize"], copied["Description"]), ("completed", 1, "copy"), "CopySnapshot")
page = a.describe_snapshots(MaxResults=5)
eq(len(page["Snapshots"]), 4, "one page holds them all")
expect_code("InvalidParameterCombination", a.describe_snapshots, SnapshotIds=[first], MaxResults=5)
expect_code("IncorrectState", a.create_snapshot, VolumeId=a.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"])
for snap_id in (first, copy_id, second, live):
    a.delete_snapshot(SnapshotId=snap_id)
expect_code("InvalidSnapshot.NotFound", a.describe_snapshots, SnapshotIds=[first])
eq(a.describe_snapshots()["Snapshots"], [], "all deleted")

# ----------------------------------------------------------------- clean up
a.terminate_instances(InstanceIds=[writer, reader])
print("snapshots.py: all checks passed", flush=True)
