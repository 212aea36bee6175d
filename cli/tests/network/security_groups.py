"""Security groups through boto3 against a running `kumo up` (run by
cli/tests/network_security_groups.rs).

Usage: security_groups.py ENDPOINT STATE_DIR [CHECK-NAME-PREFIX...]

Two accounts (A and B, each with an admin's access key and token). Checks: the shapes
Terraform reads (the default group, CreateSecurityGroup, the rule sets of Authorize),
Terraform's inline-rule sequence (revoke the default egress rule, and the IPv6 one that
does not exist), standalone rules with tags read back by id, duplicates, revoke by
definition and by id, the legacy flat form, modify and descriptions, filters and pages,
DependencyViolation and CannotDelete, input bounds, DryRun, the native routes, and
tenant isolation. Every check runs; the last line of stdout is a JSON report
{"passed": [...], "failed": {name: reason}}; exit status 1 when any failed.
"""
from harness import account, check, error_code, expect, expect_error, native, ok_native, report, run_tag

A, B = account("sg-a"), account("sg-b")
ec2a, ec2b = A["ec2"], B["ec2"]
vpc_a = ec2a.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
vpc_b = ec2b.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]


def new_group(client, name, vpc_id, **extra):
    return client.create_security_group(GroupName=f"{name}-{run_tag}", Description=f"{name} group", VpcId=vpc_id, **extra)[
        "GroupId"
    ]


def describe_one(client, group_id):
    return client.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]


GROUP_KEYS = {"GroupId", "IpPermissionsEgress", "Tags", "VpcId", "SecurityGroupArn", "OwnerId", "GroupName", "Description", "IpPermissions"}
RULE_KEYS = {"SecurityGroupRuleId", "GroupId", "GroupOwnerId", "IsEgress", "IpProtocol", "FromPort", "ToPort", "Tags", "SecurityGroupRuleArn"}


@check
def default_group_shape():
    groups = ec2a.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]}, {"Name": "vpc-id", "Values": [vpc_a]}]
    )["SecurityGroups"]
    expect(len(groups) == 1, f"one default group: {groups}")
    group = groups[0]
    expect(GROUP_KEYS <= set(group), f"keys: {sorted(group)}")
    expect(group["Description"] == "default VPC security group", group["Description"])
    expect(group["OwnerId"] == A["id"], group["OwnerId"])
    expect(group["SecurityGroupArn"].endswith(f":{A['id']}:security-group/{group['GroupId']}"), group["SecurityGroupArn"])
    egress = group["IpPermissionsEgress"]
    expect(len(egress) == 1 and egress[0]["IpProtocol"] == "-1", f"egress: {egress}")
    expect(egress[0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}], f"egress ranges: {egress}")
    expect("FromPort" not in egress[0], "an all-traffic permission has no ports")
    ingress = group["IpPermissions"]
    pairs = ingress[0]["UserIdGroupPairs"]
    expect(pairs == [{"UserId": A["id"], "GroupId": group["GroupId"]}], f"self reference: {ingress}")
    expect_error("CannotDelete", ec2a.delete_security_group, GroupId=group["GroupId"])


@check
def create_response_and_tags():
    out = ec2a.create_security_group(
        GroupName=f"tagged-{run_tag}",
        Description="tagged group",
        VpcId=vpc_a,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": "tagged"}]}],
    )
    expect(out["GroupId"].startswith("sg-") and "SecurityGroupArn" in out, out)
    expect(out.get("Tags") == [{"Key": "Name", "Value": "tagged"}], out.get("Tags"))
    group = describe_one(ec2a, out["GroupId"])
    expect(group["Tags"] == [{"Key": "Name", "Value": "tagged"}], group["Tags"])
    expect(len(group["IpPermissionsEgress"]) == 1, "a new group allows all egress")


