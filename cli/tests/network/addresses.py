"""Elastic IPs through boto3 against a running `kumo up` with its own compute agent (run by
cli/tests/network_addresses.rs).

Usage: addresses.py ENDPOINT STATE_DIR [CHECK-NAME-PREFIX...]

The operator adds a public pool through the native API (tenants cannot); two accounts (A
and B) allocate, associate with an instance or an interface, disassociate and release;
Terraform's aws_eip and aws_eip_association sequences; DescribeInstances shows the public
address while it is associated; errors (already associated, in use, unknown ids, the
per-account limit, an exhausted pool); filters; tenant isolation (B cannot see, associate
or release A's address, nor point its own at A's instance or interface). Every check runs;
the last line of stdout is a JSON report {"passed": [...], "failed": {name: reason}}; exit
status 1 when any failed.
"""
import time

from harness import account, check, error_code, expect, expect_error, native, ok_native, operator_token, report, run_tag

A, B = account("eip-a"), account("eip-b")
ec2a, ec2b = A["ec2"], B["ec2"]
image = next(i["ImageId"] for i in ec2a.describe_images()["Images"] if "container" in i.get("Name", ""))
zone = ec2a.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
POOL = f"eip-{run_tag}"
# A /28: 14 usable addresses (the first and last are kept out).
POOL_CIDR = "203.0.113.0/28"
state = {}


def wait_running(client, instance_id, limit=120):
    deadline = time.monotonic() + limit
    while True:
        got = client.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        if got["State"]["Name"] == "running":
            return got
        expect(time.monotonic() < deadline, f"{instance_id} stuck in {got['State']['Name']}")
        time.sleep(0.5)


def launch(client):
    # No launch-time public address (the default subnet maps one from the same pool): the
    # checks here see the elastic IP alone; network/public_ips.py checks the two together.
    out = client.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "AssociatePublicIpAddress": False}],
    )
    return out["Instances"][0]["InstanceId"]


def instance(client, instance_id):
    return client.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def address(client, allocation_id):
    return client.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0]


@check
def operator_adds_a_pool_tenants_cannot():
    status, _ = native("POST", "/v1/address-pools", {"name": f"x-{run_tag}", "zone": zone, "cidr": "198.51.100.0/28"}, A["token"])
    expect(status == 403, f"a tenant made a pool: {status}")
    status, _ = native("GET", "/v1/address-pools", None, A["token"])
    expect(status == 403, f"a tenant listed pools: {status}")
    # No pool yet: no capacity.
    expect_error("InsufficientAddressCapacity", ec2a.allocate_address, Domain="vpc")
    made = ok_native("POST", "/v1/address-pools", {"name": POOL, "zone": zone, "cidr": POOL_CIDR}, operator_token())
    expect(made["size"] == 14 and made["allocated"] == 0, made)
    status, _ = native("POST", "/v1/address-pools", {"name": f"y-{run_tag}", "zone": zone, "cidr": "203.0.113.0/24"}, operator_token())
    expect(status == 409, f"an overlapping pool: {status}")
    status, _ = native("POST", "/v1/address-pools", {"name": f"z-{run_tag}", "zone": "nowhere-1a", "cidr": "198.51.100.0/28"}, operator_token())
    expect(status == 400, f"a pool in an unknown zone: {status}")
    pools = ok_native("GET", "/v1/address-pools", None, operator_token())["address_pools"]
    expect([p["cidr"] for p in pools if p["name"] == POOL] == [POOL_CIDR], pools)


@check
def terraform_eip_sequence():
    out = ec2a.allocate_address(
        Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "tf-eip"}]}]
    )
    expect(out["AllocationId"].startswith("eipalloc-") and out["Domain"] == "vpc", out)
    expect(out["PublicIp"] == "203.0.113.1", f"not the lowest free address: {out['PublicIp']}")
    state["eip"] = out["AllocationId"]
    state["public_ip"] = out["PublicIp"]
    for _ in range(2):
        got = address(ec2a, out["AllocationId"])
        expect(got["PublicIp"] == out["PublicIp"] and got["Domain"] == "vpc", got)
        expect(got["Tags"] == [{"Key": "Name", "Value": "tf-eip"}], got)
        expect("AssociationId" not in got and "InstanceId" not in got, got)
        expect(got["PublicIpv4Pool"] == "amazon" and got["NetworkBorderGroup"] == "us-east-1", got)
    attrs = ec2a.describe_addresses_attribute(AllocationIds=[out["AllocationId"]], Attribute="domain-name")["Addresses"]
    expect([a["AllocationId"] for a in attrs] == [out["AllocationId"]] and "PtrRecord" not in attrs[0], attrs)
    by_ip = ec2a.describe_addresses(PublicIps=[out["PublicIp"]])["Addresses"]
    expect([a["AllocationId"] for a in by_ip] == [out["AllocationId"]], by_ip)
    tagged = ec2a.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["tf-eip"]}])["Addresses"]
    expect([a["AllocationId"] for a in tagged] == [out["AllocationId"]], tagged)
    tags = ec2a.describe_tags(Filters=[{"Name": "resource-id", "Values": [out["AllocationId"]]}])["Tags"]
    expect([t["ResourceType"] for t in tags] == ["elastic-ip"], tags)


