"""Terraform's recorded exchanges replayed against a running `kumo up` (run by
cli/tests/terraform_exchanges.rs).

Usage: terraform_exchanges.py ENDPOINT STATE_DIR EXCHANGES_DIR

EXCHANGES_DIR (../shared/reference/terraform-exchanges) holds one file per HTTP exchange the
hashicorp/aws provider had with moto while applying, refreshing and destroying a stack: the
request as sent and moto's response. For every recorded EC2 (and STS/IAM) call of the
networking resources and aws_instance, this script sends the same request, parameter for
parameter, signed for a fresh Kumo account, with moto's ids swapped for Kumo's: ids that a
replayed create returned are paired with moto's at the same element path; ids of resources
made by calls that were not recorded (CreateSubnet, CreateInternetGateway, a group) are
made first, the way Terraform makes them, from what moto's responses say of them; calls
that moto answered with a NotFound name ids that never existed. Then every element path of
moto's response must be present in Kumo's (list items collapsed, values ignored), unless
ALLOWED below forgives it with a reason. Prints a summary (calls compared, elements
checked, missing) and exits 1 on any unforgiven difference or unused allowance.
"""
import fnmatch
import os
import re
import secrets
import sys
import time
import urllib.parse

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "network"))
sys.path.insert(0, os.path.join(HERE, "conformance"))
exchanges_dir = sys.argv.pop(3)

import shapes  # noqa: E402
from harness import client, create_account, create_user, ok_native, operator_token  # noqa: E402

endpoint = sys.argv[1]
HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10, read=120))

# Recorded calls left out, by action: (reason, issue). None now: every recorded EC2 call
# (EBS volumes and attachments too) is replayed.
OUT_OF_SCOPE = {}

# Element paths of moto's responses Kumo may lack: (action, path pattern, reason).
ALLOWED = [
    ("DescribeImages", "*/imagesSet/item/blockDeviceMapping/item/ebs/snapshotId",
     "Kumo's built-in images boot from a disk on the image store, not a snapshot (images made by CreateImage or RegisterImage map theirs)"),
    ("DescribeInstanceTypes", "*/instanceTypeSet/item/ebsInfo*", "EBS limits come with EBS volumes (issue 10)"),
    ("*Instances", "*/instancesSet/item/platform",
     "moto sends Linux/UNIX; AWS sends platform only for Windows instances (not planned)"),
    ("DescribeImages", "*/imagesSet/item/platform", "moto sends Linux/UNIX; AWS only for Windows images (not planned)"),
    ("DescribeImages", "*/imagesSet/item/bootMode", "Kumo boots VMs by direct kernel load, neither uefi nor legacy-bios (not planned)"),
    ("DescribeImages", "*/imagesSet/item/imageOwnerAlias", "Kumo's images belong to no AWS alias (not planned)"),
    ("DescribeInstances", "*/instancesSet/item/stateReason*",
     "moto sends an empty stateReason for a running instance; AWS sends none (not planned)"),
    ("*Instances", "*/instancesSet/item/sriovNetSupport", "AWS sends it only with SR-IOV; Kumo's NICs are virtio (not planned)"),
    ("DescribeInstanceTypes", "*/instanceTypeSet/item/processorInfo/*",
     "no manufacturer or clock speed to state for vCPUs on any x86_64 host (not planned)"),
    ("DescribeInstanceTypes", "*/instanceTypeSet/item/vCpuInfo/valid*", "vCPU counts are fixed per type (not planned)"),
    ("DescribeInstanceTypes", "*/instanceTypeSet/item/placementGroupInfo*", "no placement groups (not planned)"),
    ("DescribeInstanceTypes", "*/instanceTypeSet/item/nitro*", "no Nitro enclaves or TPM (not planned)"),
    ("DescribeInstanceTypes", "*/instanceTypeSet/item/supportedBootModes*", "direct kernel boot (not planned)"),
    ("*NetworkInterface*", "*/requesterId",
     "AWS names a requester only for interfaces a service made (requesterManaged); moto names one for every interface (not planned)"),
    ("DescribeAddresses", "*/addressesSet/item/instanceId",
     "AWS omits an unassociated address's instance; moto writes it empty (not planned)"),
    ("DescribeAddresses", "*/addressesSet/item/networkInterfaceId",
     "AWS omits an unassociated address's interface; moto writes it empty (not planned)"),
    ("*", "*/association", "an interface with no public address has no association on AWS; moto writes an empty one (not planned)"),
]

