"""Network interfaces and instances through boto3 against a running `kumo up` with its own
compute agent (run by cli/tests/network_interfaces.rs).

Usage: network_interfaces.py ENDPOINT STATE_DIR [CHECK-NAME-PREFIX...]

Two accounts (A and B). Checks: an instance launched into a chosen subnet with a chosen
group shows its primary interface (id, attachment, groups, addresses) in RunInstances and
DescribeInstances, and runs; Terraform's aws_instance (default VPC, NetworkInterface.0 with
AssociatePublicIpAddress) and aws_network_interface sequences; a second interface is
created, attached, detached and deleted; secondary addresses; attributes; filters and
pages; terminating frees the addresses; tenant isolation (B cannot launch into A's subnet,
use A's group or attach A's interface). Every check runs; the last line of stdout is a
JSON report {"passed": [...], "failed": {name: reason}}; exit status 1 when any failed.
"""
import time

from harness import account, check, expect, expect_error, native, ok_native, report, run_tag

A, B = account("eni-a"), account("eni-b")
ec2a, ec2b = A["ec2"], B["ec2"]
image = next(i["ImageId"] for i in ec2a.describe_images()["Images"] if "container" in i.get("Name", ""))
zone = ec2a.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
vpc = ec2a.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
subnet = ec2a.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
group = ec2a.create_security_group(GroupName=f"web-{run_tag}", Description="web", VpcId=vpc)["GroupId"]
state = {}

ENI_KEYS = {
    "NetworkInterfaceId", "SubnetId", "VpcId", "AvailabilityZone", "Description", "OwnerId", "Status",
    "MacAddress", "PrivateIpAddress", "PrivateDnsName", "SourceDestCheck", "Groups", "PrivateIpAddresses",
    "Ipv6Addresses", "InterfaceType", "TagSet", "RequesterManaged",
}
INSTANCE_ENI_KEYS = {
    "NetworkInterfaceId", "SubnetId", "VpcId", "Description", "OwnerId", "Status", "MacAddress",
    "PrivateIpAddress", "PrivateDnsName", "SourceDestCheck", "Groups", "Attachment", "PrivateIpAddresses",
    "Ipv6Addresses", "InterfaceType",
}


def wait_state(client, instance_id, wanted_state, limit=120):
    deadline = time.monotonic() + limit
    while True:
        got = client.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        if got["State"]["Name"] == wanted_state:
            return got
        expect(time.monotonic() < deadline, f"{instance_id} stuck in {got['State']['Name']}")
        time.sleep(0.5)


def interfaces_of(client, instance_id):
    return client.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])[
        "NetworkInterfaces"
    ]


@check
def instance_in_a_chosen_subnet_and_group():
    out = ec2a.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[group]
    )
    launched = out["Instances"][0]
    state["instance"] = instance_id = launched["InstanceId"]
    expect(launched["SubnetId"] == subnet and launched["VpcId"] == vpc, launched)
    expect(launched["PrivateIpAddress"] == "10.20.1.4", launched["PrivateIpAddress"])
    expect([g["GroupId"] for g in launched["SecurityGroups"]] == [group], launched["SecurityGroups"])
    running = wait_state(ec2a, instance_id, "running")
    nics = running["NetworkInterfaces"]
    expect(len(nics) == 1, nics)
    nic = nics[0]
    expect(INSTANCE_ENI_KEYS <= set(nic), f"keys: {sorted(INSTANCE_ENI_KEYS - set(nic))}")
    expect(nic["NetworkInterfaceId"].startswith("eni-"), nic)
    attachment = nic["Attachment"]
    expect(attachment["AttachmentId"].startswith("eni-attach-"), attachment)
    expect(attachment["DeviceIndex"] == 0 and attachment["Status"] == "attached", attachment)
    expect(attachment["DeleteOnTermination"] is True, attachment)
    expect(nic["Groups"][0]["GroupId"] == group, nic["Groups"])
    expect(nic["PrivateIpAddresses"][0]["Primary"] is True, nic["PrivateIpAddresses"])
    state["primary"] = nic["NetworkInterfaceId"]
    # The same interface, seen from DescribeNetworkInterfaces.
    eni = interfaces_of(ec2a, instance_id)[0]
    expect(ENI_KEYS <= set(eni), f"keys: {sorted(ENI_KEYS - set(eni))}")
    expect(eni["Status"] == "in-use" and eni["Attachment"]["InstanceId"] == instance_id, eni)
    expect_error("InvalidIPAddress.InUse", ec2a.run_instances, ImageId=image, InstanceType="t3.micro", MinCount=1,
                 MaxCount=1, SubnetId=subnet, PrivateIpAddress="10.20.1.4")
    expect_error("InvalidParameterValue", ec2a.run_instances, ImageId=image, InstanceType="t3.micro", MinCount=1,
                 MaxCount=1, SubnetId=subnet, PrivateIpAddress="10.20.9.9")


