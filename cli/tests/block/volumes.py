"""EBS volumes with boto3 against a running `kumo up` (run by cli/tests/block_volumes.rs).

Usage: volumes.py ENDPOINT STATE_DIR

CreateVolume (defaults per type, tags, ClientToken), DescribeVolumes (ids, filters, pages),
the volume going `creating` → `available` on `kumo up`'s own storage node (its block role
exports the replica), DescribeVolumeStatus/DescribeVolumeAttribute, CreateTags on a
volume, ModifyVolume + DescribeVolumesModifications, DeleteVolume until the volume is gone;
AWS's codes for bad sizes, zones, snapshots and ids; account B sees none of A's volumes.
Exit status 1 on any failure.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "network"))

from harness import client, create_account, create_user, error_code, login, native, ok_native, operator_token, run_tag  # noqa: E402

ZONE = "us-east-1a"


def eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


def expect_code(expected, fn, **kwargs):
    got = error_code(fn, **kwargs)
    assert got == expected, f"{fn.__name__}({kwargs}): expected {expected}, got {got}"


def volume(ec2, volume_id):
    return ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]


def wait_state(ec2, volume_id, state, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if volume(ec2, volume_id)["State"] == state:
            return True
        time.sleep(0.5)
    return False


accounts, tokens = {}, {}
for name in ("a", "b"):
    account_id = create_account(f"vol-{name}")
    accounts[name] = create_user(account_id, "admin", "admin")
    tokens[name] = login(account_id, "admin")
a, b = client("ec2", accounts["a"]), client("ec2", accounts["b"])

# ----------------------------------------------------------------- create
created = a.create_volume(
    AvailabilityZone=ZONE,
    Size=2,
    VolumeType="gp3",
    ClientToken=f"vol-{run_tag}",
    TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "data"}]}],
)
vol = created["VolumeId"]
eq(created["State"], "creating", "state at creation")
eq((created["Size"], created["VolumeType"], created["Iops"], created["Throughput"]), (2, "gp3", 3000, 125), "gp3 defaults")
eq((created["Encrypted"], created["AvailabilityZone"], created["Tags"]), (False, ZONE, [{"Key": "Name", "Value": "data"}]), "fields")
again = a.create_volume(AvailabilityZone=ZONE, Size=2, VolumeType="gp3", ClientToken=f"vol-{run_tag}",
                        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "data"}]}])
eq(again["VolumeId"], vol, "ClientToken retry")
expect_code("IdempotentParameterMismatch", a.create_volume, AvailabilityZone=ZONE, Size=3, VolumeType="gp3", ClientToken=f"vol-{run_tag}")
gp2 = a.create_volume(AvailabilityZone=ZONE, Size=1)
eq((gp2["VolumeType"], gp2["Iops"], "Throughput" in gp2), ("gp2", 100, False), "gp2 defaults")

# ----------------------------------------------------------------- errors
expect_code("InvalidParameterValue", a.create_volume, AvailabilityZone=ZONE, Size=0)
expect_code("InvalidParameterValue", a.create_volume, AvailabilityZone=ZONE, Size=16385)
expect_code("InvalidParameterValue", a.create_volume, AvailabilityZone=ZONE, Size=10, VolumeType="st1")
expect_code("InvalidParameterValue", a.create_volume, AvailabilityZone=ZONE, Size=10, VolumeType="io1", Iops=1000)
expect_code("InvalidParameterCombination", a.create_volume, AvailabilityZone=ZONE, Size=10, Iops=300)
expect_code("InvalidZone.NotFound", a.create_volume, AvailabilityZone="us-east-1z", Size=1)
expect_code("InvalidSnapshot.NotFound", a.create_volume, AvailabilityZone=ZONE, SnapshotId="snap-0123456789abcdef0")
expect_code("InvalidVolume.NotFound", a.describe_volumes, VolumeIds=["vol-0123456789abcdef0"])
expect_code("InvalidVolumeID.Malformed", a.describe_volumes, VolumeIds=["vol-nope"])
expect_code("InvalidVolume.NotFound", a.delete_volume, VolumeId="vol-0123456789abcdef0")

# ----------------------------------------------------------------- describe
eq([v["VolumeId"] for v in a.describe_volumes()["Volumes"]], [vol, gp2["VolumeId"]], "listing, oldest first")
eq([v["VolumeId"] for v in a.describe_volumes(Filters=[{"Name": "volume-type", "Values": ["gp3"]}])["Volumes"]], [vol], "volume-type filter")
eq([v["VolumeId"] for v in a.describe_volumes(Filters=[{"Name": "tag:Name", "Values": ["data"]}])["Volumes"]], [vol], "tag filter")
eq([v["VolumeId"] for v in a.describe_volumes(Filters=[{"Name": "size", "Values": ["1"]}])["Volumes"]], [gp2["VolumeId"]], "size filter")
expect_code("InvalidParameterValue", a.describe_volumes, Filters=[{"Name": "bogus", "Values": ["x"]}])
pages, token = [], None
while True:
    page = a.describe_volumes(MaxResults=5, **({"NextToken": token} if token else {}))
    pages += [v["VolumeId"] for v in page["Volumes"]]
    token = page.get("NextToken")
    if not token:
        break
eq(pages, [vol, gp2["VolumeId"]], "pages")

# ----------------------------------------------------------------- tags, status, attribute
a.create_tags(Resources=[vol], Tags=[{"Key": "team", "Value": "storage"}])
tags = {t["Key"]: t["Value"] for t in a.describe_tags(Filters=[{"Name": "resource-id", "Values": [vol]}])["Tags"]}
eq(tags, {"Name": "data", "team": "storage"}, "tags")
eq(a.describe_tags(Filters=[{"Name": "resource-id", "Values": [vol]}])["Tags"][0]["ResourceType"], "volume", "resource type")
expect_code("InvalidVolume.NotFound", b.create_tags, Resources=[vol], Tags=[{"Key": "x", "Value": "y"}])
attribute = a.describe_volume_attribute(VolumeId=vol, Attribute="autoEnableIO")
eq(attribute["AutoEnableIO"]["Value"], False, "autoEnableIO")

# ----------------------------------------------------------------- the storage node's block role
available = wait_state(a, vol, "available")
if available:
    print("ok: the volume became available on kumo up's storage node")
    status = a.describe_volume_status(VolumeIds=[vol])["VolumeStatuses"][0]
    eq(status["VolumeStatus"]["Status"], "ok", "volume status")
    modification = a.modify_volume(VolumeId=vol, Size=4)["VolumeModification"]
    eq((modification["OriginalSize"], modification["TargetSize"], modification["ModificationState"]), (2, 4, "modifying"), "modification")
    expect_code("InvalidParameterValue", a.modify_volume, VolumeId=gp2["VolumeId"], Size=1) if volume(a, gp2["VolumeId"])["State"] == "available" else None
    deadline = time.time() + 60
    while time.time() < deadline:
        state = a.describe_volumes_modifications(VolumeIds=[vol])["VolumesModifications"][0]["ModificationState"]
        if state == "completed":
            break
        time.sleep(0.5)
    eq(state, "completed", "modification state")
    eq(volume(a, vol)["Size"], 4, "grown size")
else:
    print("SKIP available: the volume stayed creating (no block role on kumo up's storage node)")
    expect_code("IncorrectState", a.modify_volume, VolumeId=vol, Size=4)

nodes = ok_native("GET", "/v1/block/nodes", token=operator_token())["nodes"]
assert nodes and sum(n["replicas"] for n in nodes) >= 1, nodes

# ----------------------------------------------------------------- isolation
eq(b.describe_volumes()["Volumes"], [], "B's listing")
expect_code("InvalidVolume.NotFound", b.describe_volumes, VolumeIds=[vol])
expect_code("InvalidVolume.NotFound", b.delete_volume, VolumeId=vol)
expect_code("InvalidVolume.NotFound", b.modify_volume, VolumeId=vol, Size=10)
expect_code("InvalidVolume.NotFound", b.describe_volume_attribute, VolumeId=vol, Attribute="productCodes")

# ----------------------------------------------------------------- the native API
zone = volume(a, vol)["AvailabilityZone"]
made = ok_native("POST", "/v1/volumes", {"zone": zone, "size_gib": 1, "volume_type": "gp3",
                                         "tags": {"Name": "native"}}, tokens["a"])
native_vol = made["volume_id"]
eq((made["size_gib"], made["volume_type"]), (1, "gp3"), "native CreateVolume")
eq(native("GET", f"/v1/volumes/{native_vol}", None, tokens["b"])[0], 404, "B reading A's volume")
status, body = native("POST", f"/v1/volumes/{native_vol}/attachment",
                      {"instance_id": "i-0123456789abcdef0", "device": "/dev/sdf"}, tokens["a"])
eq((status, "i-0123456789abcdef0" in body["error"]["message"]), (404, True), f"native attach to no instance: {body}")
status, body = native("DELETE", f"/v1/volumes/{native_vol}/attachment", None, tokens["a"])
eq(status, 409, f"native detach of a detached volume: {body}")
if available and wait_state(a, native_vol, "available"):
    snap = ok_native("POST", "/v1/snapshots", {"volume_id": native_vol, "description": "native"}, tokens["a"])
    snap_id = snap["snapshot_id"]
    eq((snap["volume_id"], snap["state"]), (native_vol, "pending"), "native CreateSnapshot")
    deadline = time.time() + 120
    while time.time() < deadline and snap["state"] == "pending":
        time.sleep(0.5)
        snap = ok_native("GET", f"/v1/snapshots/{snap_id}", None, tokens["a"])
    eq(snap["state"], "completed", "native snapshot state")
    listed = ok_native("GET", f"/v1/snapshots?volume_id={native_vol}", None, tokens["a"])["snapshots"]
    eq([s["snapshot_id"] for s in listed], [snap_id], "native snapshot listing")
    eq(ok_native("GET", "/v1/snapshots", None, tokens["b"])["snapshots"], [], "B's snapshot listing")
    eq(native("GET", f"/v1/snapshots/{snap_id}", None, tokens["b"])[0], 404, "B reading A's snapshot")
    eq(native("POST", "/v1/volumes", {"zone": zone, "snapshot_id": snap_id}, tokens["b"])[0], 404,
       "B restoring A's snapshot")
    copied = ok_native("POST", f"/v1/snapshots/{snap_id}/copy", {"description": "copy"}, tokens["a"])
    eq(copied["state"], "completed", "native CopySnapshot")
    restored = ok_native("POST", "/v1/volumes", {"zone": zone, "snapshot_id": copied["snapshot_id"]}, tokens["a"])
    eq(restored["size_gib"], 1, "a restored volume's default size")
    wait_state(a, restored["volume_id"], "available")
    ok_native("DELETE", f"/v1/volumes/{restored['volume_id']}", None, tokens["a"])
    for snapshot_id in (snap_id, copied["snapshot_id"]):
        eq(native("DELETE", f"/v1/snapshots/{snapshot_id}", None, tokens["a"])[0], 204, "native DeleteSnapshot")
    eq(native("GET", f"/v1/snapshots/{snap_id}", None, tokens["a"])[0], 404, "a deleted snapshot")
    print("ok: native snapshots (create, list, copy, restore, delete, isolation)")
ok_native("DELETE", f"/v1/volumes/{native_vol}", None, tokens["a"])

# ----------------------------------------------------------------- delete
for volume_id in (vol, gp2["VolumeId"]):
    a.delete_volume(VolumeId=volume_id)
if available:
    deadline = time.time() + 60
    while time.time() < deadline and error_code(a.describe_volumes, VolumeIds=[vol]) != "InvalidVolume.NotFound":
        time.sleep(0.5)
    expect_code("InvalidVolume.NotFound", a.describe_volumes, VolumeIds=[vol])
    print("ok: the deleted volume is gone")
else:
    eq(volume(a, vol)["State"], "deleting", "state after DeleteVolume")
expect_code("IncorrectState", a.delete_volume, VolumeId=gp2["VolumeId"]) if error_code(a.describe_volumes, VolumeIds=[gp2["VolumeId"]]) is None else None
print("volumes.py: all checks passed")