@check
def terraform_inline_rules_sequence():
    group_id = new_group(ec2a, "inline", vpc_a)
    ec2a.revoke_security_group_egress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "-1", "FromPort": 0, "ToPort": 0, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    expect_error(
        "InvalidPermission.NotFound",
        ec2a.revoke_security_group_egress,
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "-1", "FromPort": 0, "ToPort": 0, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
    )
    out = ec2a.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}]},
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "http"}]},
        ],
    )
    rules = out["SecurityGroupRules"]
    expect(out["Return"] and len(rules) == 2, out)
    for rule in rules:
        expect(RULE_KEYS <= set(rule), f"rule keys: {sorted(rule)}")
        expect(rule["SecurityGroupRuleId"].startswith("sgr-") and rule["IsEgress"] is False, rule)
        expect(rule["CidrIpv4"] == "0.0.0.0/0", rule)
    ec2a.authorize_security_group_egress(
        GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    )
    group = describe_one(ec2a, group_id)
    ports = sorted((p["FromPort"], p["ToPort"], p["IpRanges"][0]["Description"]) for p in group["IpPermissions"])
    expect(ports == [(22, 22, "ssh"), (80, 80, "http")], ports)
    expect(group["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "10.0.0.0/8"}], group["IpPermissionsEgress"])


@check
def rules_grouped_by_protocol_and_ports():
    group_id = new_group(ec2a, "grouped", vpc_a)
    peer = new_group(ec2a, "peer", vpc_a)
    ec2a.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.1.0.0/16"}, {"CidrIp": "10.2.0.0/16"}],
                "UserIdGroupPairs": [{"GroupId": peer, "Description": "from peer"}],
            }
        ],
    )
    permissions = describe_one(ec2a, group_id)["IpPermissions"]
    expect(len(permissions) == 1, f"one permission: {permissions}")
    expect(len(permissions[0]["IpRanges"]) == 2, permissions)
    pairs = permissions[0]["UserIdGroupPairs"]
    expect(pairs == [{"Description": "from peer", "UserId": A["id"], "GroupId": peer}], pairs)
    rules = ec2a.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroupRules"]
    ingress = [r for r in rules if not r["IsEgress"]]
    expect(len(ingress) == 3, f"three rules: {ingress}")
    referenced = [r for r in ingress if "ReferencedGroupInfo" in r]
    expect(referenced[0]["ReferencedGroupInfo"] == {"GroupId": peer, "UserId": A["id"]}, referenced)
    all_out = [r for r in rules if r["IsEgress"]][0]
    expect((all_out["FromPort"], all_out["ToPort"]) == (-1, -1), all_out)


@check
def standalone_rules_with_tags_read_and_revoked_by_id():
    group_id = new_group(ec2a, "standalone", vpc_a)
    out = ec2a.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}],
        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": [{"Key": "Name", "Value": "https-in"}]}],
    )
    rule_id = out["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    expect(out["SecurityGroupRules"][0]["Tags"] == [{"Key": "Name", "Value": "https-in"}], out)
    rule = ec2a.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])["SecurityGroupRules"]
    expect(len(rule) == 1 and rule[0]["Tags"] == [{"Key": "Name", "Value": "https-in"}], rule)
    expect(rule[0]["GroupId"] == group_id and rule[0]["FromPort"] == 443, rule)
    by_tag = ec2a.describe_security_group_rules(Filters=[{"Name": "tag:Name", "Values": ["https-in"]}])
    expect([r["SecurityGroupRuleId"] for r in by_tag["SecurityGroupRules"]] == [rule_id], by_tag)
    expect_error(
        "InvalidSecurityGroupRuleId.NotFound",
        ec2a.revoke_security_group_egress,
        GroupId=group_id,
        SecurityGroupRuleIds=[rule_id],
    )
    revoked = ec2a.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=[rule_id])
    expect(revoked["Return"], revoked)
    expect_error("InvalidSecurityGroupRuleId.NotFound", ec2a.describe_security_group_rules, SecurityGroupRuleIds=[rule_id])