@check
def terraform_instance_in_the_default_vpc():
    # aws_instance with associate_public_ip_address: NetworkInterface.1.* at device index 0.
    out = ec2a.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "AssociatePublicIpAddress": False, "DeleteOnTermination": True}],
    )
    instance_id = out["Instances"][0]["InstanceId"]
    got = ec2a.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    default_vpc = ec2a.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    expect(got["VpcId"] == default_vpc, (got["VpcId"], default_vpc))
    expect(got["PrivateIpAddress"].startswith("172.31."), got["PrivateIpAddress"])
    expect([g["GroupName"] for g in got["SecurityGroups"]] == ["default"], got["SecurityGroups"])
    expect(got["NetworkInterfaces"][0]["Attachment"]["DeviceIndex"] == 0, got["NetworkInterfaces"])
    expect_error("InvalidParameterCombination", ec2a.run_instances, ImageId=image, MinCount=1, MaxCount=1,
                 SubnetId=subnet, NetworkInterfaces=[{"DeviceIndex": 0}])
    ec2a.terminate_instances(InstanceIds=[instance_id])


@check
def terraform_network_interface_sequence():
    created = ec2a.create_network_interface(
        SubnetId=subnet, Groups=[group], PrivateIpAddresses=[{"PrivateIpAddress": "10.20.1.50", "Primary": True}],
        ClientToken=f"terraform-{run_tag}",
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "tf-eni"}]}],
    )["NetworkInterface"]
    expect(ENI_KEYS <= set(created), f"keys: {sorted(ENI_KEYS - set(created))}")
    expect(created["PrivateIpAddress"] == "10.20.1.50" and created["Status"] == "available", created)
    expect(created["TagSet"] == [{"Key": "Name", "Value": "tf-eni"}], created["TagSet"])
    eni_id = created["NetworkInterfaceId"]
    for _ in range(2):
        got = ec2a.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"]
        expect(len(got) == 1 and got[0]["Groups"][0]["GroupId"] == group, got)
    ec2a.delete_network_interface(NetworkInterfaceId=eni_id)
    expect_error("InvalidNetworkInterfaceID.NotFound", ec2a.describe_network_interfaces, NetworkInterfaceIds=[eni_id])


