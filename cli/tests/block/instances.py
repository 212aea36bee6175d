"""EBS-backed instances with boto3 against a running `kumo up` with its compute agent and
two storage nodes (run by cli/tests/block_instances.rs).

Usage: instances.py ENDPOINT STATE_DIR

The busybox VM image is EBS-backed (its disk.qcow2 is the root volume's source):
DescribeImages says so. A launch makes a root volume at /dev/xvda (sized by the mapping,
gp3, DeleteOnTermination true unless the mapping says otherwise) and the mapping's extra
volumes, all in DescribeVolumes and in DescribeInstances' blockDeviceMapping; the guest
boots from the root (its console's KUMO-ROOT line names the disk by the volume's serial)
and a file it writes on / (the boot count) survives a stop and start. The root cannot be
detached; DeleteOnTermination changes with ModifyInstanceAttribute; at termination the
volumes marked so are deleted and the others are `available`. Error codes and tenant
isolation too. Exit status 1 on any failure.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "network"))

from harness import client, create_account, create_user  # noqa: E402
from common import console_lines, eq, expect_code, instance, volume, volume_gone, wait_for  # noqa: E402


def state(ec2, instance_id):
    return instance(ec2, instance_id)["State"]["Name"]


def mappings(ec2, instance_id):
    return {m["DeviceName"]: m["Ebs"] for m in instance(ec2, instance_id)["BlockDeviceMappings"]}


def root_lines(instance_id):
    """Every KUMO-ROOT line of the VM's console (appended to across restarts)."""
    return console_lines(instance_id, "KUMO-ROOT:")


accounts = {}
for name in ("a", "b"):
    account_id = create_account(f"ebs-{name}")
    accounts[name] = create_user(account_id, "admin", "admin")
a, b = client("ec2", accounts["a"]), client("ec2", accounts["b"])

images = {i["Name"]: i for i in a.describe_images()["Images"]}
vm_image = images["kumo-busybox-vm"]
eq((vm_image["RootDeviceType"], vm_image["RootDeviceName"]), ("ebs", "/dev/xvda"), "the VM image's root device")
image_root = vm_image["BlockDeviceMappings"][0]
eq(image_root["DeviceName"], "/dev/xvda", "the image's root mapping")
eq(image_root["Ebs"]["DeleteOnTermination"], True, "the image's root DeleteOnTermination")
image_gib = image_root["Ebs"]["VolumeSize"]
eq(images["kumo-busybox-container"]["RootDeviceType"], "instance-store", "the container image")
eq(images["kumo-busybox-container"]["BlockDeviceMappings"], [], "the container image's mappings")

# ----------------------------------------------------------------- refusals
too_small = [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": image_gib - 1}}]
expect_code("InvalidBlockDeviceMapping", a.run_instances, ImageId=vm_image["ImageId"], MinCount=1, MaxCount=1, BlockDeviceMappings=too_small)
twice = [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}}, {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}}]
expect_code("InvalidBlockDeviceMapping", a.run_instances, ImageId=vm_image["ImageId"], MinCount=1, MaxCount=1, BlockDeviceMappings=twice)
expect_code("InvalidSnapshot.NotFound", a.run_instances, ImageId=vm_image["ImageId"], MinCount=1, MaxCount=1,
            BlockDeviceMappings=[{"DeviceName": "/dev/sdg", "Ebs": {"SnapshotId": "snap-0123456789abcdef0"}}])
eq(a.describe_volumes()["Volumes"], [], "no volume left by refused launches")