@check
def duplicates_and_missing_rules():
    group_id = new_group(ec2a, "dups", vpc_a)
    perm = [{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    ec2a.authorize_security_group_ingress(GroupId=group_id, IpPermissions=perm)
    expect_error("InvalidPermission.Duplicate", ec2a.authorize_security_group_ingress, GroupId=group_id, IpPermissions=perm)
    numbered = [dict(perm[0], IpProtocol="17")]
    expect_error("InvalidPermission.Duplicate", ec2a.authorize_security_group_ingress, GroupId=group_id, IpPermissions=numbered)
    ec2a.revoke_security_group_ingress(GroupId=group_id, IpPermissions=perm)
    expect_error("InvalidPermission.NotFound", ec2a.revoke_security_group_ingress, GroupId=group_id, IpPermissions=perm)
    expect_error(
        "InvalidGroup.Duplicate",
        ec2a.create_security_group,
        GroupName=f"dups-{run_tag}",
        Description="again",
        VpcId=vpc_a,
    )


@check
def legacy_flat_form():
    group_id = new_group(ec2a, "flat", vpc_a)
    ec2a.authorize_security_group_ingress(GroupId=group_id, IpProtocol="tcp", FromPort=8080, ToPort=8081, CidrIp="192.0.2.0/24")
    permissions = describe_one(ec2a, group_id)["IpPermissions"]
    expect(permissions[0]["FromPort"] == 8080 and permissions[0]["ToPort"] == 8081, permissions)
    ec2a.revoke_security_group_ingress(GroupId=group_id, IpProtocol="tcp", FromPort=8080, ToPort=8081, CidrIp="192.0.2.0/24")
    expect(describe_one(ec2a, group_id)["IpPermissions"] == [], "revoked")


@check
def modify_rules_and_descriptions():
    group_id = new_group(ec2a, "modify", vpc_a)
    out = ec2a.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    )
    rule_id = out["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    ec2a.modify_security_group_rules(
        GroupId=group_id,
        SecurityGroupRules=[
            {
                "SecurityGroupRuleId": rule_id,
                "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 2222, "ToPort": 2222, "CidrIpv4": "10.0.0.0/8", "Description": "moved"},
            }
        ],
    )
    rule = ec2a.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])["SecurityGroupRules"][0]
    expect((rule["FromPort"], rule.get("Description")) == (2222, "moved"), rule)
    ec2a.update_security_group_rule_descriptions_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 2222, "ToPort": 2222, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "renamed"}]}
        ],
    )
    rule = ec2a.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])["SecurityGroupRules"][0]
    expect(rule.get("Description") == "renamed", rule)


@check
def describe_filters_and_pages():
    ids = [new_group(ec2a, f"page{n}", vpc_a, TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "page", "Value": str(n)}]}]) for n in range(7)]
    ec2a.authorize_security_group_ingress(
        GroupId=ids[0], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379, "IpRanges": [{"CidrIp": "10.3.0.0/16"}]}]
    )
    one = lambda name, value: ec2a.describe_security_groups(Filters=[{"Name": name, "Values": [value]}])["SecurityGroups"]  # noqa: E731
    expect([g["GroupId"] for g in one("ip-permission.from-port", "6379")] == [ids[0]], "from-port")
    expect([g["GroupId"] for g in one("ip-permission.cidr", "10.3.*")] == [ids[0]], "cidr")
    expect([g["GroupId"] for g in one("tag:page", "3")] == [ids[3]], "tag")
    expect(len(one("tag-key", "page")) == 7, "tag-key")
    expect([g["GroupId"] for g in one("group-name", f"page2-{run_tag}")] == [ids[2]], "group-name")
    expect(len(one("description", "page? group")) == 7, "description wildcard")
    expect(all(g["OwnerId"] == A["id"] for g in one("owner-id", A["id"])), "owner-id")
    expect_error("InvalidParameterValue", ec2a.describe_security_groups, Filters=[{"Name": "bogus", "Values": ["x"]}])
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 5, "Filters": [{"Name": "tag-key", "Values": ["page"]}]}
        if token:
            kwargs["NextToken"] = token
        out = ec2a.describe_security_groups(**kwargs)
        pages += 1
        seen += [g["GroupId"] for g in out["SecurityGroups"]]
        token = out.get("NextToken")
        if not token:
            break
    expect(sorted(seen) == sorted(ids) and pages == 2, f"{pages} pages: {seen}")
    expect_error("InvalidGroup.NotFound", ec2a.describe_security_groups, GroupIds=["sg-0123456789abcdef0"])
    expect_error("InvalidGroupId.Malformed", ec2a.describe_security_groups, GroupIds=["sg-nothex"])


