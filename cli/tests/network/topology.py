"""The network topology through boto3 against a running `kumo up` (run by
cli/tests/network_topology.rs).

Usage: topology.py ENDPOINT STATE_DIR [CHECK-NAME-PREFIX...]

Two accounts (A and B, each with an admin's access key and token). Checks: the default
VPC's shape (172.31.0.0/16, a default /20 subnet per zone, an attached internet gateway
and a 0.0.0.0/0 route to it), the VPC/subnet/internet gateway/route table/network ACL
shapes Terraform reads and its call sequences, filters, pages, tags, every error code,
DependencyViolation ordering, DryRun, the native routes, and tenant isolation. Every
check runs; the last line of stdout is a JSON report {"passed": [...], "failed":
{name: reason}}; exit status 1 when any failed.
"""
from harness import account, check, expect, expect_error, native, ok_native, report, run_tag

A = account("topo-a")
B = account("topo-b")
ec2 = A["ec2"]


def tags_of(item):
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


def name_tag(kind, name):
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}, {"Key": "run", "Value": run_tag}]}]


def new_vpc(cidr="10.0.0.0/16", name="vpc"):
    return ec2.create_vpc(CidrBlock=cidr, TagSpecifications=name_tag("vpc", name))["Vpc"]


# ---------------------------------------------------------------------------------------
# The default VPC


