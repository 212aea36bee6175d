"""EBS images with boto3 against a running `kumo up` with its compute agent and two storage
nodes (run by cli/tests/block_images.rs).

Usage: images.py ENDPOINT STATE_DIR

A busybox VM (EBS-backed: its root is a volume) writes a file on / from its user data.
CreateImage (NoReboot; Kumo never reboots: the snapshots are crash-consistent) makes an
image `pending` until the root's snapshot is completed, then `available`, with an EBS
mapping naming the snapshot. A VM launched from it boots from a root volume restored from
that snapshot: the file is there, and the disk's boot count (KUMO-ROOT line) goes on from
the source's. RegisterImage with a root snapshot makes an image that launches the same
way. CreateImage of a stopped VM and RegisterImage with KernelId too. DeleteSnapshot of a
snapshot an image uses is InvalidSnapshot.InUse until the image
is deregistered. Another account cannot image A's instance, register A's snapshot, or see
A's images. Exit status 1 on any failure.
"""
import glob
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "network"))

from harness import client, create_account, create_user, state_dir  # noqa: E402
from common import eq, expect_code, instance, running, wait_for  # noqa: E402


def state(ec2, instance_id):
    return instance(ec2, instance_id)["State"]["Name"]


def image(ec2, image_id):
    return ec2.describe_images(ImageIds=[image_id])["Images"][0]


def console_lines(instance_id):
    found = glob.glob(os.path.join(state_dir, "**", instance_id, "console.log"), recursive=True)
    if not found:
        return []
    with open(found[0], "rb") as f:
        return [line.strip() for line in f.read().decode("utf-8", "replace").splitlines()]


def marker(instance_id, prefix):
    for line in console_lines(instance_id):
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


def launch(ec2, image_id, user_data):
    return ec2.run_instances(
        ImageId=image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1, UserData=user_data
    )["Instances"][0]["InstanceId"]


accounts = {}
for name in ("a", "b"):
    account_id = create_account(f"img-{name}")
    accounts[name] = create_user(account_id, "admin", "admin")
a, b = client("ec2", accounts["a"]), client("ec2", accounts["b"])
vm_image = {i["Name"]: i for i in a.describe_images()["Images"]}["kumo-busybox-vm"]["ImageId"]

# ----------------------------------------------------------------- the source VM writes on /
token = f"kumo-image-{os.getpid()}-{int(time.time())}"
writer = launch(a, vm_image, (
    "#!/bin/sh\n"
    f'echo "{token}" > /kumo-image-marker\n'
    "sync\n"
    'echo "KUMO-MARKER-WRITTEN: $(cat /kumo-image-marker)"\n'
))
wait_for(f"{writer} running", lambda: running(a, writer))
eq(wait_for("the marker written", lambda: marker(writer, "KUMO-MARKER-WRITTEN:")), token, "the marker on the source")
root_line = wait_for("the source's KUMO-ROOT line", lambda: marker(writer, "KUMO-ROOT:"))
assert root_line.endswith("boot 1"), root_line
print(f"{writer}: wrote {token} on /", flush=True)

# ----------------------------------------------------------------- CreateImage
expect_code("InvalidInstanceID.NotFound", b.create_image, InstanceId=writer, Name="stolen-image")
expect_code("InvalidInstanceID.NotFound", a.create_image, InstanceId="i-0123456789abcdef0", Name="no-such")
expect_code("InvalidParameterValue", a.create_image, InstanceId=writer, Name="bad*name")
started = time.time()
created = a.create_image(
    InstanceId=writer, Name="kumo-from-writer", Description="the writer's root", NoReboot=True,
    TagSpecifications=[
        {"ResourceType": "image", "Tags": [{"Key": "made-by", "Value": "create-image"}]},
        {"ResourceType": "snapshot", "Tags": [{"Key": "for", "Value": "an-image"}]},
    ],
)["ImageId"]
expect_code("InvalidAMIName.Duplicate", a.create_image, InstanceId=writer, Name="kumo-from-writer")
first = image(a, created)
assert first["State"] in ("pending", "available"), first["State"]
wait_for(f"{created} available", lambda: image(a, created)["State"] == "available")
print(f"CreateImage -> available: {time.time() - started:.1f} s", flush=True)
described = image(a, created)
eq((described["RootDeviceType"], described["RootDeviceName"]), ("ebs", "/dev/xvda"), "the image's root device")
eq((described["Name"], described["Description"]), ("kumo-from-writer", "the writer's root"), "name and description")
eq(described["Tags"], [{"Key": "made-by", "Value": "create-image"}], "the image's tags")
mapping = {m["DeviceName"]: m["Ebs"] for m in described["BlockDeviceMappings"]}
eq(sorted(mapping), ["/dev/xvda"], "the image's devices")
root = mapping["/dev/xvda"]
snap = root["SnapshotId"]
source_root = instance(a, writer)["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
source_size = a.describe_volumes(VolumeIds=[source_root])["Volumes"][0]["Size"]
eq((root["VolumeSize"], root["VolumeType"], root["DeleteOnTermination"]), (source_size, "gp3", True), "the root mapping")
described_snap = a.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]
eq((described_snap["State"], described_snap["VolumeId"]), ("completed", source_root), "the image's snapshot")
eq(described_snap["Tags"], [{"Key": "for", "Value": "an-image"}], "the snapshot's tags")
assert created in described_snap["Description"], described_snap["Description"]

