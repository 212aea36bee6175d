"""AttachVolume / DetachVolume with boto3 against a running `kumo up` with its compute agent
and two storage nodes (run by cli/tests/block_attach.rs).

Usage: attach.py ENDPOINT STATE_DIR

A 2-replica volume is hot-plugged into a running busybox VM: the attachment goes
attaching → attached, the guest sees a virtio disk whose serial is the volume id (without
its dash: virtio-blk serials hold 20 bytes), writes a 64 MiB pattern to it, syncs and
prints its md5sum on the console. DetachVolume: the volume is `available` again and the
guest loses the disk. Attached to a second VM, the guest reads the same checksum back,
and again after that VM is stopped and started (a new QEMU plugs the volume again).
Also: DescribeVolumes' attachmentSet, DescribeInstances' blockDeviceMapping, AWS's error
codes (VolumeInUse, IncorrectState, InvalidAttachment.NotFound, bad devices) and tenant
isolation. Prints the time from AttachVolume to the
device showing in the guest (read from the VM's console file on this host).
Exit status 1 on any failure.
"""
import glob
import hashlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "network"))

from harness import client, create_account, create_user, state_dir  # noqa: E402
from common import PATTERN_BYTES, attachment_state, vm_script as guest_script, eq, expect_code, instance, pattern, running, volume, wait_for  # noqa: E402

ZONE = "us-east-1a"


def console_file(instance_id):
    """The VM's console log on this host (the agent's instance directory)."""
    found = glob.glob(os.path.join(state_dir, "**", instance_id, "console.log"), recursive=True)
    return found[0] if found else None


def console_lines(instance_id):
    path = console_file(instance_id)
    if not path:
        return []
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines()


def marker(instance_id, prefix):
    """The rest of the first console line starting with PREFIX, or None."""
    for line in console_lines(instance_id):
        line = line.strip()
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


def markers(instance_id, prefix):
    """The rest of every console line starting with PREFIX (the console file is appended to
    across restarts)."""
    return [line.strip()[len(prefix):].strip() for line in console_lines(instance_id) if line.strip().startswith(prefix)]


def launch(ec2, image, user_data):
    return ec2.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, UserData=user_data
    )["Instances"][0]["InstanceId"]


accounts = {}
for name in ("a", "b"):
    account_id = create_account(f"attach-{name}")
    accounts[name] = create_user(account_id, "admin", "admin")
a, b = client("ec2", accounts["a"]), client("ec2", accounts["b"])

images = a.describe_images()["Images"]
vm_image = next(i["ImageId"] for i in images if i.get("Name") == "kumo-busybox-vm")
container_image = next(i["ImageId"] for i in images if i.get("Name") == "kumo-busybox-container")

# ----------------------------------------------------------------- the volume (2 replicas)
vol = a.create_volume(AvailabilityZone=ZONE, Size=1, VolumeType="gp3")["VolumeId"]
wait_for(f"{vol} available", lambda: volume(a, vol)["State"] == "available")
expected = hashlib.md5(pattern(vol)).hexdigest()

writer = launch(a, vm_image, guest_script(vol, write=True))
reader = launch(a, vm_image, guest_script(vol, write=False))
container = launch(a, container_image, "")
other = launch(b, container_image, "")
for ec2, iid in ((a, writer), (a, reader), (a, container), (b, other)):
    wait_for(f"{iid} running", lambda ec2=ec2, iid=iid: running(ec2, iid))
print(f"instances running: writer {writer}, reader {reader}, container {container}, B's {other}", flush=True)
# The VMs have booted and their scripts wait for the disk (so the benchmark below does
# not count the guest's boot).
for iid in (writer, reader):
    wait_for(f"{iid}'s script waiting", lambda iid=iid: marker(iid, "KUMO-VOL-WAITING") is not None)

# ----------------------------------------------------------------- refusals
expect_code("InvalidParameterValue", a.attach_volume, VolumeId=vol, InstanceId=writer, Device="/dev/xvda")
expect_code("InvalidParameterValue", a.attach_volume, VolumeId=vol, InstanceId=writer, Device="sdf")
# (A container takes volumes too since issue 10's container path: cli/tests/block_containers.rs.)
expect_code("InvalidInstanceID.NotFound", a.attach_volume, VolumeId=vol, InstanceId="i-0123456789abcdef0", Device="/dev/sdf")
expect_code("InvalidVolume.NotFound", a.attach_volume, VolumeId="vol-0123456789abcdef0", InstanceId=writer, Device="/dev/sdf")
expect_code("IncorrectState", a.detach_volume, VolumeId=vol)
# Tenant isolation: B cannot attach A's volume (to any instance), A cannot use B's instance.
expect_code("InvalidVolume.NotFound", b.attach_volume, VolumeId=vol, InstanceId=other, Device="/dev/sdf")
expect_code("InvalidVolume.NotFound", b.attach_volume, VolumeId=vol, InstanceId=writer, Device="/dev/sdf")
expect_code("InvalidInstanceID.NotFound", a.attach_volume, VolumeId=vol, InstanceId=other, Device="/dev/sdf")
eq(volume(a, vol)["State"], "available", "state after refusals")

