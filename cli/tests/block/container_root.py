"""Containers with an EBS root, with boto3 against a running `kumo up` with its compute
agent and two storage nodes (run by cli/tests/block_container_root.rs).

Usage: container_root.py ENDPOINT STATE_DIR

The busybox container image is instance-store: launched without a root mapping (or with
one that gives neither a size nor a snapshot) its root stays on the host and
DescribeInstances says `instance-store`. Launched with `/dev/xvda` mapped to an EBS volume
with a size, the container boots from a 2-replica root volume (`ebs`, `/dev/xvda`, in
DescribeVolumes and in blockDeviceMapping, attached, DeleteOnTermination as mapped); its
user data, run at every start, counts its boots in a file on `/` and prints `/`'s file
system type: ext4 (the volume), and the count goes on across a stop and start.
DeleteOnTermination true deletes the root at termination, false leaves it `available`; a
container launched from a snapshot of that root boots from its file system (the count goes
on).
Exit status 1 on any failure.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "network"))

from harness import client, create_account, create_user  # noqa: E402
from common import console_lines, eq, instance, volume, volume_gone, wait_for  # noqa: E402

ROOT = "/dev/xvda"
# Run at every start of the container: one more line in /boots, then `/`'s device, type
# and the count (the host's file system for instance store, a loop device for EBS).
BOOT_COUNTER = (
    "#!/bin/sh\n"
    "echo boot >> /boots\n"
    "sync\n"
    "echo \"KUMO-ROOTFS: $(grep ' / ' /proc/mounts | cut -d' ' -f1,3) $(wc -l < /boots)\"\n"
)


def rootfs_lines(instance_id):
    return console_lines(instance_id, "KUMO-ROOTFS:")


def state(ec2, instance_id):
    return instance(ec2, instance_id)["State"]["Name"]


def launch(ec2, image, mappings):
    kwargs = {"BlockDeviceMappings": mappings} if mappings else {}
    return ec2.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, UserData=BOOT_COUNTER, **kwargs
    )["Instances"][0]["InstanceId"]


account = create_account("container-root")
a = client("ec2", create_user(account, "admin", "admin"))
image = next(i["ImageId"] for i in a.describe_images()["Images"] if i.get("Name") == "kumo-busybox-container")

# Instance store: no mapping, or a root mapping with neither size nor snapshot.
plain = launch(a, image, None)
ignored = launch(a, image, [{"DeviceName": ROOT, "Ebs": {"DeleteOnTermination": True}}])
for instance_id in (plain, ignored):
    wait_for(f"{instance_id} running", lambda: state(a, instance_id) == "running")
    found = instance(a, instance_id)
    eq(found["RootDeviceType"], "instance-store", f"{instance_id}'s root device type")
    eq(found.get("BlockDeviceMappings", []), [], f"{instance_id}'s mappings")
    wait_for(f"{instance_id}'s root on the host", lambda: rootfs_lines(instance_id))
    assert not rootfs_lines(instance_id)[0].startswith("/dev/loop"), rootfs_lines(instance_id)

# EBS root: made, attached, the container's `/`.
kept = launch(a, image, [{"DeviceName": ROOT, "Ebs": {"VolumeSize": 1, "DeleteOnTermination": False}}])
ebs = launch(a, image, [{"DeviceName": ROOT, "Ebs": {"VolumeSize": 2, "VolumeType": "gp2"}}])
for instance_id, size, delete in ((kept, 1, False), (ebs, 2, True)):
    wait_for(f"{instance_id} running", lambda: state(a, instance_id) == "running")
    found = instance(a, instance_id)
    eq(found["RootDeviceType"], "ebs", f"{instance_id}'s root device type")
    eq(found["RootDeviceName"], ROOT, f"{instance_id}'s root device name")
    mapped = {m["DeviceName"]: m["Ebs"] for m in found["BlockDeviceMappings"]}
    eq(list(mapped), [ROOT], f"{instance_id}'s mappings")
    eq(mapped[ROOT]["DeleteOnTermination"], delete, "DeleteOnTermination")
    root = mapped[ROOT]["VolumeId"]
    wait_for(f"{root} attached", lambda: volume(a, root)["Attachments"][0]["State"] == "attached")
    eq(instance(a, instance_id)["BlockDeviceMappings"][0]["Ebs"]["Status"], "attached", "mapping status")
    found = volume(a, root)
    eq((found["State"], found["Size"]), ("in-use", size), f"{root}")
    eq(
        (found["Attachments"][0]["InstanceId"], found["Attachments"][0]["Device"]),
        (instance_id, ROOT),
        f"{root}'s attachment",
    )
    booted = wait_for(f"{instance_id} booted", lambda: rootfs_lines(instance_id))
    eq(len(booted), 1, f"{booted}")
    device, fs_type, count = booted[0].split()
    assert device.startswith("/dev/loop"), booted
    eq((fs_type, count), ("ext4", "1"), "first boot")
ebs_root = instance(a, ebs)["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
kept_root = instance(a, kept)["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
volumes = {v["VolumeId"] for v in a.describe_volumes()["Volumes"]}
assert {ebs_root, kept_root} <= volumes, volumes

# Stop and start: the same root, its file kept.
a.stop_instances(InstanceIds=[ebs])
wait_for(f"{ebs} stopped", lambda: state(a, ebs) == "stopped")
eq(volume(a, ebs_root)["State"], "in-use", "the stopped instance's root")
a.start_instances(InstanceIds=[ebs])
wait_for(f"{ebs} running again", lambda: state(a, ebs) == "running")
again = wait_for(f"{ebs} booted again", lambda: len(rootfs_lines(ebs)) == 2 and rootfs_lines(ebs))
eq([line.split()[1:] for line in again], [["ext4", "1"], ["ext4", "2"]], "boots")

# Termination: DeleteOnTermination true deletes the root, false leaves it available.
a.terminate_instances(InstanceIds=[plain, ignored, kept, ebs])
wait_for(f"{ebs_root} deleted", lambda: volume_gone(a, ebs_root))
wait_for(f"{kept_root} available", lambda: volume(a, kept_root)["State"] == "available")
eq(volume(a, kept_root).get("Attachments", []), [], "the kept root's attachments")

# A root from a snapshot of the kept root: its file system, its boot count goes on.
snapshot = a.create_snapshot(VolumeId=kept_root)["SnapshotId"]
wait_for(
    f"{snapshot} completed",
    lambda: a.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "completed",
)
restored = launch(a, image, [{"DeviceName": ROOT, "Ebs": {"SnapshotId": snapshot}}])
wait_for(f"{restored} running", lambda: state(a, restored) == "running")
eq(instance(a, restored)["RootDeviceType"], "ebs", "the restored container's root device type")
restored_root = instance(a, restored)["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
eq((volume(a, restored_root)["SnapshotId"], volume(a, restored_root)["Size"]), (snapshot, 1), "restored root")
booted = wait_for(f"{restored} booted", lambda: rootfs_lines(restored))
eq(booted[0].split()[1:], ["ext4", "2"], "the restored root's boot count")
a.terminate_instances(InstanceIds=[restored])
wait_for(f"{restored_root} deleted", lambda: volume_gone(a, restored_root))
a.delete_snapshot(SnapshotId=snapshot)
a.delete_volume(VolumeId=kept_root)
print("container_root.py: ok")
