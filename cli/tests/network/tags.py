"""EC2 tags across services against a running `kumo up` (run by cli/tests/network_tags.rs).

Usage: tags.py ENDPOINT STATE_DIR

One CreateTags call tags a key pair and an image (compute) and a VPC, subnet, security
group and rule, internet gateway, route table and ENI (network); DescribeTags lists them
all with their resource types, its filters and pages work, describes filter by
`tag:`/`tag-key`; the tag rules (50 tags, key 1-128 not `aws:`, value 0-256) hold;
unknown and other accounts' ids answer AWS's codes; account B can neither tag nor see A's
tags. The network part (ENIs apart) is skipped, with a message, while the network service
does not answer DescribeVpcs (DescribeNetworkInterfaces). Exit status 1 on any failure.
"""
import io
import tarfile

from botocore.exceptions import ClientError
from harness import client, create_account, create_user, error_code, run_tag


def expect_code(expected, fn, **kwargs):
    got = error_code(fn, **kwargs)
    assert got == expected, f"{fn.__name__}({kwargs}): expected {expected}, got {got}"


def eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


def all_tags(ec2, **kwargs):
    """Every page of DescribeTags."""
    tags, token = [], None
    while True:
        page = ec2.describe_tags(**kwargs, **({"NextToken": token} if token else {}))
        tags += page["Tags"]
        token = page.get("NextToken")
        if not token:
            return tags


# ----------------------------------------------------------------- accounts A and B

accounts = {}
for name in ("a", "b"):
    account_id = create_account(f"tags-{name}")
    accounts[name] = {user: create_user(account_id, user, role) for user, role in (("admin", "admin"), ("reader", "reader"))}
a, b, a_reader = client("ec2", accounts["a"]["admin"]), client("ec2", accounts["b"]["admin"]), client("ec2", accounts["a"]["reader"])

# ----------------------------------------------------------------- A's resources

key_pair = a.create_key_pair(KeyName=f"tags-{run_tag}")["KeyPairId"]
resources = {key_pair: "key-pair"}

# An image, when RegisterImage from an object works here (a tiny plain tar root fs).
s3 = client("s3", accounts["a"]["admin"])
bucket = f"tags-{run_tag}"
s3.create_bucket(Bucket=bucket)
rootfs = io.BytesIO()
with tarfile.open(fileobj=rootfs, mode="w") as tar:
    data = b"tagged\n"
    info = tarfile.TarInfo("etc/hostname")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
s3.put_object(Bucket=bucket, Key="rootfs.tar", Body=rootfs.getvalue())
try:
    image = a.register_image(Name=f"tags-{run_tag}", ImageLocation=f"{bucket}/rootfs.tar")["ImageId"]
    resources[image] = "image"
except ClientError as e:
    image = None
    print(f"SKIP image: RegisterImage answered {e.response['Error']['Code']}: {e.response['Error']['Message']}")

network = error_code(a.describe_vpcs) != "InvalidAction"
vpc = None
if network:
    vpc = a.create_vpc(
        CidrBlock="10.42.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "at-create"}]}],
    )["Vpc"]["VpcId"]
    subnet = a.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = a.create_security_group(VpcId=vpc, GroupName=f"tags-{run_tag}", Description="tags")["GroupId"]
    resources.update({vpc: "vpc", subnet: "subnet", group: "security-group"})
    gateway = a.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    table = a.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    resources.update({gateway: "internet-gateway", table: "route-table"})
    rules = a.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    ).get("SecurityGroupRules", [])
    if rules:
        resources[rules[0]["SecurityGroupRuleId"]] = "security-group-rule"
    if error_code(a.describe_network_interfaces) != "InvalidAction":
        interface = a.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
        network_interfaces = [interface]
        resources[interface] = "network-interface"
    else:
        network_interfaces = []
        print("SKIP network interfaces: the network service does not answer DescribeNetworkInterfaces yet")
    # TagSpecification at create time lands in the same store.
    eq(
        [(t["ResourceId"], t["Key"], t["Value"]) for t in all_tags(a)],
        [(vpc, "Name", "at-create")],
        "tags from CreateVpc's TagSpecification",
    )
else:
    print("SKIP network resources: the network service does not answer DescribeVpcs yet")

# ----------------------------------------------------------------- one CreateTags, every service

ids = list(resources)
a.create_tags(Resources=ids, Tags=[{"Key": "Name", "Value": "tagged"}, {"Key": "team", "Value": run_tag}, {"Key": "empty"}])
listed = all_tags(a)
eq(len(listed), 3 * len(ids), "DescribeTags lists every tag of every service's resource")
for t in listed:
    eq(t["ResourceType"], resources[t["ResourceId"]], f"resourceType of {t['ResourceId']}")