@check
def dependency_violation_for_a_referenced_group():
    web = new_group(ec2a, "dep-web", vpc_a)
    db = new_group(ec2a, "dep-db", vpc_a)
    out = ec2a.authorize_security_group_ingress(
        GroupId=db,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}],
    )
    expect_error("DependencyViolation", ec2a.delete_security_group, GroupId=web)
    ec2a.revoke_security_group_ingress(GroupId=db, SecurityGroupRuleIds=[out["SecurityGroupRules"][0]["SecurityGroupRuleId"]])
    deleted = ec2a.delete_security_group(GroupId=web)
    expect(deleted["Return"] and deleted["GroupId"] == web, deleted)
    expect_error("InvalidGroup.NotFound", ec2a.describe_security_groups, GroupIds=[web])


@check
def default_vpc_and_group_names():
    group_id = ec2a.create_security_group(GroupName=f"in-default-{run_tag}", Description="default vpc")["GroupId"]
    group = describe_one(ec2a, group_id)
    vpcs = ec2a.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    expect(group["VpcId"] == vpcs[0]["VpcId"], f"{group['VpcId']} vs {vpcs}")
    by_name = ec2a.describe_security_groups(GroupNames=[f"in-default-{run_tag}"])["SecurityGroups"]
    expect([g["GroupId"] for g in by_name] == [group_id], by_name)
    ec2a.authorize_security_group_ingress(GroupName=f"in-default-{run_tag}", SourceSecurityGroupName="default")
    protocols = sorted(p["IpProtocol"] for p in describe_one(ec2a, group_id)["IpPermissions"])
    expect(protocols == ["icmp", "tcp", "udp"], protocols)
    ec2a.delete_security_group(GroupName=f"in-default-{run_tag}")


@check
def input_bounds():
    group_id = new_group(ec2a, "bounds", vpc_a)
    bad_names = ["sg-abc", "", "x" * 256, "bad\u00e9"]
    for name in bad_names:
        got = error_code(ec2a.create_security_group, GroupName=name, Description="d", VpcId=vpc_a)
        expect(got in ("InvalidParameterValue", "MissingParameter"), f"{name!r}: {got}")
    expect_error("InvalidParameterValue", ec2a.create_security_group, GroupName=f"long-{run_tag}", Description="d" * 256, VpcId=vpc_a)
    expect_error("InvalidGroup.Reserved", ec2a.create_security_group, GroupName="default", Description="d", VpcId=vpc_a)
    expect_error("InvalidVpcID.NotFound", ec2a.create_security_group, GroupName="x", Description="d", VpcId="vpc-0123456789abcdef0")
    for perm in [
        {"IpProtocol": "tcp", "FromPort": 100, "ToPort": 10, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 70000, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": 3, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "bogus", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.1/8"}]},
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "quote\""}]},
    ]:
        expect_error("InvalidParameterValue", ec2a.authorize_security_group_ingress, GroupId=group_id, IpPermissions=[perm])
    many = [{"IpProtocol": "tcp", "FromPort": 1000 + n, "ToPort": 1000 + n, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]} for n in range(61)]
    expect_error("RulesPerSecurityGroupLimitExceeded", ec2a.authorize_security_group_ingress, GroupId=group_id, IpPermissions=many)
    ec2a.authorize_security_group_ingress(GroupId=group_id, IpPermissions=many[:60])
    expect(len(describe_one(ec2a, group_id)["IpPermissions"]) == 60, "60 rules fit")
    expect_error("DryRunOperation", ec2a.create_security_group, GroupName="dry", Description="d", VpcId=vpc_a, DryRun=True)