@check
def default_vpc_is_shaped_like_aws():
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    expect(len(vpcs) == 1, f"one default VPC: {vpcs}")
    vpc = vpcs[0]
    expect(vpc["CidrBlock"] == "172.31.0.0/16" and vpc["IsDefault"] and vpc["State"] == "available", vpc)
    vpc_id = vpc["VpcId"]
    hostnames = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
    expect(hostnames["EnableDnsHostnames"]["Value"] is True, hostnames)
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    expect(len(subnets) >= 1, subnets)
    first = sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]
    expect(first["CidrBlock"] == "172.31.0.0/20", first)
    for s in subnets:
        expect(s["VpcId"] == vpc_id and s["DefaultForAz"] and s["MapPublicIpOnLaunch"], s)
        expect(s["AvailableIpAddressCount"] == 4091, s)
    gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])
    igws = gateways["InternetGateways"]
    expect(len(igws) == 1 and igws[0]["Attachments"] == [{"State": "available", "VpcId": vpc_id}], igws)
    main = ec2.describe_route_tables(
        Filters=[{"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["RouteTables"]
    expect(len(main) == 1, main)
    routes = {r["DestinationCidrBlock"]: r for r in main[0]["Routes"]}
    expect(routes["172.31.0.0/16"]["GatewayId"] == "local", routes)
    expect(routes["0.0.0.0/0"]["GatewayId"] == igws[0]["InternetGatewayId"], routes)
    expect(routes["0.0.0.0/0"]["State"] == "active", routes)
    acls = ec2.describe_network_acls(Filters=[{"Name": "default", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc_id]}])
    acl = acls["NetworkAcls"][0]
    expect(acl["IsDefault"] and {a["SubnetId"] for a in acl["Associations"]} == {s["SubnetId"] for s in subnets}, acl)
    expect(len(acl["Entries"]) == 4, acl["Entries"])
    # Made once: asking again finds the same one; CreateDefaultVpc refuses a second.
    expect(ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["VpcId"] == vpc_id, "same")
    expect_error("DefaultVpcAlreadyExists", ec2.create_default_vpc)
    return f"{vpc_id}, {len(subnets)} default subnet(s)"


# ---------------------------------------------------------------------------------------
# VPCs


@check
def vpc_terraform_sequence_and_shapes():
    vpc = ec2.create_vpc(
        CidrBlock="10.0.0.0/16",
        InstanceTenancy="default",
        AmazonProvidedIpv6CidrBlock=False,
        TagSpecifications=name_tag("vpc", "tf-vpc"),
    )["Vpc"]
    vpc_id = vpc["VpcId"]
    for key in ("VpcId", "OwnerId", "State", "CidrBlock", "CidrBlockAssociationSet", "DhcpOptionsId", "InstanceTenancy", "IsDefault"):
        expect(key in vpc, f"{key} in {vpc}")
    expect(vpc["OwnerId"] == A["id"] and vpc["IsDefault"] is False and tags_of(vpc)["Name"] == "tf-vpc", vpc)
    expect(vpc["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"] == "associated", vpc)
    read = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    expect(read["State"] == "available" and tags_of(read)["run"] == run_tag, read)
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    values = {
        attr: ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attr)
        for attr in ("enableDnsHostnames", "enableDnsSupport", "enableNetworkAddressUsageMetrics")
    }
    expect(values["enableDnsHostnames"]["EnableDnsHostnames"]["Value"] is True, values)
    expect(values["enableDnsSupport"]["EnableDnsSupport"]["Value"] is True, values)
    expect(values["enableNetworkAddressUsageMetrics"]["EnableNetworkAddressUsageMetrics"]["Value"] is False, values)
    expect(values["enableDnsSupport"]["VpcId"] == vpc_id, values)
    # What Terraform reads of a VPC: its default ACL, main route table and default group.
    acls = ec2.describe_network_acls(Filters=[{"Name": "default", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc_id]}])
    expect(len(acls["NetworkAcls"]) == 1 and acls["NetworkAcls"][0]["Associations"] == [], acls)
    main = ec2.describe_route_tables(
        Filters=[{"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["RouteTables"]
    expect(len(main) == 1, main)
    association = main[0]["Associations"][0]
    expect(association["Main"] and association["RouteTableAssociationId"].startswith("rtbassoc-"), association)
    expect(association["AssociationState"]["State"] == "associated", association)
    expect(main[0]["Routes"] == [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}], main)
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}, {"Name": "vpc-id", "Values": [vpc_id]}])
    expect(len(groups["SecurityGroups"]) == 1, groups)
    ec2.delete_vpc(VpcId=vpc_id)
    expect_error("InvalidVpcID.NotFound", ec2.describe_vpcs, VpcIds=[vpc_id])
    # Its main table, ACL and default group went with it.
    expect(ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"] == [], "tables gone")
    expect(ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NetworkAcls"] == [], "acls gone")


@check
def vpc_errors():
    expect_error("InvalidVpc.Range", ec2.create_vpc, CidrBlock="10.0.0.0/15")
    expect_error("InvalidVpc.Range", ec2.create_vpc, CidrBlock="10.0.0.0/29")
    expect_error("InvalidParameterValue", ec2.create_vpc, CidrBlock="10.0.0.1/16")
    expect_error("InvalidParameterValue", ec2.create_vpc, CidrBlock="not-a-cidr")
    expect_error("InvalidParameterValue", ec2.create_vpc, CidrBlock="")
    expect_error("InvalidVpcID.NotFound", ec2.describe_vpcs, VpcIds=["vpc-0123456789abcdef0"])
    expect_error("InvalidVpcID.NotFound", ec2.delete_vpc, VpcId="vpc-0123456789abcdef0")
    expect_error("InvalidVpcID.Malformed", ec2.delete_vpc, VpcId="vpc-nope")
    vpc = new_vpc("10.9.0.0/16")
    expect_error("InvalidParameterValue", ec2.describe_vpc_attribute, VpcId=vpc["VpcId"], Attribute="enableMagic")
    expect_error("InvalidParameterValue", ec2.describe_vpcs, Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    expect_error("DryRunOperation", ec2.create_vpc, CidrBlock="10.0.0.0/16", DryRun=True)
    ec2.delete_vpc(VpcId=vpc["VpcId"])


@check
def vpc_filters_and_pages():
    made = [new_vpc(f"10.{n}.0.0/16", name=f"page-{n}") for n in range(20, 26)]
    ids = {v["VpcId"] for v in made}
    mine = [{"Name": "tag:run", "Values": [run_tag]}, {"Name": "tag:Name", "Values": ["page-*"]}]
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"Filters": mine, "MaxResults": 5}
        if token:
            kwargs["NextToken"] = token
        page = ec2.describe_vpcs(**kwargs)
        seen += [v["VpcId"] for v in page["Vpcs"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    expect(pages == 2 and len(seen) == 6 and set(seen) == ids, f"{pages} pages: {seen}")
    by_cidr = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.21.0.0/16"]}])["Vpcs"]
    expect([v["VpcId"] for v in by_cidr] == [made[1]["VpcId"]], by_cidr)
    keyed = ec2.describe_vpcs(Filters=[{"Name": "tag-key", "Values": ["run"]}, {"Name": "is-default", "Values": ["false"]}])["Vpcs"]
    expect(ids <= {v["VpcId"] for v in keyed}, keyed)
    expect_error("InvalidNextToken", ec2.describe_vpcs, NextToken="garbage!")
    for v in made:
        ec2.delete_vpc(VpcId=v["VpcId"])
    return f"{pages} pages"


# ---------------------------------------------------------------------------------------
# Subnets


@check
def subnet_terraform_sequence_shapes_and_errors():
    vpc_id = new_vpc("10.1.0.0/16")["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock="10.1.1.0/24", AvailabilityZone="us-east-1a", TagSpecifications=name_tag("subnet", "tf-subnet")
    )["Subnet"]
    subnet_id = subnet["SubnetId"]
    read = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    for key in (
        "AvailabilityZone", "AvailabilityZoneId", "AvailableIpAddressCount", "CidrBlock", "DefaultForAz",
        "MapPublicIpOnLaunch", "State", "SubnetId", "VpcId", "OwnerId", "AssignIpv6AddressOnCreation",
        "Ipv6CidrBlockAssociationSet", "SubnetArn", "Ipv6Native", "PrivateDnsNameOptionsOnLaunch",
    ):
        expect(key in read, f"{key} in {read}")
    expect(read["AvailableIpAddressCount"] == 251 and read["State"] == "available", read)
    expect(read["SubnetArn"] == f"arn:aws:ec2:us-east-1:{A['id']}:subnet/{subnet_id}", read)
    expect(read["AvailabilityZoneId"] == "use1-az1" and tags_of(read)["Name"] == "tf-subnet", read)
    ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    expect(ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["MapPublicIpOnLaunch"] is True, "map public")
    expect_error("InvalidSubnet.Range", ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.2.0.0/24")
    expect_error("InvalidSubnet.Range", ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.1.2.0/29")
    expect_error("InvalidSubnet.Conflict", ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.1.1.128/25")
    expect_error("InvalidSubnet.Conflict", ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.1.0.0/16")
    expect_error("InvalidParameterValue", ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.1.3.0/24", AvailabilityZone="mars-1a")
    expect_error("InvalidVpcID.NotFound", ec2.create_subnet, VpcId="vpc-0123456789abcdef0", CidrBlock="10.1.3.0/24")
    second = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.2.0/28")["Subnet"]
    expect(second["AvailableIpAddressCount"] == 11 and second["AvailabilityZone"] == "us-east-1a", second)
    for name, value, want in [
        ("vpc-id", vpc_id, {subnet_id, second["SubnetId"]}),
        ("cidr-block", "10.1.1.0/24", {subnet_id}),
        ("tag:Name", "tf-*", {subnet_id}),
        ("map-public-ip-on-launch", "true", {subnet_id}),
    ]:
        got = ec2.describe_subnets(Filters=[{"Name": name, "Values": [value]}, {"Name": "vpc-id", "Values": [vpc_id]}])
        expect({s["SubnetId"] for s in got["Subnets"]} == want, f"{name}={value}: {got['Subnets']}")
    # A VPC with a subnet is in use.
    expect_error("DependencyViolation", ec2.delete_vpc, VpcId=vpc_id)
    for s in (subnet_id, second["SubnetId"]):
        ec2.delete_subnet(SubnetId=s)
    expect_error("InvalidSubnetID.NotFound", ec2.describe_subnets, SubnetIds=[subnet_id])
    expect_error("InvalidSubnetID.NotFound", ec2.delete_subnet, SubnetId=subnet_id)
    ec2.delete_vpc(VpcId=vpc_id)


# ---------------------------------------------------------------------------------------
# Internet gateways


@check
def internet_gateway_sequence_and_errors():
    vpc_id = new_vpc("10.2.0.0/16")["VpcId"]
    other_id = new_vpc("10.3.0.0/16")["VpcId"]
    igw = ec2.create_internet_gateway(TagSpecifications=name_tag("internet-gateway", "tf-igw"))["InternetGateway"]
    igw_id = igw["InternetGatewayId"]
    expect(igw["Attachments"] == [] and tags_of(igw)["Name"] == "tf-igw" and igw["OwnerId"] == A["id"], igw)
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    read = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"][0]
    expect(read["Attachments"] == [{"State": "available", "VpcId": vpc_id}], read)
    expect_error("Resource.AlreadyAssociated", ec2.attach_internet_gateway, InternetGatewayId=igw_id, VpcId=other_id)
    spare = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    expect_error("Resource.AlreadyAssociated", ec2.attach_internet_gateway, InternetGatewayId=spare, VpcId=vpc_id)
    expect_error("Gateway.NotAttached", ec2.detach_internet_gateway, InternetGatewayId=igw_id, VpcId=other_id)
    expect_error("DependencyViolation", ec2.delete_internet_gateway, InternetGatewayId=igw_id)
    # A VPC with an attached gateway is in use.
    expect_error("DependencyViolation", ec2.delete_vpc, VpcId=vpc_id)
    filtered = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])
    expect([g["InternetGatewayId"] for g in filtered["InternetGateways"]] == [igw_id], filtered)
    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    expect(ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"][0]["Attachments"] == [], "detached")
    for g in (igw_id, spare):
        ec2.delete_internet_gateway(InternetGatewayId=g)
    expect_error("InvalidInternetGatewayID.NotFound", ec2.describe_internet_gateways, InternetGatewayIds=[igw_id])
    expect_error("InvalidInternetGatewayID.NotFound", ec2.attach_internet_gateway, InternetGatewayId=igw_id, VpcId=vpc_id)
    for v in (vpc_id, other_id):
        ec2.delete_vpc(VpcId=v)


# ---------------------------------------------------------------------------------------
# Route tables


@check
def route_table_sequences_and_errors():
    vpc_id = new_vpc("10.4.0.0/16")["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.4.1.0/24")["Subnet"]["SubnetId"]
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    table = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=name_tag("route-table", "tf-rtb"))["RouteTable"]
    rtb = table["RouteTableId"]
    expect(table["VpcId"] == vpc_id and table["Associations"] == [] and tags_of(table)["Name"] == "tf-rtb", table)
    expect(table["Routes"] == [{"DestinationCidrBlock": "10.4.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}], table)
    # A route to a gateway not attached to the VPC is refused; attached, it is accepted.
    expect_error("InvalidParameterValue", ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    expect_error("RouteAlreadyExists", ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    expect_error("InvalidParameterValue", ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.4.5.0/24", GatewayId=igw_id)
    expect_error("InvalidInternetGatewayID.NotFound", ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="1.0.0.0/8", GatewayId="igw-0123456789abcdef0")
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    expect_error("InvalidRoute.NotFound", ec2.replace_route, RouteTableId=rtb, DestinationCidrBlock="1.0.0.0/8", GatewayId=igw_id)
    expect_error("InvalidParameterValue", ec2.delete_route, RouteTableId=rtb, DestinationCidrBlock="10.4.0.0/16")
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    expect({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw_id, "Origin": "CreateRoute", "State": "active"} in routes, routes)
    # Associations (Terraform's aws_route_table_association).
    assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet_id)
    assoc_id = assoc["AssociationId"]
    expect(assoc_id.startswith("rtbassoc-") and assoc["AssociationState"]["State"] == "associated", assoc)
    expect_error("Resource.AlreadyAssociated", ec2.associate_route_table, RouteTableId=rtb, SubnetId=subnet_id)
    found = ec2.describe_route_tables(Filters=[{"Name": "association.route-table-association-id", "Values": [assoc_id]}])["RouteTables"]
    expect([t["RouteTableId"] for t in found] == [rtb], found)
    by_subnet = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["RouteTables"]
    expect([t["RouteTableId"] for t in by_subnet] == [rtb], by_subnet)
    by_route = ec2.describe_route_tables(Filters=[{"Name": "route.gateway-id", "Values": [igw_id]}])["RouteTables"]
    expect([t["RouteTableId"] for t in by_route] == [rtb], by_route)
    expect_error("DependencyViolation", ec2.delete_route_table, RouteTableId=rtb)
    # The main table: not deletable, not disassociable; its association can be replaced.
    main = ec2.describe_route_tables(Filters=[{"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"][0]
    main_assoc = main["Associations"][0]["RouteTableAssociationId"]
    expect_error("DependencyViolation", ec2.delete_route_table, RouteTableId=main["RouteTableId"])
    expect_error("InvalidParameterValue", ec2.disassociate_route_table, AssociationId=main_assoc)
    replaced = ec2.replace_route_table_association(AssociationId=main_assoc, RouteTableId=rtb)
    new_main = replaced["NewAssociationId"]
    mains = ec2.describe_route_tables(Filters=[{"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    expect([t["RouteTableId"] for t in mains] == [rtb], mains)
    ec2.replace_route_table_association(AssociationId=new_main, RouteTableId=main["RouteTableId"])
    # Back out, as Terraform's destroy does.
    ec2.disassociate_route_table(AssociationId=assoc_id)
    expect(ec2.describe_route_tables(Filters=[{"Name": "association.route-table-association-id", "Values": [assoc_id]}])["RouteTables"] == [], "gone")
    expect_error("InvalidAssociationID.NotFound", ec2.disassociate_route_table, AssociationId=assoc_id)
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    expect_error("InvalidRoute.NotFound", ec2.delete_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    # A VPC with another route table is in use.
    ec2.delete_subnet(SubnetId=subnet_id)
    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    expect_error("DependencyViolation", ec2.delete_vpc, VpcId=vpc_id)
    ec2.delete_route_table(RouteTableId=rtb)
    expect_error("InvalidRouteTableID.NotFound", ec2.describe_route_tables, RouteTableIds=[rtb])
    expect_error("InvalidRouteTableID.NotFound", ec2.delete_route_table, RouteTableId=rtb)
    ec2.delete_vpc(VpcId=vpc_id)


@check
def detached_gateway_routes_are_blackholes():
    vpc_id = new_vpc("10.5.0.0/16")["VpcId"]
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    expect([r["State"] for r in routes if r["DestinationCidrBlock"] == "0.0.0.0/0"] == ["blackhole"], routes)
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_vpc(VpcId=vpc_id)


# ---------------------------------------------------------------------------------------
# Native routes and tenant isolation


@check
def native_routes():
    token = A["token"]
    vpc = ok_native("POST", "/v1/vpcs", {"cidr_block": "10.6.0.0/16", "tags": {"Name": "native"}}, token)
    vpc_id = vpc["vpc_id"]
    expect(vpc["state"] == "available" and vpc["tags"] == {"Name": "native"}, vpc)
    subnet = ok_native("POST", "/v1/subnets", {"vpc_id": vpc_id, "cidr_block": "10.6.1.0/24"}, token)
    listed = ok_native("GET", f"/v1/subnets?vpc_id={vpc_id}", None, token)["subnets"]
    expect([s["subnet_id"] for s in listed] == [subnet["subnet_id"]], listed)
    igw = ok_native("POST", "/v1/internet-gateways", {}, token)
    gid = igw["internet_gateway_id"]
    attached = ok_native("POST", f"/v1/internet-gateways/{gid}/attach", {"vpc_id": vpc_id}, token)
    expect(attached["vpc_id"] == vpc_id, attached)
    table = ok_native("POST", "/v1/route-tables", {"vpc_id": vpc_id}, token)
    rtb = table["route_table_id"]
    routed = ok_native("POST", f"/v1/route-tables/{rtb}/routes", {"destination_cidr_block": "0.0.0.0/0", "gateway_id": gid}, token)
    expect(len(routed["routes"]) == 2, routed)
    assoc = ok_native("POST", f"/v1/route-tables/{rtb}/associations", {"subnet_id": subnet["subnet_id"]}, token)
    status, body = native("DELETE", f"/v1/vpcs/{vpc_id}", None, token)
    expect(status == 409 and body["error"]["code"] == "DependencyViolation", f"{status} {body}")
    ok_native("DELETE", f"/v1/route-table-associations/{assoc['association_id']}", None, token)
    ok_native("DELETE", f"/v1/route-tables/{rtb}/routes?destination_cidr_block=0.0.0.0/0", None, token)
    ok_native("DELETE", f"/v1/route-tables/{rtb}", None, token)
    ok_native("POST", f"/v1/internet-gateways/{gid}/detach", {"vpc_id": vpc_id}, token)
    ok_native("DELETE", f"/v1/internet-gateways/{gid}", None, token)
    ok_native("DELETE", f"/v1/subnets/{subnet['subnet_id']}", None, token)
    ok_native("PATCH", f"/v1/vpcs/{vpc_id}", {"enable_dns_hostnames": True}, token)
    ok_native("DELETE", f"/v1/vpcs/{vpc_id}", None, token)
    status, _ = native("GET", f"/v1/vpcs/{vpc_id}", None, token)
    expect(status == 404, status)
    status, body = native("POST", "/v1/vpcs", {"cidr_block": "10.0.0.0/8"}, token)
    expect(status == 400, f"{status} {body}")
    acls = ok_native("GET", "/v1/network-acls", None, token)["network_acls"]
    expect(any(a["is_default"] for a in acls), acls)


@check
def tenants_are_isolated():
    vpc_id = new_vpc("10.7.0.0/16")["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    b = B["ec2"]
    # B's own VPC may use the same block.
    b_vpc = b.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    b_subnet = b.create_subnet(VpcId=b_vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    expect_error("InvalidVpcID.NotFound", b.describe_vpcs, VpcIds=[vpc_id])
    expect_error("InvalidSubnetID.NotFound", b.describe_subnets, SubnetIds=[subnet_id])
    expect_error("InvalidInternetGatewayID.NotFound", b.describe_internet_gateways, InternetGatewayIds=[igw_id])
    expect_error("InvalidRouteTableID.NotFound", b.describe_route_tables, RouteTableIds=[rtb])
    expect_error("InvalidVpcID.NotFound", b.create_subnet, VpcId=vpc_id, CidrBlock="10.7.2.0/24")
    expect_error("InvalidInternetGatewayID.NotFound", b.attach_internet_gateway, InternetGatewayId=igw_id, VpcId=b_vpc)
    expect_error("InvalidRouteTableID.NotFound", b.associate_route_table, RouteTableId=rtb, SubnetId=b_subnet)
    expect_error("InvalidSubnetID.NotFound", ec2.associate_route_table, RouteTableId=rtb, SubnetId=b_subnet)
    expect_error("InvalidVpcID.NotFound", b.delete_vpc, VpcId=vpc_id)
    expect_error("InvalidSubnetID.NotFound", b.delete_subnet, SubnetId=subnet_id)
    expect_error("InvalidInternetGatewayID.NotFound", b.delete_internet_gateway, InternetGatewayId=igw_id)
    expect_error("InvalidRouteTableID.NotFound", b.delete_route_table, RouteTableId=rtb)
    expect_error("InvalidRouteTableID.NotFound", b.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    b_ids = {v["VpcId"] for v in b.describe_vpcs()["Vpcs"]}
    expect(vpc_id not in b_ids and b_vpc in b_ids, b_ids)
    b_subnets = {s["SubnetId"] for s in b.describe_subnets()["Subnets"]}
    expect(subnet_id not in b_subnets, b_subnets)
    status, _ = native("GET", f"/v1/vpcs/{vpc_id}", None, B["token"])
    expect(status == 404, status)
    b.delete_subnet(SubnetId=b_subnet)
    b.delete_vpc(VpcId=b_vpc)
    ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    ec2.delete_subnet(SubnetId=subnet_id)
    ec2.delete_vpc(VpcId=vpc_id)


report()