@check
def second_interface_attach_detach():
    instance_id = state["instance"]
    eni = ec2a.create_network_interface(SubnetId=subnet, Description="second", SecondaryPrivateIpAddressCount=1)[
        "NetworkInterface"
    ]
    eni_id = eni["NetworkInterfaceId"]
    expect(len(eni["PrivateIpAddresses"]) == 2, eni["PrivateIpAddresses"])
    attachment = ec2a.attach_network_interface(NetworkInterfaceId=eni_id, InstanceId=instance_id, DeviceIndex=1)
    attachment_id = attachment["AttachmentId"]
    expect(attachment_id.startswith("eni-attach-") and attachment["NetworkCardIndex"] == 0, attachment)
    nics = ec2a.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["NetworkInterfaces"]
    expect(sorted(n["Attachment"]["DeviceIndex"] for n in nics) == [0, 1], nics)
    found = ec2a.describe_network_interfaces(Filters=[{"Name": "attachment.device-index", "Values": ["1"]}])
    expect([n["NetworkInterfaceId"] for n in found["NetworkInterfaces"]] == [eni_id], found)
    expect_error("InvalidNetworkInterface.InUse", ec2a.delete_network_interface, NetworkInterfaceId=eni_id)
    expect_error("InvalidParameterValue", ec2a.attach_network_interface, NetworkInterfaceId=eni_id,
                 InstanceId=instance_id, DeviceIndex=0)
    primary_attachment = nics[0]["Attachment"]["AttachmentId"] if nics[0]["Attachment"]["DeviceIndex"] == 0 else nics[1]["Attachment"]["AttachmentId"]
    expect_error("OperationNotPermitted", ec2a.detach_network_interface, AttachmentId=primary_attachment)
    # Attributes.
    ec2a.modify_network_interface_attribute(NetworkInterfaceId=eni_id, SourceDestCheck={"Value": False})
    ec2a.modify_network_interface_attribute(NetworkInterfaceId=eni_id, Description={"Value": "renamed"})
    ec2a.modify_network_interface_attribute(NetworkInterfaceId=eni_id, Groups=[group])
    ec2a.modify_network_interface_attribute(
        NetworkInterfaceId=eni_id, Attachment={"AttachmentId": attachment_id, "DeleteOnTermination": False}
    )
    attr = ec2a.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="sourceDestCheck")
    expect(attr["SourceDestCheck"]["Value"] is False, attr)
    attr = ec2a.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="description")
    expect(attr["Description"]["Value"] == "renamed", attr)
    attr = ec2a.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="groupSet")
    expect([g["GroupId"] for g in attr["Groups"]] == [group], attr)
    attr = ec2a.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="attachment")
    expect(attr["Attachment"]["AttachmentId"] == attachment_id, attr)
    # Secondary addresses.
    assigned = ec2a.assign_private_ip_addresses(NetworkInterfaceId=eni_id, SecondaryPrivateIpAddressCount=2)
    addresses = [a["PrivateIpAddress"] for a in assigned["AssignedPrivateIpAddresses"]]
    expect(len(addresses) == 2, assigned)
    ec2a.unassign_private_ip_addresses(NetworkInterfaceId=eni_id, PrivateIpAddresses=addresses)
    got = ec2a.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    expect(len(got["PrivateIpAddresses"]) == 2 and not got["SourceDestCheck"], got)
    ec2a.detach_network_interface(AttachmentId=attachment_id)
    got = ec2a.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    expect(got["Status"] == "available" and "Attachment" not in got, got)
    ec2a.attach_network_interface(NetworkInterfaceId=eni_id, InstanceId=instance_id, DeviceIndex=1)
    state["second"] = eni_id


@check
def filters_and_pages():
    found = ec2a.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"]
    expect(len(found) >= 2, found)
    pages = ec2a.get_paginator("describe_network_interfaces").paginate(PaginationConfig={"PageSize": 5})
    ids = [n["NetworkInterfaceId"] for page in pages for n in page["NetworkInterfaces"]]
    expect(len(ids) == len(set(ids)) >= 2, ids)
    for name, value in (("vpc-id", vpc), ("group-id", group), ("status", "in-use"),
                        ("private-ip-address", "10.20.1.4")):
        got = ec2a.describe_network_interfaces(Filters=[{"Name": name, "Values": [value]}])["NetworkInterfaces"]
        expect(got, f"{name}={value} found nothing")
    expect_error("InvalidParameterValue", ec2a.describe_network_interfaces, Filters=[{"Name": "nope", "Values": ["x"]}])
    got = ec2a.describe_instances(Filters=[{"Name": "instance.group-id", "Values": [group]}])["Reservations"]
    expect(any(i["InstanceId"] == state["instance"] for r in got for i in r["Instances"]), got)


@check
def instance_attributes_on_the_primary_interface():
    instance_id = state["instance"]
    other = ec2a.create_security_group(GroupName=f"other-{run_tag}", Description="other", VpcId=vpc)["GroupId"]
    ec2a.modify_instance_attribute(InstanceId=instance_id, Groups=[group, other])
    attr = ec2a.describe_instance_attribute(InstanceId=instance_id, Attribute="groupSet")
    expect([g["GroupId"] for g in attr["Groups"]] == [group, other], attr)
    ec2a.modify_instance_attribute(InstanceId=instance_id, SourceDestCheck={"Value": False})
    attr = ec2a.describe_instance_attribute(InstanceId=instance_id, Attribute="sourceDestCheck")
    expect(attr["SourceDestCheck"]["Value"] is False, attr)
    got = ec2a.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    expect(got["SourceDestCheck"] is False and len(got["SecurityGroups"]) == 2, got)
    expect_error("InvalidGroup.NotFound", ec2a.modify_instance_attribute, InstanceId=instance_id,
                 Groups=["sg-0123456789abcdef0"])
    expect_error("InvalidInstanceID.NotFound", ec2b.modify_instance_attribute, InstanceId=instance_id, Groups=[group])
    ec2a.modify_instance_attribute(InstanceId=instance_id, Groups=[group])
    ec2a.modify_instance_attribute(InstanceId=instance_id, SourceDestCheck={"Value": True})