@check
def native_routes():
    token = A["token"]
    group = ok_native("POST", "/v1/security-groups", {"group_name": f"native-{run_tag}", "description": "native group", "vpc_id": vpc_a}, token)
    expect(group["group_id"].startswith("sg-") and len(group["egress"]) == 1, group)
    rules = ok_native(
        "POST",
        f"/v1/security-groups/{group['group_id']}/rules",
        {"direction": "ingress", "rules": [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}]},
        token,
    )
    rule_id = rules[0]["rule_id"]
    status, _ = native(
        "POST",
        f"/v1/security-groups/{group['group_id']}/rules",
        {"direction": "ingress", "rules": [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}]},
        token,
    )
    expect(status == 409, f"duplicate: {status}")
    changed = ok_native(
        "PUT", f"/v1/security-groups/{group['group_id']}/rules/{rule_id}", {"protocol": "tcp", "from_port": 23, "to_port": 23, "cidr": "10.0.0.0/8"}, token
    )
    expect(changed["from_port"] == 23, changed)
    listed = ok_native("GET", f"/v1/security-groups?vpc_id={vpc_a}&group_name=native-{run_tag}", None, token)
    expect([g["group_id"] for g in listed["security_groups"]] == [group["group_id"]], listed)
    status, _ = native("GET", f"/v1/security-groups/{group['group_id']}", None, B["token"])
    expect(status == 404, f"B reads A's group: {status}")
    status, _ = native("DELETE", f"/v1/security-groups/{group['group_id']}/rules/{rule_id}", None, token)
    expect(status == 204, status)
    status, _ = native("DELETE", f"/v1/security-groups/{group['group_id']}", None, token)
    expect(status == 204, status)


@check
def tenant_isolation():
    a_group = new_group(ec2a, "private", vpc_a)
    out = ec2a.authorize_security_group_ingress(
        GroupId=a_group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    )
    a_rule = out["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    b_group = new_group(ec2b, "private", vpc_b)
    expect_error("InvalidGroup.NotFound", ec2b.describe_security_groups, GroupIds=[a_group])
    expect_error("InvalidGroup.NotFound", ec2b.delete_security_group, GroupId=a_group)
    expect_error(
        "InvalidGroup.NotFound",
        ec2b.authorize_security_group_ingress,
        GroupId=a_group,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    expect_error(
        "InvalidGroup.NotFound",
        ec2b.authorize_security_group_ingress,
        GroupId=b_group,
        IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": a_group}]}],
    )
    expect_error(
        "InvalidGroup.NotFound",
        ec2b.authorize_security_group_ingress,
        GroupId=b_group,
        IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": a_group, "UserId": A["id"]}]}],
    )
    expect_error("InvalidSecurityGroupRuleId.NotFound", ec2b.describe_security_group_rules, SecurityGroupRuleIds=[a_rule])
    expect_error("InvalidGroup.NotFound", ec2b.revoke_security_group_ingress, GroupId=a_group, SecurityGroupRuleIds=[a_rule])
    expect_error("InvalidVpcID.NotFound", ec2b.create_security_group, GroupName="x", Description="d", VpcId=vpc_a)
    b_sees = ec2b.describe_security_groups()["SecurityGroups"]
    expect(all(g["OwnerId"] == B["id"] for g in b_sees), "B sees only its own groups")
    b_rules = ec2b.describe_security_group_rules()["SecurityGroupRules"]
    expect(all(r["GroupOwnerId"] == B["id"] for r in b_rules), "B sees only its own rules")
    expect(describe_one(ec2a, a_group)["IpPermissions"][0]["FromPort"] == 22, "A's group is unchanged")


report()