ID = re.compile(r"^(vpc|subnet|sg|sgr|igw|rtb|rtbassoc|eni|eni-attach|i|r|eipalloc|eipassoc|ami|acl|vol|key)-[0-9a-f]{8,17}$")
SCOPES = {"2016-11-15": "ec2", "2011-06-15": "sts", "2010-05-08": "iam"}


class Exchange:
    def __init__(self, path):
        text = open(path, encoding="utf-8", errors="replace").read()
        request, _, response = text.partition("\n=== RESPONSE ")
        self.name = os.path.basename(path)
        self.body = request.strip().splitlines()[-1] if request.strip() else ""
        self.params = urllib.parse.parse_qsl(self.body, keep_blank_values=True) if self.body.startswith("Action=") else []
        self.action = dict(self.params).get("Action")
        self.status = int(response.split("\n", 1)[0].split()[0]) if response else 0
        xml_start = response.find("<?xml")
        self.xml = response[xml_start:].encode() if xml_start >= 0 else b""


def send(params, key):
    version = dict(params).get("Version", "2016-11-15")
    service = SCOPES.get(version, "ec2")
    body = urllib.parse.urlencode(params)
    request = AWSRequest(method="POST", url=endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(*key), service, "us-east-1").add_auth(request)
    r = HTTP.urlopen("POST", endpoint + "/", body=body.encode(), headers=dict(request.headers.items()))
    return r.status, r.data


def leaves(root, prefix=""):
    """(path with item indexes, text) of every leaf, for pairing ids."""
    out = []

    def walk(element, path):
        children = list(element)
        if not children:
            out.append((path, (element.text or "").strip()))
        counts = {}
        for child in children:
            name = shapes.local(child.tag)
            counts[name] = counts.get(name, 0) + 1
            walk(child, f"{path}/{name}[{counts[name]}]")

    if root is not None:
        walk(root, shapes.local(root.tag))
    return out


def items_with(exchanges, field, value):
    """Every element (of any recorded response) with a child FIELD == VALUE."""
    found = []
    for ex in exchanges:
        root = shapes.parse(ex.xml)
        if root is None:
            continue
        for element in root.iter():
            for child in element:
                if shapes.local(child.tag) == field and (child.text or "").strip() == value:
                    about = {shapes.local(c.tag): (c.text or "").strip() for c in element}
                    about["tags"] = [
                        {"Key": (tag.findtext("{*}key") or ""), "Value": (tag.findtext("{*}value") or "")}
                        for c in element if shapes.local(c.tag) == "tagSet" for tag in c
                    ]
                    found.append(about)
    return found


def tagged(about, resource_type):
    """TagSpecifications carrying the tags moto's record shows."""
    tags = about.get("tags") or []
    return {"TagSpecifications": [{"ResourceType": resource_type, "Tags": tags}]} if tags else {}