eq(sorted(t["ResourceId"] for t in listed if t["Key"] == "empty" and t["Value"] == ""), sorted(ids), "empty values")

# Filters: resource-type, resource-id, key, value, tag:<key>, wildcards.
for resource_id, kind in resources.items():
    got = all_tags(a, Filters=[{"Name": "resource-type", "Values": [kind]}])
    eq({t["ResourceId"] for t in got}, {resource_id}, f"resource-type={kind}")
    got = all_tags(a, Filters=[{"Name": "resource-id", "Values": [resource_id]}])
    eq(sorted(t["Key"] for t in got), ["Name", "empty", "team"], f"resource-id={resource_id}")
got = all_tags(a, Filters=[{"Name": "key", "Values": ["team"]}, {"Name": "value", "Values": [run_tag[:4] + "*"]}])
eq(sorted(t["ResourceId"] for t in got), sorted(ids), "key=team value=prefix*")
got = all_tags(a, Filters=[{"Name": "tag:Name", "Values": ["tagged"]}])
eq(len(got), len(ids), "tag:Name=tagged")
eq(all_tags(a, Filters=[{"Name": "value", "Values": ["nothing-has-this"]}]), [], "no match")
expect_code("InvalidParameterValue", a.describe_tags, Filters=[{"Name": "colour", "Values": ["x"]}])

# Pages of 5 (the least MaxResults) cover the list once, in order.
pages, token, seen = 0, None, []
while True:
    page = a.describe_tags(MaxResults=5, **({"NextToken": token} if token else {}))
    assert len(page["Tags"]) <= 5
    seen += [(t["ResourceId"], t["Key"]) for t in page["Tags"]]
    pages += 1
    token = page.get("NextToken")
    if not token:
        break
eq(seen, [(t["ResourceId"], t["Key"]) for t in listed], "pages of 5")
assert pages >= 2, f"{len(listed)} tags in {pages} pages"
expect_code("InvalidParameterValue", a.describe_tags, MaxResults=4)
expect_code("InvalidNextToken", a.describe_tags, MaxResults=5, NextToken="garbage")

# Describes filter by the shared tags.
eq([k["KeyPairId"] for k in a.describe_key_pairs(Filters=[{"Name": f"tag:team", "Values": [run_tag]}])["KeyPairs"]], [key_pair], "DescribeKeyPairs tag:team")
if image:
    eq([i["ImageId"] for i in a.describe_images(Filters=[{"Name": "tag-key", "Values": ["team"]}])["Images"]], [image], "DescribeImages tag-key")
if network:
    eq([v["VpcId"] for v in a.describe_vpcs(Filters=[{"Name": "tag:team", "Values": [run_tag]}])["Vpcs"]], [vpc], "DescribeVpcs tag:team")
    described = a.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
    eq({t["Key"]: t["Value"] for t in described["Tags"]}, {"Name": "tagged", "team": run_tag, "empty": ""}, "DescribeVpcs tagSet")
    eq([s["SubnetId"] for s in a.describe_subnets(Filters=[{"Name": "tag-key", "Values": ["team"]}])["Subnets"]], [subnet], "DescribeSubnets tag-key")
    eq(
        [g["GroupId"] for g in a.describe_security_groups(Filters=[{"Name": "tag:Name", "Values": ["tag*"]}])["SecurityGroups"]],
        [group],
        "DescribeSecurityGroups tag:Name",
    )

# ----------------------------------------------------------------- rules and limits

target = vpc or key_pair
expect_code("TagLimitExceeded", a.create_tags, Resources=[target], Tags=[{"Key": f"k{n}", "Value": ""} for n in range(51)])
a.create_tags(Resources=[target], Tags=[{"Key": f"k{n}", "Value": ""} for n in range(47)])  # 3 + 47 = 50
expect_code("TagLimitExceeded", a.create_tags, Resources=[target], Tags=[{"Key": "one-more", "Value": ""}])
a.create_tags(Resources=[target], Tags=[{"Key": "Name", "Value": "overwritten"}])  # not one more
eq(len(all_tags(a, Filters=[{"Name": "resource-id", "Values": [target]}])), 50, "50 tags on one resource")
a.delete_tags(Resources=[target], Tags=[{"Key": f"k{n}"} for n in range(47)])
a.create_tags(Resources=[target], Tags=[{"Key": "k" * 128, "Value": "v" * 256}])
a.delete_tags(Resources=[target], Tags=[{"Key": "k" * 128}])
for bad, code in (
    ({"Key": "k" * 129, "Value": ""}, "InvalidParameterValue"),
    ({"Key": "k", "Value": "v" * 257}, "InvalidParameterValue"),
    ({"Key": "aws:reserved", "Value": ""}, "InvalidParameterValue"),
    ({"Key": "", "Value": "v"}, "InvalidTagKey.Malformed"),
):
    expect_code(code, a.create_tags, Resources=[target], Tags=[bad])