@check
def terraform_eip_association_with_an_instance():
    instance_id = launch(ec2a)
    state["instance"] = instance_id
    wait_running(ec2a, instance_id)
    before = instance(ec2a, instance_id)
    expect("PublicIpAddress" not in before and before.get("PublicDnsName", "") == "", before)
    association = ec2a.associate_address(AllocationId=state["eip"], InstanceId=instance_id)["AssociationId"]
    expect(association.startswith("eipassoc-"), association)
    state["association"] = association
    for _ in range(2):
        got = ec2a.describe_addresses(Filters=[{"Name": "association-id", "Values": [association]}])["Addresses"]
        expect(len(got) == 1 and got[0]["InstanceId"] == instance_id, got)
        expect(got[0]["NetworkInterfaceOwnerId"] == A["id"] and got[0]["PrivateIpAddress"], got)
    after = instance(ec2a, instance_id)
    expect(after.get("PublicIpAddress") == state["public_ip"], after.get("PublicIpAddress"))
    dns = "ec2-" + state["public_ip"].replace(".", "-") + ".compute-1.amazonaws.com"
    expect(after.get("PublicDnsName") == dns, after.get("PublicDnsName"))
    primary = after["NetworkInterfaces"][0]
    expect(primary["Association"] == {"PublicIp": state["public_ip"], "PublicDnsName": dns, "IpOwnerId": A["id"]}, primary)
    expect(primary["PrivateIpAddresses"][0]["Association"]["PublicIp"] == state["public_ip"], primary)
    eni = ec2a.describe_network_interfaces(NetworkInterfaceIds=[primary["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    expect(eni["Association"]["AllocationId"] == state["eip"] and eni["Association"]["AssociationId"] == association, eni)
    by_public = ec2a.describe_network_interfaces(Filters=[{"Name": "association.public-ip", "Values": [state["public_ip"]]}])
    expect([e["NetworkInterfaceId"] for e in by_public["NetworkInterfaces"]] == [primary["NetworkInterfaceId"]], by_public)
    for name, value in [
        ("instance-id", instance_id),
        ("network-interface-id", primary["NetworkInterfaceId"]),
        ("private-ip-address", primary["PrivateIpAddress"]),
        ("public-ip", state["public_ip"]),
        ("allocation-id", state["eip"]),
        ("domain", "vpc"),
    ]:
        got = ec2a.describe_addresses(Filters=[{"Name": name, "Values": [value]}])["Addresses"]
        expect([a["AllocationId"] for a in got] == [state["eip"]], f"{name}: {got}")


@check
def association_errors():
    eip, instance_id = state["eip"], state["instance"]
    expect_error("Resource.AlreadyAssociated", ec2a.associate_address, AllocationId=eip, InstanceId=instance_id)
    moved = ec2a.associate_address(AllocationId=eip, InstanceId=instance_id, AllowReassociation=True)["AssociationId"]
    expect(moved != state["association"], "reassociation kept the association id")
    expect_error("InvalidAssociationID.NotFound", ec2a.disassociate_address, AssociationId=state["association"])
    state["association"] = moved
    expect_error("InvalidIPAddress.InUse", ec2a.release_address, AllocationId=eip)
    expect_error("InvalidAllocationID.NotFound", ec2a.describe_addresses, AllocationIds=["eipalloc-0123456789abcdef0"])
    expect_error("InvalidAddress.NotFound", ec2a.describe_addresses, PublicIps=["192.0.2.77"])
    expect_error("InvalidAllocationID.Malformed", ec2a.describe_addresses, AllocationIds=["eipalloc-nope"])
    expect_error("InvalidInstanceID.NotFound", ec2a.associate_address, AllocationId=eip, InstanceId="i-0123456789abcdef0", AllowReassociation=True)
    expect_error("InvalidParameterValue", ec2a.allocate_address, Domain="standard")
    expect_error("InvalidParameterValue", ec2a.describe_addresses, Filters=[{"Name": "nope", "Values": ["x"]}])
    # A VPC without an internet gateway takes no public address.
    vpc = ec2a.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2a.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
    eni = ec2a.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    spare = ec2a.allocate_address(Domain="vpc")["AllocationId"]
    expect_error("Gateway.NotAttached", ec2a.associate_address, AllocationId=spare, NetworkInterfaceId=eni)
    igw = ec2a.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2a.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2a.associate_address(AllocationId=spare, NetworkInterfaceId=eni)
    # Deleting the interface lets go of the address.
    ec2a.delete_network_interface(NetworkInterfaceId=eni)
    got = address(ec2a, spare)
    expect("AssociationId" not in got and "NetworkInterfaceId" not in got, got)
    ec2a.release_address(AllocationId=spare)
    ec2a.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2a.delete_internet_gateway(InternetGatewayId=igw)
    ec2a.delete_subnet(SubnetId=subnet)
    ec2a.delete_vpc(VpcId=vpc)


@check
def tenant_isolation():
    eip, instance_id = state["eip"], state["instance"]
    expect(ec2b.describe_addresses()["Addresses"] == [], "B sees addresses")
    expect_error("InvalidAllocationID.NotFound", ec2b.describe_addresses, AllocationIds=[eip])
    expect_error("InvalidAddress.NotFound", ec2b.describe_addresses, PublicIps=[state["public_ip"]])
    expect_error("InvalidAllocationID.NotFound", ec2b.describe_addresses_attribute, AllocationIds=[eip], Attribute="domain-name")
    expect_error("InvalidAllocationID.NotFound", ec2b.release_address, AllocationId=eip)
    expect_error("InvalidAssociationID.NotFound", ec2b.disassociate_address, AssociationId=state["association"])
    expect_error("InvalidAllocationID.NotFound", ec2b.create_tags, Resources=[eip], Tags=[{"Key": "k", "Value": "v"}])
    own = ec2b.allocate_address(Domain="vpc")["AllocationId"]
    state["b_eip"] = own
    expect_error("InvalidInstanceID.NotFound", ec2b.associate_address, AllocationId=own, InstanceId=instance_id)
    a_eni = instance(ec2a, instance_id)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    expect_error("InvalidNetworkInterfaceID.NotFound", ec2b.associate_address, AllocationId=own, NetworkInterfaceId=a_eni)
    b_instance = launch(ec2b)
    state["b_instance"] = b_instance
    expect_error("InvalidAllocationID.NotFound", ec2b.associate_address, AllocationId=eip, InstanceId=b_instance)
    expect(address(ec2a, eip)["InstanceId"] == instance_id, "A's address moved")
    status, _ = native("GET", f"/v1/addresses/{eip}", None, B["token"])
    expect(status == 404, f"B read A's address natively: {status}")
    status, _ = native("DELETE", f"/v1/addresses/{eip}", None, B["token"])
    expect(status == 404, f"B released A's address natively: {status}")


@check
def disassociate_release_and_terminate():
    eip, instance_id = state["eip"], state["instance"]
    ec2a.disassociate_address(AssociationId=state["association"])
    # Terraform sends it again on destroy and tolerates NotFound.
    expect_error("InvalidAssociationID.NotFound", ec2a.disassociate_address, AssociationId=state["association"])
    gone = instance(ec2a, instance_id)
    expect("PublicIpAddress" not in gone and "Association" not in gone["NetworkInterfaces"][0], gone)
    ec2a.release_address(AllocationId=eip)
    expect_error("InvalidAllocationID.NotFound", ec2a.describe_addresses, AllocationIds=[eip])
    # An address associated at termination is let go with the instance's interface.
    again = ec2a.allocate_address(Domain="vpc")["AllocationId"]
    ec2a.associate_address(AllocationId=again, InstanceId=instance_id)
    ec2a.terminate_instances(InstanceIds=[instance_id])
    deadline = time.monotonic() + 120
    while "AssociationId" in address(ec2a, again):
        expect(time.monotonic() < deadline, "the address stayed with a terminated instance")
        time.sleep(0.5)
    ec2a.release_address(AllocationId=again)
    ec2b.terminate_instances(InstanceIds=[state["b_instance"]])


@check
def native_routes_and_limits():
    made = ok_native("POST", "/v1/addresses", {"tags": {"Name": "native"}}, A["token"])
    expect(made["allocation_id"].startswith("eipalloc-") and made["domain"] == "vpc", made)
    listed = ok_native("GET", "/v1/addresses", None, A["token"])["addresses"]
    expect(made["allocation_id"] in [a["allocation_id"] for a in listed], listed)
    # Five per account: four more fit, the sixth does not.
    extra = [ec2a.allocate_address(Domain="vpc")["AllocationId"] for _ in range(4)]
    expect_error("AddressLimitExceeded", ec2a.allocate_address, Domain="vpc")
    status, _ = native("DELETE", f"/v1/address-pools/{POOL}", None, operator_token())
    expect(status == 409, f"a pool in use was deleted: {status}")
    for allocation_id in extra:
        ec2a.release_address(AllocationId=allocation_id)
    status, _ = native("DELETE", f"/v1/addresses/{made['allocation_id']}", None, A["token"])
    expect(status == 204, f"native release: {status}")
    ec2b.release_address(AllocationId=state["b_eip"])
    status, _ = native("DELETE", f"/v1/address-pools/{POOL}", None, operator_token())
    expect(status == 204, f"an unused pool: {status}")
    expect_error("InsufficientAddressCapacity", ec2a.allocate_address, Domain="vpc")
    code = error_code(ec2a.allocate_address, Domain="vpc")
    expect(code == "InsufficientAddressCapacity", code)


report()