class Replay:
    def __init__(self, exchanges):
        self.exchanges = exchanges
        self.ids = {}
        account_id = create_account("tfx")
        self.key = create_user(account_id, "admin", "admin")
        self.ec2 = client("ec2", self.key)
        self.zone = self.ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
        pools = ok_native("GET", "/v1/address-pools", None, operator_token())["address_pools"]
        if not pools:
            ok_native("POST", "/v1/address-pools", {"name": "tfx", "zone": self.zone, "cidr": "198.51.100.0/24"}, operator_token())
        images = self.ec2.describe_images()["Images"]
        # The recorded instance is EBS-backed (root_block_device): the busybox VM image is.
        image = next(i for i in images if i.get("Name") == "kumo-busybox-vm")
        self.image, self.image_name, self.image_owner = image["ImageId"], image["Name"], image["OwnerId"]

    def first(self, prefix):
        return next((v for k, v in self.ids.items() if k.startswith(prefix + "-")), None)

    def make(self, moto_id):
        """A Kumo resource standing for one moto made by a call that was not recorded."""
        kind = moto_id.rsplit("-", 1)[0]
        if kind == "ami":
            return self.image
        if kind == "subnet":
            about = items_with(self.exchanges, "subnetId", moto_id)
            about = next((a for a in about if "cidrBlock" in a), {})
            vpc = self.mapped(about.get("vpcId")) or self.first("vpc")
            subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock=about.get("cidrBlock", "10.0.1.0/24"),
                                            AvailabilityZone=self.zone, **tagged(about, "subnet"))["Subnet"]["SubnetId"]
            # The stack's subnet has map_public_ip_on_launch = true: the provider's create
            # sends ModifySubnetAttribute after the DescribeSubnets recorded (moto's read
            # shows the value before it).
            self.ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
            return subnet
        if kind == "sg":
            about = next(iter(items_with(self.exchanges, "groupId", moto_id)), {})
            vpc = self.mapped(about.get("vpcId")) or self.first("vpc")
            name = about.get("groupName") or f"tfx-{moto_id[-6:]}"
            return self.ec2.create_security_group(GroupName=name, Description=about.get("groupDescription") or name,
                                                  VpcId=vpc)["GroupId"]
        if kind == "igw":
            about = next(iter(items_with(self.exchanges, "internetGatewayId", moto_id)), {})
            igw = self.ec2.create_internet_gateway(**tagged(about, "internet-gateway"))["InternetGateway"]["InternetGatewayId"]
            vpc = self.first("vpc")
            if vpc is not None:
                self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
            return igw
        if kind == "sgr":
            # A standalone rule (aws_vpc_security_group_ingress_rule): authorized with its tags.
            about = next((a for a in items_with(self.exchanges, "securityGroupRuleId", moto_id) if "groupId" in a), {})
            group = self.mapped(about.get("groupId"))
            permission = {"IpProtocol": about.get("ipProtocol", "tcp"), "IpRanges": [{"CidrIp": about.get("cidrIpv4", "0.0.0.0/0")}]}
            if about.get("fromPort"):
                permission.update(FromPort=int(about["fromPort"]), ToPort=int(about.get("toPort") or about["fromPort"]))
            authorize = self.ec2.authorize_security_group_egress if about.get("isEgress") == "true" else self.ec2.authorize_security_group_ingress
            made = authorize(GroupId=group, IpPermissions=[permission], **tagged(about, "security-group-rule"))
            return made["SecurityGroupRules"][0]["SecurityGroupRuleId"]
        return None

    def mapped(self, moto_id):
        if not moto_id:
            return None
        if moto_id not in self.ids:
            made = self.make(moto_id)
            if made is None:
                return None
            self.ids[moto_id] = made
        return self.ids[moto_id]

    def translate(self, ex):
        """The recorded parameters with Kumo's ids (ids that never existed for a NotFound);
        data aws_ami's name filter and owner name Kumo's image."""
        out = []
        for name, value in ex.params:
            if ex.action == "DescribeImages" and name == "Owner.1":
                value = self.image_owner
            if ex.action == "DescribeImages" and re.match(r"^Filter\.\d+\.Value\.1$", name):
                if dict(ex.params).get(name.replace("Value.1", "Name")) == "name":
                    value = self.image_name
            if name in ("AvailabilityZone", "Placement.AvailabilityZone") and value:
                value = self.zone
            if ID.match(value):
                if ex.status >= 400:
                    kind = value.rsplit("-", 1)[0]
                    value = self.image if kind == "ami" else f"{kind}-{secrets.token_hex(9)[:17]}"
                else:
                    value = self.mapped(value) or value
            out.append((name, value))
        return out

    def learn(self, recorded, answered):
        """Pair the ids of a create's answer with moto's, element by element."""
        theirs = dict(leaves(shapes.parse(recorded)))
        for path, ours in leaves(shapes.parse(answered)):
            moto = theirs.get(path)
            if moto and ID.match(moto) and ID.match(ours) and moto.rsplit("-", 1)[0] == ours.rsplit("-", 1)[0]:
                self.ids.setdefault(moto, ours)

    def wait_attachment(self, volume_id, wanted):
        """Until the volume's attachment is `wanted` (None: gone), as Terraform waits."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            volumes = self.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
            states = [a["State"] for v in volumes for a in v.get("Attachments", [])]
            if (states[0] if states else None) == wanted:
                return
            time.sleep(0.5)
        raise SystemExit(f"{volume_id}'s attachment never became {wanted}")

    def wait_running(self, instance_ids):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = self.ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
            states = {i["State"]["Name"] for r in found for i in r["Instances"]}
            if states <= {"running"}:
                return
            time.sleep(0.5)


def main():
    files = sorted(f for f in os.listdir(exchanges_dir) if re.match(r"^\d+-(terraform|awscli)-", f))
    exchanges = [Exchange(os.path.join(exchanges_dir, f)) for f in files]
    replay = Replay(exchanges)
    used = set()
    compared = checked = 0
    missing, skipped, forgiven = [], [], []
    for ex in exchanges:
        if not ex.action:
            skipped.append(f"{ex.name}: S3 (not a networking or instance call; s3_conformance covers S3)")
            continue
        if ex.action in OUT_OF_SCOPE:
            reason, issue = OUT_OF_SCOPE[ex.action]
            skipped.append(f"{ex.name}: {reason} [{issue}]")
            continue
        status, body = send(replay.translate(ex), replay.key)
        if ex.status < 400 and status < 400:
            replay.learn(ex.xml, body)
        if ex.action == "RunInstances" and status < 400:
            got = re.findall(rb"<instanceId>(i-[0-9a-f]+)</instanceId>", body)
            replay.wait_running([i.decode() for i in dict.fromkeys(got)])
        if ex.action in ("AttachVolume", "DetachVolume") and status < 400:
            volume_id = dict(replay.translate(ex))["VolumeId"]
            replay.wait_attachment(volume_id, "attached" if ex.action == "AttachVolume" else None)
        compared += 1
        ok_status = (ex.status < 400) == (status < 400)
        theirs = shapes.paths(shapes.parse(ex.xml))
        ours = shapes.paths(shapes.parse(body))
        lacking = []
        for path in sorted(theirs):
            checked += 1
            if path in ours:
                continue
            allowance = next((a for a in ALLOWED if fnmatch.fnmatch(ex.action, a[0]) and fnmatch.fnmatch(path, a[1])), None)
            if allowance:
                used.add(ALLOWED.index(allowance))
                forgiven.append(f"{ex.name}: {path} ({allowance[2]})")
            else:
                lacking.append(path)
        line = f"{'ok  ' if ok_status and not lacking else 'FAIL'} {ex.name}: moto {ex.status}, kumo {status}"
        print(line, flush=True)
        if not ok_status:
            missing.append(f"{ex.name}: moto answered {ex.status}, Kumo {status}: {body[:300]!r}")
        for path in lacking:
            print(f"     missing {path}", flush=True)
            missing.append(f"{ex.name}: {path}")
    unused = [a for n, a in enumerate(ALLOWED) if n not in used]
    for entry in unused:
        missing.append(f"allowance matched nothing (remove it): {entry[0]} {entry[1]}")
    print("\nskipped:")
    for line in skipped:
        print(f"  {line}")
    print("forgiven:")
    for line in forgiven:
        print(f"  {line}")
    print(f"\nsummary: {compared} calls compared, {checked} elements checked, "
          f"{len(missing)} missing, {len(forgiven)} forgiven, {len(skipped)} recorded calls skipped")
    for line in missing:
        print(f"MISSING {line}")
    sys.exit(1 if missing else 0)


main()