# ----------------------------------------------------------------- attach to the writer
started = time.monotonic()
print(f"AttachVolume at {time.strftime('%H:%M:%S', time.gmtime())}.{int(time.time() * 1000) % 1000:03d}Z", flush=True)
answer = a.attach_volume(VolumeId=vol, InstanceId=writer, Device="/dev/sdf")
eq((answer["State"], answer["Device"], answer["InstanceId"], answer["VolumeId"]), ("attaching", "/dev/sdf", writer, vol), "AttachVolume's answer")
seen = wait_for("the device in the guest", lambda: marker(writer, "KUMO-VOL-SEEN:"), interval=0.05)
visible = time.monotonic() - started
print(f"BENCH AttachVolume -> device visible in the guest: {visible:.2f} s ({seen})", flush=True)
eq(seen.split()[1], vol.replace("-", "")[:20], "the disk's serial")
wait_for("attached", lambda: attachment_state(a, vol) == "attached")
with open(os.path.join(state_dir, "kumo-up.log"), errors="replace") as log:
    for line in log:
        if "hot-plugged a volume" in line or "volume attached" in line:
            print("log:", line.rstrip(), flush=True)
attached_at = time.monotonic() - started
print(f"AttachVolume -> attachment 'attached' in DescribeVolumes: {attached_at:.2f} s", flush=True)
described = volume(a, vol)
eq(described["State"], "in-use", "volume state while attached")
eq((described["Attachments"][0]["InstanceId"], described["Attachments"][0]["Device"]), (writer, "/dev/sdf"), "attachmentSet")
mapping = instance(a, writer)["BlockDeviceMappings"]
# The busybox VM image is EBS-backed: its root volume is mapped at /dev/xvda too.
eq([(m["Ebs"]["Status"], m["Ebs"]["DeleteOnTermination"]) for m in mapping if m["DeviceName"] == "/dev/xvda"],
   [("attached", True)], "root volume in blockDeviceMapping")
mapping = [m for m in mapping if m["DeviceName"] != "/dev/xvda"]
eq([(m["DeviceName"], m["Ebs"]["VolumeId"], m["Ebs"]["Status"], m["Ebs"]["DeleteOnTermination"]) for m in mapping],
   [("/dev/sdf", vol, "attached", False)], "blockDeviceMapping")
assert "AttachTime" in mapping[0]["Ebs"], mapping
filtered = a.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [writer]}])["Volumes"]
eq([v["VolumeId"] for v in filtered if v["Attachments"][0]["Device"] != "/dev/xvda"], [vol], "attachment.instance-id filter")
expect_code("VolumeInUse", a.attach_volume, VolumeId=vol, InstanceId=reader, Device="/dev/sdg")
expect_code("VolumeInUse", a.delete_volume, VolumeId=vol)
expect_code("InvalidAttachment.NotFound", a.detach_volume, VolumeId=vol, InstanceId=reader)
expect_code("InvalidAttachment.NotFound", a.detach_volume, VolumeId=vol, Device="/dev/sdg")
expect_code("InvalidVolume.NotFound", b.detach_volume, VolumeId=vol)
expect_code("InvalidInstanceID.NotFound", b.describe_instances, InstanceIds=[writer])

written = wait_for("the pattern's checksum on the console", lambda: marker(writer, "KUMO-VOL-WRITTEN:"))
eq(written, expected, "checksum of the 64 MiB written by the guest")
# GetConsoleOutput shows it too (the agent uploads the console every other second;
# botocore decodes the base64).
def console_has_checksum():
    return f"KUMO-VOL-WRITTEN: {expected}" in (a.get_console_output(InstanceId=writer).get("Output") or "")


wait_for("the checksum in GetConsoleOutput", console_has_checksum, interval=1)

# ----------------------------------------------------------------- detach
started = time.monotonic()
answer = a.detach_volume(VolumeId=vol, InstanceId=writer, Device="/dev/sdf")
eq(answer["State"], "detaching", "DetachVolume's answer")
wait_for("available after DetachVolume", lambda: volume(a, vol)["State"] == "available")
print(f"DetachVolume -> available: {time.monotonic() - started:.2f} s", flush=True)
eq(volume(a, vol)["Attachments"], [], "attachmentSet after detach")
eq([m["DeviceName"] for m in instance(a, writer)["BlockDeviceMappings"]], ["/dev/xvda"], "blockDeviceMapping after detach (the root)")
wait_for("the guest losing the disk", lambda: marker(writer, "KUMO-VOL-GONE:"))
eq(instance(a, writer)["State"]["Name"], "running", "the writer kept running (no reboot)")

# ----------------------------------------------------------------- the second VM reads it back
a.attach_volume(VolumeId=vol, InstanceId=reader, Device="/dev/xvdf")
wait_for("attached to the reader", lambda: attachment_state(a, vol) == "attached")
read = wait_for("the reader's checksum", lambda: marker(reader, "KUMO-VOL-READ:"))
eq(read, expected, "checksum read back by the second VM")
print(f"second VM read back {read}", flush=True)
# Stopped and started again (a new QEMU), the VM gets the volume again: its script, run at
# the new boot, reads the same checksum.
a.stop_instances(InstanceIds=[reader])
wait_for("the reader stopped", lambda: instance(a, reader)["State"]["Name"] == "stopped")
eq(attachment_state(a, vol), "attached", "attachment of a stopped instance")
a.start_instances(InstanceIds=[reader])
wait_for("the reader running again", lambda: running(a, reader))
reread = wait_for("the checksum after the restart", lambda: markers(reader, "KUMO-VOL-READ:")[1:])
eq(reread, [expected], "checksum read back after the VM restarted")
print("restarted VM got the volume again", flush=True)
# Force detach ends it at once; the host unplugs it all the same.
a.detach_volume(VolumeId=vol, Force=True)
eq(volume(a, vol)["State"], "available", "state after a forced detach")
wait_for("the reader losing the disk", lambda: marker(reader, "KUMO-VOL-GONE:") is not None)

# ----------------------------------------------------------------- clean up
a.terminate_instances(InstanceIds=[writer, reader, container])
b.terminate_instances(InstanceIds=[other])
a.delete_volume(VolumeId=vol)
print("attach.py: all checks passed", flush=True)
