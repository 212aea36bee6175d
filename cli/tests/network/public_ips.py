"""Launch-time public IPv4 addresses through boto3 against a running `kumo up` with its own
compute agent (run by cli/tests/network_public_ips.rs).

Usage: public_ips.py ENDPOINT STATE_DIR [CHECK-NAME-PREFIX...]

The operator adds a public pool for the zone (native API). An instance launched into a
default subnet (mapPublicIpOnLaunch) or with NetworkInterface.0.AssociatePublicIpAddress
gets a pool address that is not an elastic IP: DescribeInstances shows it as
PublicIpAddress/PublicDnsName and in its interface's Association (IpOwnerId amazon, no
AllocationId/AssociationId), DescribeNetworkInterfaces too, DescribeAddresses does not.
Stop releases it, start gives a new one; an elastic IP replaces it and a new one comes back
when the elastic IP is disassociated; termination gives it back to the pool; the gateway
cannot be detached while one is mapped; a full pool launches without one; tenant isolation.
Every check runs; the last line of stdout is a JSON report; exit status 1 when any failed.
"""
import time

from harness import account, check, expect, expect_error, native, ok_native, operator_token, report, run_tag

A, B = account("pip-a"), account("pip-b")
ec2a, ec2b = A["ec2"], B["ec2"]
image = next(i["ImageId"] for i in ec2a.describe_images()["Images"] if "container" in i.get("Name", ""))
zone = ec2a.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
POOL = f"pip-{run_tag}"
POOL_CIDR = "198.51.100.0/28"
POOL_ADDRESSES = {f"198.51.100.{n}" for n in range(1, 15)}
state = {}


def instance(client, instance_id):
    return client.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def wait_state(client, instance_id, wanted, limit=120):
    deadline = time.monotonic() + limit
    while True:
        got = instance(client, instance_id)
        if got["State"]["Name"] == wanted:
            return got
        expect(time.monotonic() < deadline, f"{instance_id} stuck in {got['State']['Name']}, not {wanted}")
        time.sleep(0.5)


def dns_of(ip):
    return "ec2-" + ip.replace(".", "-") + ".compute-1.amazonaws.com"


def pool_allocated():
    pools = ok_native("GET", "/v1/address-pools", None, operator_token())["address_pools"]
    return next(p["allocated"] for p in pools if p["name"] == POOL)


def expect_launch_time(got, dns_hostnames=True):
    """The instance has a launch-time public address (owner amazon); it is returned. Its
    public DNS name is empty in a VPC without DNS hostnames, as in AWS."""
    public = got.get("PublicIpAddress")
    expect(public in POOL_ADDRESSES, f"public address {public} not from the pool")
    dns = dns_of(public) if dns_hostnames else ""
    expect(got.get("PublicDnsName") == dns, got.get("PublicDnsName"))
    primary = got["NetworkInterfaces"][0]
    wanted = {"PublicIp": public, "PublicDnsName": dns, "IpOwnerId": "amazon"}
    expect(primary.get("Association") == wanted, primary.get("Association"))
    expect(primary["PrivateIpAddresses"][0].get("Association") == wanted, primary["PrivateIpAddresses"])
    eni = ec2a.describe_network_interfaces(NetworkInterfaceIds=[primary["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    association = eni.get("Association", {})
    expect(association.get("PublicIp") == public and association.get("IpOwnerId") == "amazon", association)
    expect("AllocationId" not in association and "AssociationId" not in association, association)
    return public


def expect_no_public(got):
    expect("PublicIpAddress" not in got and got.get("PublicDnsName", "") == "", got)
    expect("Association" not in got["NetworkInterfaces"][0], got["NetworkInterfaces"][0])


@check
def operator_adds_a_pool():
    made = ok_native("POST", "/v1/address-pools", {"name": POOL, "zone": zone, "cidr": POOL_CIDR}, operator_token())
    expect(made["size"] == 14 and made["allocated"] == 0, made)


@check
def default_subnet_maps_a_public_address():
    subnets = ec2a.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    expect(subnets and all(s["MapPublicIpOnLaunch"] for s in subnets), subnets)
    out = ec2a.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    instance_id = out["Instances"][0]["InstanceId"]
    state["instance"] = instance_id
    got = wait_state(ec2a, instance_id, "running")
    public = expect_launch_time(got)
    state["public"] = public
    # Not an elastic IP.
    expect(ec2a.describe_addresses()["Addresses"] == [], "a launch-time address listed as an elastic IP")
    expect_error("InvalidAddress.NotFound", ec2a.describe_addresses, PublicIps=[public])
    found = ec2a.describe_network_interfaces(Filters=[{"Name": "association.public-ip", "Values": [public]}])
    expect([e["Attachment"]["InstanceId"] for e in found["NetworkInterfaces"]] == [instance_id], found)
    expect(pool_allocated() == 1, pool_allocated())


@check
def associate_public_ip_address_both_ways():
    # A subnet of a new VPC does not map; AssociatePublicIpAddress asks (Terraform's
    # aws_instance with associate_public_ip_address = true).
    vpc = ec2a.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2a.create_subnet(VpcId=vpc, CidrBlock="10.61.1.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
    igw = ec2a.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2a.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    state["vpc"], state["subnet"], state["igw"] = vpc, subnet, igw
    plain = ec2a.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet)
    plain_id = plain["Instances"][0]["InstanceId"]
    asked = ec2a.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "AssociatePublicIpAddress": True, "DeleteOnTermination": True}],
    )
    asked_id = asked["Instances"][0]["InstanceId"]
    declined = ec2a.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "AssociatePublicIpAddress": False}],
    )
    declined_id = declined["Instances"][0]["InstanceId"]
    expect_no_public(wait_state(ec2a, plain_id, "running"))
    expect_launch_time(wait_state(ec2a, asked_id, "running"), dns_hostnames=False)
    expect_no_public(wait_state(ec2a, declined_id, "running"))
    # The gateway stays while a launch-time address is mapped through it (as AWS).
    expect_error("DependencyViolation", ec2a.detach_internet_gateway, InternetGatewayId=igw, VpcId=vpc)
    ec2a.terminate_instances(InstanceIds=[plain_id, asked_id, declined_id])
    for instance_id in (plain_id, asked_id, declined_id):
        wait_state(ec2a, instance_id, "terminated")
    ec2a.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2a.delete_internet_gateway(InternetGatewayId=igw)
    ec2a.delete_subnet(SubnetId=subnet)
    ec2a.delete_vpc(VpcId=vpc)