expect_code("MissingParameter", a.create_tags, Resources=[target], Tags=[])
expect_code("UnauthorizedOperation", a_reader.create_tags, Resources=[target], Tags=[{"Key": "x", "Value": ""}])
expect_code("UnauthorizedOperation", a_reader.delete_tags, Resources=[target])
eq(len(all_tags(a_reader)), len(listed), "a reader describes the account's tags")

# Unknown ids answer their kind's code; nothing is tagged when one id fails.
for unknown, code in (
    ("i-0123456789abcdef0", "InvalidInstanceID.NotFound"),
    ("ami-0123456789abcdef0", "InvalidAMIID.NotFound"),
    ("key-0123456789abcdef0", "InvalidKeyPair.NotFound"),
    ("bogus-123", "InvalidID"),
) + (
    (
        # Volumes are block storage's, mounted with the network in the gateway.
        ("vol-0123456789abcdef0", "InvalidVolume.NotFound"),
        ("vpc-0123456789abcdef0", "InvalidVpcID.NotFound"),
        ("subnet-0123456789abcdef0", "InvalidSubnetID.NotFound"),
        ("sg-0123456789abcdef0", "InvalidGroup.NotFound"),
        ("vpc-zz", "InvalidID"),
    )
    if network
    else ()
):
    expect_code(code, a.create_tags, Resources=[target, unknown], Tags=[{"Key": "partial", "Value": ""}])
    expect_code(code, a.delete_tags, Resources=[unknown])
eq(all_tags(a, Filters=[{"Name": "key", "Values": ["partial"]}]), [], "no partial CreateTags")

# ----------------------------------------------------------------- tenant isolation

eq(all_tags(b), [], "B sees none of A's tags")
for resource_id in ids:
    assert error_code(b.create_tags, Resources=[resource_id], Tags=[{"Key": "b", "Value": ""}]) is not None, f"B tagged {resource_id}"
    code = error_code(b.delete_tags, Resources=[resource_id])
    assert code and code.endswith(".NotFound"), f"B's DeleteTags on {resource_id}: {code}"
    assert error_code(b.delete_tags, Resources=[resource_id], Tags=[{"Key": "team"}]) is not None
eq(len(all_tags(a)), len(listed), "A's tags after B's attempts")
b_key = b.create_key_pair(KeyName=f"tags-{run_tag}")["KeyPairId"]
b.create_tags(Resources=[b_key], Tags=[{"Key": "team", "Value": run_tag}])
eq([t["ResourceId"] for t in all_tags(b)], [b_key], "B sees its own tag only")
eq(len(all_tags(a, Filters=[{"Name": "resource-id", "Values": [b_key]}])), 0, "A does not see B's tag")

# ----------------------------------------------------------------- DeleteTags across services

a.delete_tags(Resources=ids, Tags=[{"Key": "team", "Value": "not-the-value"}])
eq(len(all_tags(a, Filters=[{"Name": "key", "Values": ["team"]}])), len(ids), "a value that differs deletes nothing")
a.delete_tags(Resources=ids, Tags=[{"Key": "team"}])
eq(all_tags(a, Filters=[{"Name": "key", "Values": ["team"]}]), [], "team deleted everywhere")
a.delete_tags(Resources=ids)
eq(all_tags(a), [], "DeleteTags without tags deletes them all")

# Deleting a resource drops its tags.
a.create_tags(Resources=[key_pair], Tags=[{"Key": "gone", "Value": ""}])
a.delete_key_pair(KeyPairId=key_pair)
eq(all_tags(a), [], "a deleted key pair's tags")
if network:
    gone = [group, subnet, gateway, table] + network_interfaces
    a.create_tags(Resources=gone, Tags=[{"Key": "gone", "Value": ""}])
    for interface in network_interfaces:
        a.delete_network_interface(NetworkInterfaceId=interface)
    a.delete_security_group(GroupId=group)
    a.delete_subnet(SubnetId=subnet)
    a.delete_internet_gateway(InternetGatewayId=gateway)
    a.delete_route_table(RouteTableId=table)
    eq(all_tags(a), [], "deleted network resources' tags")

print(f"PASS network tags: {len(ids)} resources ({', '.join(sorted(set(resources.values())))}), {len(listed)} tags")