# ----------------------------------------------------------------- launches
keep = a.run_instances(
    ImageId=vm_image["ImageId"], InstanceType="t3.micro", MinCount=1, MaxCount=1,
    BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": image_gib + 1, "DeleteOnTermination": False}},
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1, "VolumeType": "gp2"}},
        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
    ],
)["Instances"][0]
eq((keep["RootDeviceType"], keep["RootDeviceName"]), ("ebs", "/dev/xvda"), "RunInstances' root device")
keep = keep["InstanceId"]
drop = a.run_instances(ImageId=vm_image["ImageId"], InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
for iid in (keep, drop):
    wait_for(f"{iid} running", lambda iid=iid: state(a, iid) == "running")
print(f"instances running: {keep} (kept root), {drop}", flush=True)

kept = mappings(a, keep)
eq(sorted(kept), ["/dev/sdf", "/dev/xvda"], "keep's devices")
root_keep, extra = kept["/dev/xvda"]["VolumeId"], kept["/dev/sdf"]["VolumeId"]
wait_for("attached", lambda: all(m["Status"] == "attached" for m in mappings(a, keep).values()))
eq(kept["/dev/xvda"]["DeleteOnTermination"], False, "keep's root DeleteOnTermination")
eq(kept["/dev/sdf"]["DeleteOnTermination"], True, "keep's extra DeleteOnTermination")
root_drop = mappings(a, drop)["/dev/xvda"]["VolumeId"]
eq(mappings(a, drop)["/dev/xvda"]["DeleteOnTermination"], True, "drop's root DeleteOnTermination")

described = volume(a, root_keep)
eq((described["State"], described["Size"], described["VolumeType"]), ("in-use", image_gib + 1, "gp3"), "keep's root volume")
attachment = described["Attachments"][0]
eq((attachment["InstanceId"], attachment["Device"], attachment["DeleteOnTermination"]), (keep, "/dev/xvda", False), "its attachment")
eq((volume(a, extra)["Size"], volume(a, extra)["VolumeType"]), (1, "gp2"), "the extra volume")
roots = a.describe_volumes(Filters=[{"Name": "attachment.device", "Values": ["/dev/xvda"]}])["Volumes"]
eq(sorted(v["VolumeId"] for v in roots), sorted([root_keep, root_drop]), "root volumes by attachment.device")

def instance_ids(ec2, filters):
    return sorted(i["InstanceId"] for r in ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"])


eq(instance_ids(a, [{"Name": "root-device-type", "Values": ["ebs"]}]), sorted([keep, drop]), "root-device-type filter")
eq(instance_ids(a, [{"Name": "block-device-mapping.volume-id", "Values": [root_keep]}]), [keep], "block-device-mapping.volume-id filter")
eq(instance_ids(a, [{"Name": "block-device-mapping.device-name", "Values": ["/dev/sdf"]}]), [keep], "block-device-mapping.device-name filter")

# The guest booted from its root volume (found by serial) and counted its first boot on /.
line = wait_for(f"{keep}'s KUMO-ROOT line", lambda: root_lines(keep))[0]
print(f"{keep}: KUMO-ROOT: {line}", flush=True)
eq(line.split()[1], root_keep.replace("-", "")[:20], "the root disk's serial")
assert line.endswith("boot 1"), line

# Attributes.
attribute = a.describe_instance_attribute(InstanceId=keep, Attribute="blockDeviceMapping")["BlockDeviceMappings"]
eq(sorted(m["DeviceName"] for m in attribute), ["/dev/sdf", "/dev/xvda"], "DescribeInstanceAttribute blockDeviceMapping")
eq(a.describe_instance_attribute(InstanceId=keep, Attribute="rootDeviceName")["RootDeviceName"]["Value"], "/dev/xvda", "rootDeviceName")
a.modify_instance_attribute(InstanceId=keep, BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"DeleteOnTermination": False}}])
eq(mappings(a, keep)["/dev/sdf"]["DeleteOnTermination"], False, "after ModifyInstanceAttribute")
expect_code("InvalidInstanceAttributeValue", a.modify_instance_attribute, InstanceId=keep,
            BlockDeviceMappings=[{"DeviceName": "/dev/sdz", "Ebs": {"DeleteOnTermination": False}}])

# The root stays put; other accounts see nothing of it.
expect_code("OperationNotPermitted", a.detach_volume, VolumeId=root_keep)
expect_code("OperationNotPermitted", a.detach_volume, VolumeId=root_keep, Force=True)
expect_code("VolumeInUse", a.delete_volume, VolumeId=root_keep)
expect_code("InvalidVolume.NotFound", b.describe_volumes, VolumeIds=[root_keep])
expect_code("InvalidVolume.NotFound", b.delete_volume, VolumeId=root_keep)
expect_code("InvalidInstanceID.NotFound", b.modify_instance_attribute, InstanceId=keep,
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"DeleteOnTermination": True}}])
expect_code("InvalidInstanceID.NotFound", b.describe_instance_attribute, InstanceId=keep, Attribute="blockDeviceMapping")
eq(b.describe_volumes()["Volumes"], [], "B's volumes")

# ----------------------------------------------------------------- stop and start: / persists
a.stop_instances(InstanceIds=[keep])
wait_for(f"{keep} stopped", lambda: state(a, keep) == "stopped")
eq(volume(a, root_keep)["State"], "in-use", "the root while stopped")
a.start_instances(InstanceIds=[keep])
wait_for(f"{keep} running again", lambda: state(a, keep) == "running")
lines = wait_for(f"{keep}'s second boot", lambda: [l for l in root_lines(keep) if l.endswith("boot 2")])
print(f"{keep}: KUMO-ROOT: {lines[0]}", flush=True)

# ----------------------------------------------------------------- termination
a.terminate_instances(InstanceIds=[keep, drop])
for iid in (keep, drop):
    wait_for(f"{iid} terminated", lambda iid=iid: state(a, iid) == "terminated")
wait_for(f"{root_drop} deleted", lambda: volume_gone(a, root_drop))
for vid in (root_keep, extra):
    wait_for(f"{vid} available", lambda vid=vid: volume(a, vid)["State"] == "available")
    eq(volume(a, vid)["Attachments"], [], f"{vid}'s attachments after termination")
    a.delete_volume(VolumeId=vid)
for vid in (root_keep, extra):
    wait_for(f"{vid} deleted", lambda vid=vid: volume_gone(a, vid))
print("EBS-backed instances: OK", flush=True)