# ----------------------------------------------------------------- RegisterImage with a root snapshot
expect_code("InvalidSnapshot.NotFound", b.register_image, Name="stolen-snapshot", RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}])
expect_code("InvalidBlockDeviceMapping", a.register_image, Name="no-root-snapshot", RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}}])
registered = a.register_image(
    Name="kumo-registered", RootDeviceName="/dev/xvda", Architecture="x86_64",
    BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap, "VolumeSize": source_size + 1}}],
)["ImageId"]
reg = image(a, registered)
eq((reg["State"], reg["RootDeviceType"]), ("available", "ebs"), "the registered image")
eq(reg["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"], snap, "the registered image's snapshot")
eq(reg["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"], source_size + 1, "the registered image's size")

# ----------------------------------------------------------------- isolation and InUse
expect_code("InvalidAMIID.NotFound", b.describe_images, ImageIds=[created])
eq(b.describe_images(Owners=["self"])["Images"], [], "B's images")
expect_code("InvalidAMIID.NotFound", b.run_instances, ImageId=created, MinCount=1, MaxCount=1)
expect_code("InvalidAMIID.NotFound", b.deregister_image, ImageId=created)
expect_code("InvalidSnapshot.NotFound", b.delete_snapshot, SnapshotId=snap)
try:
    a.delete_snapshot(SnapshotId=snap)
    raise AssertionError("DeleteSnapshot of an image's snapshot succeeded")
except Exception as e:  # noqa: BLE001 — botocore's ClientError
    eq(e.response["Error"]["Code"], "InvalidSnapshot.InUse", "DeleteSnapshot of the image's snapshot")
    assert f"The snapshot {snap} is currently in use by ami-" in e.response["Error"]["Message"], e.response["Error"]["Message"]

# ----------------------------------------------------------------- launches: the file is there
reader_script = '#!/bin/sh\necho "KUMO-MARKER-READ: $(cat /kumo-image-marker)"\n'
readers = [launch(a, created, reader_script), launch(a, registered, reader_script)]
for reader in readers:
    wait_for(f"{reader} running", lambda reader=reader: running(a, reader))
for reader, image_id in zip(readers, (created, registered)):
    got = instance(a, reader)
    eq((got["RootDeviceType"], got["RootDeviceName"], got["ImageId"]), ("ebs", "/dev/xvda", image_id), "the new VM's root")
    new_root = {m["DeviceName"]: m["Ebs"] for m in got["BlockDeviceMappings"]}["/dev/xvda"]["VolumeId"]
    vol = a.describe_volumes(VolumeIds=[new_root])["Volumes"][0]
    eq(vol["SnapshotId"], snap, "the new root's snapshot")
    line = wait_for(f"{reader}'s KUMO-ROOT line", lambda reader=reader: marker(reader, "KUMO-ROOT:"))
    print(f"{reader} ({image_id}): KUMO-ROOT: {line}", flush=True)
    eq(line.split()[1], new_root.replace("-", "")[:20], "the new root's serial")
    assert line.endswith("boot 2"), f"the restored root counts on from the source's boot: {line}"
    eq(wait_for(f"{reader}'s marker", lambda reader=reader: marker(reader, "KUMO-MARKER-READ:")), token, "the file from the image")

# ----------------------------------------------------------------- a stopped instance; KernelId
a.stop_instances(InstanceIds=[readers[1]])
wait_for(f"{readers[1]} stopped", lambda: state(a, readers[1]) == "stopped")
from_stopped = a.create_image(InstanceId=readers[1], Name="kumo-from-stopped")["ImageId"]
wait_for(f"{from_stopped} available", lambda: image(a, from_stopped)["State"] == "available")
stopped_snap = image(a, from_stopped)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
eq(image(a, from_stopped)["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"], source_size + 1, "the stopped VM's root size")
with_kernel = a.register_image(
    Name="kumo-with-kernel", RootDeviceName="/dev/xvda", KernelId=vm_image,
    BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": stopped_snap}}],
)["ImageId"]
eq(image(a, with_kernel)["State"], "available", "an image with KernelId")
expect_code("InvalidAMIID.NotFound", a.register_image, Name="no-such-kernel", RootDeviceName="/dev/xvda",
            KernelId="ami-0123456789abcdef0", BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": stopped_snap}}])
for image_id in (from_stopped, with_kernel):
    a.deregister_image(ImageId=image_id)
a.delete_snapshot(SnapshotId=stopped_snap)

# ----------------------------------------------------------------- clean-up: deregister frees the snapshot
a.terminate_instances(InstanceIds=[writer] + readers)
a.deregister_image(ImageId=created)
expect_code("InvalidSnapshot.InUse", a.delete_snapshot, SnapshotId=snap)
a.deregister_image(ImageId=registered)
expect_code("InvalidAMIID.NotFound", a.describe_images, ImageIds=[created])
eq(a.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"], "completed", "the snapshot after DeregisterImage")
a.delete_snapshot(SnapshotId=snap)
for iid in [writer] + readers:
    wait_for(f"{iid} terminated", lambda iid=iid: state(a, iid) == "terminated")
print("EBS images: OK", flush=True)