@check
def stop_releases_start_gives_a_new_one():
    instance_id = state["instance"]
    ec2a.stop_instances(InstanceIds=[instance_id])
    # Released with the stop request, as AWS does.
    expect_no_public(instance(ec2a, instance_id))
    expect_no_public(wait_state(ec2a, instance_id, "stopped"))
    ec2a.start_instances(InstanceIds=[instance_id])
    state["public"] = expect_launch_time(wait_state(ec2a, instance_id, "running"))


@check
def elastic_ip_replaces_it_and_a_new_one_comes_back():
    instance_id = state["instance"]
    eip = ec2a.allocate_address(Domain="vpc")
    association = ec2a.associate_address(AllocationId=eip["AllocationId"], InstanceId=instance_id)["AssociationId"]
    got = instance(ec2a, instance_id)
    expect(got.get("PublicIpAddress") == eip["PublicIp"], got.get("PublicIpAddress"))
    primary = got["NetworkInterfaces"][0]
    expect(primary["Association"]["IpOwnerId"] == A["id"], primary["Association"])
    eni = ec2a.describe_network_interfaces(NetworkInterfaceIds=[primary["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    expect(eni["Association"]["AllocationId"] == eip["AllocationId"], eni["Association"])
    # The launch-time address went back to the pool: only the elastic IP is taken.
    expect(pool_allocated() == 1, pool_allocated())
    ec2a.disassociate_address(AssociationId=association)
    expect_launch_time(instance(ec2a, instance_id))
    ec2a.release_address(AllocationId=eip["AllocationId"])


@check
def tenant_isolation():
    public = instance(ec2a, state["instance"]).get("PublicIpAddress")
    expect(public, "A's instance lost its address")
    expect(ec2b.describe_addresses()["Addresses"] == [], "B sees addresses")
    found = ec2b.describe_network_interfaces(Filters=[{"Name": "association.public-ip", "Values": [public]}])
    expect(found["NetworkInterfaces"] == [], found)
    found = ec2b.describe_instances(Filters=[{"Name": "ip-address", "Values": [public]}])
    expect(found["Reservations"] == [], found)
    expect_error("InvalidAddress.NotFound", ec2b.describe_addresses, PublicIps=[public])
    expect_error("InvalidAddress.NotFound", ec2b.disassociate_address, PublicIp=public)


@check
def termination_gives_it_back():
    instance_id = state["instance"]
    ec2a.terminate_instances(InstanceIds=[instance_id])
    got = instance(ec2a, instance_id)
    expect("PublicIpAddress" not in got, got)
    wait_state(ec2a, instance_id, "terminated")
    expect(pool_allocated() == 0, pool_allocated())


@check
def a_full_pool_launches_without():
    status, _ = native("DELETE", f"/v1/address-pools/{POOL}", None, operator_token())
    expect(status == 204, f"an unused pool: {status}")
    ok_native("POST", "/v1/address-pools", {"name": POOL, "zone": zone, "cidr": "198.51.100.9/32"}, operator_token())
    out = ec2a.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=2, MaxCount=2)
    ids = [i["InstanceId"] for i in out["Instances"]]
    publics = [wait_state(ec2a, i, "running").get("PublicIpAddress") for i in ids]
    expect(sorted(publics, key=str) == sorted(["198.51.100.9", None], key=str), publics)
    ec2a.terminate_instances(InstanceIds=ids)
    for instance_id in ids:
        wait_state(ec2a, instance_id, "terminated")
    status, _ = native("DELETE", f"/v1/address-pools/{POOL}", None, operator_token())
    expect(status == 204, f"the pool after termination: {status}")


report()