@check
def tenant_isolation():
    instance_id = state["instance"]
    expect_error("InvalidSubnetID.NotFound", ec2b.run_instances, ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)
    expect_error("InvalidGroup.NotFound", ec2b.run_instances, ImageId=image, MinCount=1, MaxCount=1,
                 SecurityGroupIds=[group])
    expect_error("InvalidNetworkInterfaceID.NotFound", ec2b.describe_network_interfaces,
                 NetworkInterfaceIds=[state["second"]])
    expect_error("InvalidNetworkInterfaceID.NotFound", ec2b.delete_network_interface,
                 NetworkInterfaceId=state["second"])
    mine = ec2b.create_network_interface(
        SubnetId=ec2b.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]
    )["NetworkInterface"]["NetworkInterfaceId"]
    expect_error("InvalidInstanceID.NotFound", ec2b.attach_network_interface, NetworkInterfaceId=mine,
                 InstanceId=instance_id, DeviceIndex=1)
    expect_error("InvalidNetworkInterfaceID.NotFound", ec2b.attach_network_interface,
                 NetworkInterfaceId=state["second"], InstanceId=instance_id, DeviceIndex=2)
    expect_error("InvalidSubnetID.NotFound", ec2b.create_network_interface, SubnetId=subnet)
    expect(ec2b.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"] == [],
           "B sees none of A's interfaces")
    ec2b.delete_network_interface(NetworkInterfaceId=mine)


@check
def native_routes():
    token = A["token"]
    listed = ok_native("GET", f"/v1/network-interfaces?subnet_id={subnet}", token=token)
    expect(len(listed["network_interfaces"]) >= 2, listed)
    made = ok_native("POST", "/v1/network-interfaces", {"subnet_id": subnet, "description": "native"}, token)
    expect(made["status"] == "available" and made["description"] == "native", made)
    status, _ = native("GET", f"/v1/network-interfaces/{made['network_interface_id']}", token=B["token"])
    expect(status == 404, f"B reads A's interface: {status}")
    ok_native("DELETE", f"/v1/network-interfaces/{made['network_interface_id']}", token=token)


@check
def terminate_frees_addresses():
    instance_id = state["instance"]
    ec2a.terminate_instances(InstanceIds=[instance_id])
    wait_state(ec2a, instance_id, "terminated")
    expect_error("InvalidNetworkInterfaceID.NotFound", ec2a.describe_network_interfaces,
                 NetworkInterfaceIds=[state["primary"]])
    second = ec2a.describe_network_interfaces(NetworkInterfaceIds=[state["second"]])["NetworkInterfaces"][0]
    expect(second["Status"] == "available", second)
    expect(interfaces_of(ec2a, instance_id) == [], "no interface left attached")
    # The primary's address is free again.
    again = ec2a.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.20.1.4")["NetworkInterface"]
    ec2a.delete_network_interface(NetworkInterfaceId=again["NetworkInterfaceId"])
    ec2a.delete_network_interface(NetworkInterfaceId=state["second"])


@check
def client_token_idempotency():
    token = f"idem-{run_tag}"
    first = ec2a.create_network_interface(SubnetId=subnet, Description="idem", ClientToken=token)["NetworkInterface"]
    again = ec2a.create_network_interface(SubnetId=subnet, Description="idem", ClientToken=token)["NetworkInterface"]
    expect(again["NetworkInterfaceId"] == first["NetworkInterfaceId"], (first, again))
    expect_error("IdempotentParameterMismatch", ec2a.create_network_interface, SubnetId=subnet,
                 Description="other", ClientToken=token)
    vpc_id = first["VpcId"]
    table = ec2a.create_route_table(VpcId=vpc_id, ClientToken=token)
    expect(table["ClientToken"] == token, table)
    table_again = ec2a.create_route_table(VpcId=vpc_id, ClientToken=token)
    expect(table_again["RouteTable"]["RouteTableId"] == table["RouteTable"]["RouteTableId"], table_again)
    expect_error("IdempotentParameterMismatch", ec2a.create_route_table, VpcId=vpc_id, ClientToken=token,
                 TagSpecifications=[{"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": "x"}]}])
    expect_error("InvalidParameterValue", ec2a.create_route_table, VpcId=vpc_id, ClientToken="t" * 65)
    ec2a.delete_route_table(RouteTableId=table["RouteTable"]["RouteTableId"])
    ec2a.delete_network_interface(NetworkInterfaceId=first["NetworkInterfaceId"])


report()
