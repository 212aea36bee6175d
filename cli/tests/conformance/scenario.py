"""The boto3 scenario the harness runs against moto and against Kumo: every EC2, STS, IAM
and S3 action Kumo implements, plus NotFound errors. Both runs make the same calls in the
same order; ids come from earlier answers, so the run goes on when one call fails (a
failed call returns {} and the next ones get placeholder ids, and their errors are
compared too). Instances are waited for with boto3's waiters (`rec.wait`), so the
states the scenario describes are the ones the cloud reached.

To cover a new action: add a `rec.call(client, "snake_name", **params)` where it fits.
"""
import io
import subprocess
import tarfile
import tempfile
import time
import uuid

from botocore.exceptions import ClientError
from targets import POLL_ATTEMPTS, POLL_SECONDS

MISSING_INSTANCE = "i-0123456789abcdef0"
MISSING_SNAPSHOT = "snap-0123456789abcdef0"
MISSING_IMAGE = "ami-0123456789abcdef0"
MISSING_GROUP = "sg-0123456789abcdef0"
INSTANCE_TYPE = "t3.micro"


def public_key():
    """A fresh ed25519 public key (ImportKeyPair)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{tmp}/k"], check=True)
        return open(f"{tmp}/k.pub").read().strip()


def tiny_rootfs():
    """A one-file root file system tar (RegisterImage on Kumo reads it from a bucket)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"conformance\n"
        info = tarfile.TarInfo("etc/conformance")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def first_instance_id(reservation):
    instances = reservation.get("Instances") or [{}]
    return instances[0].get("InstanceId", MISSING_INSTANCE)


def identity(rec, target):
    sts = rec.client("sts")
    iam = rec.client("iam")
    rec.call(sts, "get_caller_identity")
    rec.call(iam, "get_user")
    rec.call(iam, "get_user", label="GetUser#named", UserName=target.user_name)
    created = rec.call(iam, "create_access_key", UserName=target.user_name)
    key_id = created.get("AccessKey", {}).get("AccessKeyId", "AKIAIOSFODNN7EXAMPLE")
    rec.call(iam, "list_access_keys", UserName=target.user_name)
    rec.call(iam, "update_access_key", UserName=target.user_name, AccessKeyId=key_id, Status="Inactive")
    rec.call(iam, "list_access_keys", label="ListAccessKeys#inactive", UserName=target.user_name)
    rec.call(iam, "delete_access_key", UserName=target.user_name, AccessKeyId=key_id)
    rec.call(iam, "get_user", label="GetUser#NoSuchEntity", UserName="nobody-conformance")
    rec.call(iam, "delete_access_key", label="DeleteAccessKey#NoSuchEntity", UserName=target.user_name, AccessKeyId="AKIAIOSFODNN7EXAMPLE")


def compute(rec, target, image_bucket):
    ec2 = rec.client("ec2")
    image = target.pick_image(ec2)
    # Public addresses (launch-time and elastic) come from the operator's pool of the zone:
    # there is one before the first launch.
    zone = (ec2.describe_availability_zones().get("AvailabilityZones") or [{}])[0].get("ZoneName", "us-east-1a")
    target.public_address_pool(zone)
    rec.call(ec2, "describe_regions")
    rec.call(ec2, "describe_availability_zones")
    rec.call(ec2, "describe_instance_types", InstanceTypes=[INSTANCE_TYPE])
    rec.call(ec2, "describe_images", ImageIds=[image])

    run = uuid.uuid4().hex[:8]
    rec.call(ec2, "create_key_pair", KeyName=f"conf-created-{run}")
    rec.call(ec2, "import_key_pair", KeyName=f"conf-imported-{run}", PublicKeyMaterial=public_key().encode())
    rec.call(ec2, "describe_key_pairs", KeyNames=[f"conf-created-{run}", f"conf-imported-{run}"])

    reservation = rec.call(
        ec2,
        "run_instances",
        ImageId=image,
        InstanceType=INSTANCE_TYPE,
        MinCount=1,
        MaxCount=1,
        KeyName=f"conf-imported-{run}",
        UserData="#!/bin/sh\necho conformance\n",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "conformance"}]}],
    )
    instance = first_instance_id(reservation)
    rec.wait("instance_running", instance)
    rec.call(ec2, "describe_instances", label="DescribeInstances#running", InstanceIds=[instance])
    rec.call(ec2, "describe_instance_status", InstanceIds=[instance], IncludeAllInstances=True)
    rec.call(ec2, "create_tags", Resources=[instance], Tags=[{"Key": "team", "Value": "conformance"}, {"Key": "empty", "Value": ""}])
    rec.call(ec2, "describe_tags", Filters=[{"Name": "resource-id", "Values": [instance]}])
    rec.call(ec2, "delete_tags", Resources=[instance], Tags=[{"Key": "empty"}])
    for attribute in (
        "instanceType",
        "userData",
        "disableApiTermination",
        "instanceInitiatedShutdownBehavior",
        "sourceDestCheck",
        "ebsOptimized",
        "disableApiStop",
        "kernel",
        "ramdisk",
        "rootDeviceName",
        "groupSet",
        "blockDeviceMapping",
    ):
        rec.call(ec2, "describe_instance_attribute", label=f"DescribeInstanceAttribute#{attribute}", InstanceId=instance, Attribute=attribute)
    rec.call(ec2, "describe_instance_credit_specifications", InstanceIds=[instance])
    rec.call(ec2, "modify_instance_attribute", InstanceId=instance, DisableApiTermination={"Value": False})
    rec.wait_for_console(instance)
    rec.call(ec2, "get_console_output", InstanceId=instance)
    rec.call(ec2, "stop_instances", InstanceIds=[instance])
    rec.wait("instance_stopped", instance)
    rec.call(ec2, "describe_instances", label="DescribeInstances#stopped", InstanceIds=[instance])
    rec.call(ec2, "start_instances", InstanceIds=[instance])
    rec.wait("instance_running", instance)
    rec.call(ec2, "reboot_instances", InstanceIds=[instance])
    rec.call(ec2, "terminate_instances", InstanceIds=[instance])
    rec.wait("instance_terminated", instance)
    rec.call(ec2, "describe_instances", label="DescribeInstances#terminated", InstanceIds=[instance])

    registered = rec.call(
        ec2,
        "register_image",
        Name=f"conformance-{run}",
        Description="conformance",
        ImageLocation=f"{image_bucket}/images/rootfs.tar",
        Architecture="x86_64",
    )
    new_image = registered.get("ImageId", MISSING_IMAGE)
    rec.call(ec2, "describe_images", label="DescribeImages#registered", ImageIds=[new_image])
    rec.call(ec2, "deregister_image", ImageId=new_image)
    rec.call(ec2, "delete_key_pair", KeyName=f"conf-created-{run}")
    rec.call(ec2, "delete_key_pair", label="DeleteKeyPair#2", KeyName=f"conf-imported-{run}")

    # NotFound errors
    rec.call(ec2, "describe_instances", label="DescribeInstances#NotFound", InstanceIds=[MISSING_INSTANCE])
    rec.call(ec2, "describe_images", label="DescribeImages#NotFound", ImageIds=[MISSING_IMAGE])
    rec.call(ec2, "describe_key_pairs", label="DescribeKeyPairs#NotFound", KeyNames=[f"conf-missing-{run}"])
    rec.call(ec2, "terminate_instances", label="TerminateInstances#NotFound", InstanceIds=[MISSING_INSTANCE])


def ebs_images(rec, target):
    """EBS images: CreateImage of a running EBS-backed VM (Kumo's busybox VM image; the
    container the compute step runs is instance-store), wait available, describe its mapping,
    RegisterImage with its root snapshot, DeleteSnapshot while they use it
    (InvalidSnapshot.InUse), deregister both, then the snapshot goes."""
    ec2 = rec.client("ec2")
    quiet = rec.quiet_client("ec2")
    run = uuid.uuid4().hex[:8]
    named = [{"Name": "name", "Values": ["kumo-busybox-vm"]}]
    vm_images = [i["ImageId"] for i in quiet.describe_images(Filters=named)["Images"]]
    image = vm_images[0] if vm_images else target.pick_image(ec2)
    instance = first_instance_id(
        quiet.run_instances(ImageId=image, InstanceType=INSTANCE_TYPE, MinCount=1, MaxCount=1)
    )
    for _ in range(POLL_ATTEMPTS):
        described = quiet.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
        if described["State"]["Name"] == "running":
            break
        time.sleep(POLL_SECONDS)
    created = rec.call(
        ec2,
        "create_image",
        InstanceId=instance,
        Name=f"conformance-ebs-{run}",
        Description="conformance",
        NoReboot=True,
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "Name", "Value": "conformance"}]}],
    ).get("ImageId", MISSING_IMAGE)
    snapshot = MISSING_SNAPSHOT
    for _ in range(POLL_ATTEMPTS):
        try:
            found = quiet.describe_images(ImageIds=[created])["Images"][0]
        except (ClientError, IndexError):
            break
        mapping = (found.get("BlockDeviceMappings") or [{}])[0]
        snapshot = mapping.get("Ebs", {}).get("SnapshotId") or snapshot
        if found.get("State") == "available":
            break
        time.sleep(POLL_SECONDS)
    rec.call(ec2, "describe_images", label="DescribeImages#created", ImageIds=[created])
    registered = rec.call(
        ec2,
        "register_image",
        label="RegisterImage#snapshot",
        Name=f"conformance-snap-{run}",
        RootDeviceName="/dev/xvda",
        Architecture="x86_64",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    ).get("ImageId", MISSING_IMAGE)
    rec.call(ec2, "describe_images", label="DescribeImages#snapshot", ImageIds=[registered])
    rec.call(ec2, "delete_snapshot", label="DeleteSnapshot#InUse", SnapshotId=snapshot)
    rec.call(ec2, "deregister_image", label="DeregisterImage#snapshot", ImageId=registered)
    rec.call(ec2, "deregister_image", label="DeregisterImage#created", ImageId=created)
    try:
        quiet.delete_snapshot(SnapshotId=snapshot)
    except ClientError:
        pass
    quiet.terminate_instances(InstanceIds=[instance])


def storage(rec, target):
    """S3; returns the name of a bucket holding `images/rootfs.tar` (for RegisterImage)."""
    s3 = rec.client("s3")
    run = uuid.uuid4().hex[:8]
    bucket = f"conformance-{run}"
    versioned = f"conformance-v-{run}"
    rec.call(s3, "create_bucket", Bucket=bucket)
    rec.call(s3, "head_bucket", Bucket=bucket)
    rec.call(s3, "list_buckets")
    rec.call(s3, "get_bucket_location", Bucket=bucket)
    rec.call(s3, "get_bucket_versioning", label="GetBucketVersioning#never", Bucket=bucket)
    rec.call(s3, "put_bucket_tagging", Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "conformance"}]})
    rec.call(s3, "get_bucket_tagging", Bucket=bucket)
    rec.call(s3, "delete_bucket_tagging", Bucket=bucket)
    rec.call(s3, "get_bucket_tagging", label="GetBucketTagging#NoSuchTagSet", Bucket=bucket)
    rec.call(s3, "get_bucket_acl", Bucket=bucket)
    rec.call(s3, "get_bucket_accelerate_configuration", Bucket=bucket)
    rec.call(s3, "get_bucket_request_payment", Bucket=bucket)
    rec.call(s3, "get_bucket_logging", Bucket=bucket)
    rec.call(s3, "get_bucket_notification_configuration", Bucket=bucket)
    # Configurations Kumo does not keep: the "not configured" errors Terraform expects.
    for method in (
        "get_bucket_policy",
        "get_bucket_cors",
        "get_bucket_website",
        "get_bucket_lifecycle_configuration",
        "get_bucket_replication",
        "get_bucket_encryption",
        "get_object_lock_configuration",
        "get_bucket_ownership_controls",
        "get_public_access_block",
        "get_bucket_policy_status",
    ):
        rec.call(s3, method, Bucket=bucket)
    for method in (
        "delete_bucket_policy",
        "delete_bucket_cors",
        "delete_bucket_website",
        "delete_bucket_lifecycle",
        "delete_bucket_replication",
        "delete_bucket_encryption",
        "delete_bucket_ownership_controls",
        "delete_public_access_block",
    ):
        rec.call(s3, method, Bucket=bucket)

    body = b"hello, conformance\n"
    rec.call(s3, "put_object", Bucket=bucket, Key="dir/a.txt", Body=body, ContentType="text/plain", Metadata={"colour": "blue"}, Tagging="team=conformance")
    rec.call(s3, "put_object", label="PutObject#rootfs", Bucket=bucket, Key="images/rootfs.tar", Body=tiny_rootfs())
    rec.call(s3, "head_object", Bucket=bucket, Key="dir/a.txt")
    rec.call(s3, "get_object", Bucket=bucket, Key="dir/a.txt")
    rec.call(s3, "get_object_attributes", Bucket=bucket, Key="dir/a.txt", ObjectAttributes=["ETag", "ObjectSize", "StorageClass"])
    rec.call(s3, "copy_object", Bucket=bucket, Key="copy.txt", CopySource={"Bucket": bucket, "Key": "dir/a.txt"})
    rec.call(s3, "put_object_tagging", Bucket=bucket, Key="copy.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    rec.call(s3, "get_object_tagging", Bucket=bucket, Key="copy.txt")
    rec.call(s3, "delete_object_tagging", Bucket=bucket, Key="copy.txt")
    rec.call(s3, "get_object_acl", Bucket=bucket, Key="copy.txt")
    rec.call(s3, "list_objects", Bucket=bucket)
    rec.call(s3, "list_objects", label="ListObjects#delimiter", Bucket=bucket, Delimiter="/", MaxKeys=2)
    rec.call(s3, "list_objects_v2", Bucket=bucket)
    rec.call(s3, "list_objects_v2", label="ListObjectsV2#delimiter", Bucket=bucket, Delimiter="/", MaxKeys=2, FetchOwner=True)

    upload = rec.call(s3, "create_multipart_upload", Bucket=bucket, Key="multi.bin", ContentType="application/octet-stream")
    upload_id = upload.get("UploadId", "missing-upload")
    part = rec.call(s3, "upload_part", Bucket=bucket, Key="multi.bin", UploadId=upload_id, PartNumber=1, Body=b"x" * (5 * 1024 * 1024))
    copied = rec.call(
        s3,
        "upload_part_copy",
        Bucket=bucket,
        Key="multi.bin",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "dir/a.txt"},
    )
    rec.call(s3, "list_parts", Bucket=bucket, Key="multi.bin", UploadId=upload_id)
    rec.call(s3, "list_multipart_uploads", Bucket=bucket)
    rec.call(
        s3,
        "complete_multipart_upload",
        Bucket=bucket,
        Key="multi.bin",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": part.get("ETag", '"x"')},
                {"PartNumber": 2, "ETag": copied.get("CopyPartResult", {}).get("ETag", '"x"')},
            ]
        },
    )
    aborted = rec.call(s3, "create_multipart_upload", label="CreateMultipartUpload#aborted", Bucket=bucket, Key="gone.bin")
    rec.call(s3, "abort_multipart_upload", Bucket=bucket, Key="gone.bin", UploadId=aborted.get("UploadId", "missing-upload"))

    rec.call(s3, "create_bucket", label="CreateBucket#versioned", Bucket=versioned)
    rec.call(s3, "put_bucket_versioning", Bucket=versioned, VersioningConfiguration={"Status": "Enabled"})
    rec.call(s3, "get_bucket_versioning", Bucket=versioned)
    rec.call(s3, "put_object", label="PutObject#versioned", Bucket=versioned, Key="v.txt", Body=b"one")
    rec.call(s3, "put_object", label="PutObject#versioned2", Bucket=versioned, Key="v.txt", Body=b"two")
    rec.call(s3, "delete_object", label="DeleteObject#marker", Bucket=versioned, Key="v.txt")
    rec.call(s3, "list_object_versions", Bucket=versioned)

    # NotFound errors
    rec.call(s3, "get_object", label="GetObject#NoSuchKey", Bucket=bucket, Key="missing.txt")
    rec.call(s3, "list_objects_v2", label="ListObjectsV2#NoSuchBucket", Bucket=f"conformance-missing-{run}")
    rec.call(s3, "get_object_tagging", label="GetObjectTagging#NoSuchKey", Bucket=bucket, Key="missing.txt")
    rec.call(s3, "list_parts", label="ListParts#NoSuchUpload", Bucket=bucket, Key="multi.bin", UploadId="missing-upload")
    return bucket, versioned


def cleanup(rec, bucket, versioned):
    """Empty and delete the buckets (DeleteObjects, DeleteObject, DeleteBucket)."""
    s3 = rec.client("s3")
    rec.call(
        s3,
        "delete_objects",
        Bucket=bucket,
        Delete={"Objects": [{"Key": "copy.txt"}, {"Key": "multi.bin"}, {"Key": "never-there.txt"}]},
    )
    rec.call(s3, "delete_object", Bucket=bucket, Key="dir/a.txt")
    rec.call(s3, "delete_object", label="DeleteObject#rootfs", Bucket=bucket, Key="images/rootfs.tar")
    rec.call(s3, "delete_bucket", Bucket=bucket)
    versions = s3.list_object_versions(Bucket=versioned)
    entries = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])]
    if entries:
        rec.call(s3, "delete_objects", label="DeleteObjects#versions", Bucket=versioned, Delete={"Objects": entries})
    rec.call(s3, "delete_bucket", label="DeleteBucket#versioned", Bucket=versioned)
    rec.call(s3, "head_bucket", label="HeadBucket#NotFound", Bucket=bucket)


def network_topology(rec):
    """VPCs, subnets, internet gateways, route tables and network ACLs in Terraform's
    order (aws_vpc, aws_subnet, aws_internet_gateway, aws_route_table + association), the
    default VPC's reads, the error codes, and the teardown in dependency order."""
    ec2 = rec.client("ec2")
    missing_vpc = "vpc-0123456789abcdef0"
    name = [{"Key": "Name", "Value": "conf-topology"}]
    rec.call(ec2, "describe_vpcs", label="DescribeVpcs#default", Filters=[{"Name": "is-default", "Values": ["true"]}])
    rec.call(ec2, "describe_subnets", label="DescribeSubnets#default", Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    vpc = rec.call(
        ec2,
        "create_vpc",
        CidrBlock="10.40.0.0/16",
        InstanceTenancy="default",
        AmazonProvidedIpv6CidrBlock=False,
        TagSpecifications=[{"ResourceType": "vpc", "Tags": name}],
    ).get("Vpc", {}).get("VpcId", missing_vpc)
    rec.call(ec2, "describe_vpcs", VpcIds=[vpc])
    rec.call(ec2, "modify_vpc_attribute", VpcId=vpc, EnableDnsHostnames={"Value": True})
    for attribute in ("enableDnsHostnames", "enableDnsSupport"):
        rec.call(ec2, "describe_vpc_attribute", label=f"DescribeVpcAttribute#{attribute}", VpcId=vpc, Attribute=attribute)
    rec.call(ec2, "describe_network_acls", Filters=[{"Name": "default", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc]}])
    rec.call(
        ec2,
        "describe_route_tables",
        label="DescribeRouteTables#main",
        Filters=[{"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc]}],
    )
    subnet = rec.call(
        ec2,
        "create_subnet",
        VpcId=vpc,
        CidrBlock="10.40.1.0/24",
        AvailabilityZone="us-east-1a",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": name}],
    ).get("Subnet", {}).get("SubnetId", "subnet-0123456789abcdef0")
    rec.call(ec2, "modify_subnet_attribute", SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    rec.call(ec2, "describe_subnets", SubnetIds=[subnet])
    rec.call(ec2, "create_subnet", label="CreateSubnet#Conflict", VpcId=vpc, CidrBlock="10.40.1.0/25")
    rec.call(ec2, "create_subnet", label="CreateSubnet#Range", VpcId=vpc, CidrBlock="10.41.0.0/24")
    igw = rec.call(
        ec2, "create_internet_gateway", TagSpecifications=[{"ResourceType": "internet-gateway", "Tags": name}]
    ).get("InternetGateway", {}).get("InternetGatewayId", "igw-0123456789abcdef0")
    rec.call(ec2, "attach_internet_gateway", InternetGatewayId=igw, VpcId=vpc)
    rec.call(ec2, "describe_internet_gateways", InternetGatewayIds=[igw])
    # One CreateTags across the network's resources; DescribeTags names their types.
    rec.call(ec2, "create_tags", label="CreateTags#network", Resources=[vpc, subnet, igw], Tags=[{"Key": "team", "Value": "conformance"}])
    rec.call(ec2, "describe_tags", label="DescribeTags#network", Filters=[{"Name": "key", "Values": ["team"]}, {"Name": "resource-id", "Values": [vpc, subnet, igw]}])
    table = rec.call(
        ec2, "create_route_table", VpcId=vpc, TagSpecifications=[{"ResourceType": "route-table", "Tags": name}]
    ).get("RouteTable", {}).get("RouteTableId", "rtb-0123456789abcdef0")
    rec.call(ec2, "create_route", RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    rec.call(ec2, "replace_route", RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    rec.call(ec2, "describe_route_tables", RouteTableIds=[table])
    association = rec.call(ec2, "associate_route_table", RouteTableId=table, SubnetId=subnet).get("AssociationId", "rtbassoc-0123456789abcdef0")
    rec.call(
        ec2,
        "describe_route_tables",
        label="DescribeRouteTables#association",
        Filters=[{"Name": "association.route-table-association-id", "Values": [association]}],
    )
    main = rec.call(
        ec2,
        "describe_route_tables",
        label="DescribeRouteTables#main-again",
        Filters=[{"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc]}],
    )
    main_table = (main.get("RouteTables") or [{}])[0]
    main_association = (main_table.get("Associations") or [{}])[0].get("RouteTableAssociationId", "rtbassoc-0123456789abcdef0")
    replaced = rec.call(ec2, "replace_route_table_association", AssociationId=main_association, RouteTableId=table)
    rec.call(
        ec2,
        "replace_route_table_association",
        label="ReplaceRouteTableAssociation#back",
        AssociationId=replaced.get("NewAssociationId", main_association),
        RouteTableId=main_table.get("RouteTableId", table),
    )
    rec.call(ec2, "delete_vpc", label="DeleteVpc#DependencyViolation", VpcId=vpc)
    rec.call(ec2, "delete_internet_gateway", label="DeleteInternetGateway#DependencyViolation", InternetGatewayId=igw)
    rec.call(ec2, "disassociate_route_table", AssociationId=association)
    rec.call(ec2, "delete_route", RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    rec.call(ec2, "delete_route_table", RouteTableId=table)
    rec.call(ec2, "describe_route_tables", label="DescribeRouteTables#NotFound", RouteTableIds=[table])
    rec.call(ec2, "detach_internet_gateway", InternetGatewayId=igw, VpcId=vpc)
    rec.call(ec2, "delete_internet_gateway", InternetGatewayId=igw)
    rec.call(ec2, "delete_subnet", SubnetId=subnet)
    rec.call(ec2, "delete_vpc", VpcId=vpc)
    rec.call(ec2, "describe_vpcs", label="DescribeVpcs#NotFound", VpcIds=[vpc])
    rec.call(ec2, "describe_subnets", label="DescribeSubnets#NotFound", SubnetIds=[subnet])
    rec.call(ec2, "create_vpc", label="CreateVpc#Range", CidrBlock="10.0.0.0/29")
    rec.call(ec2, "create_default_vpc", label="CreateDefaultVpc#exists")


def security_groups(rec):
    """Security groups and their rules in a VPC of their own (Terraform's sequences: the
    default group read, inline rules after revoking the default egress rule, standalone
    rules with tags read back by id)."""
    ec2 = rec.client("ec2")
    run = uuid.uuid4().hex[:8]
    vpc = rec.call(ec2, "create_vpc", label="CreateVpc#security-groups", CidrBlock="10.42.0.0/16").get("Vpc", {}).get("VpcId", "vpc-0123456789abcdef0")
    rec.call(
        ec2,
        "describe_security_groups",
        label="DescribeSecurityGroups#default",
        Filters=[{"Name": "group-name", "Values": ["default"]}, {"Name": "vpc-id", "Values": [vpc]}],
    )
    web = rec.call(
        ec2,
        "create_security_group",
        GroupName=f"conf-web-{run}",
        Description="conformance web",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": "conf-web"}]}],
    ).get("GroupId", MISSING_GROUP)
    db = rec.call(ec2, "create_security_group", label="CreateSecurityGroup#db", GroupName=f"conf-db-{run}", Description="conformance db", VpcId=vpc).get(
        "GroupId", MISSING_GROUP
    )
    rec.call(
        ec2,
        "revoke_security_group_egress",
        GroupId=web,
        IpPermissions=[{"IpProtocol": "-1", "FromPort": 0, "ToPort": 0, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    inline = rec.call(
        ec2,
        "authorize_security_group_ingress",
        GroupId=web,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}]},
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "http"}]},
        ],
    )
    rec.call(ec2, "authorize_security_group_egress", GroupId=web, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    standalone = rec.call(
        ec2,
        "authorize_security_group_ingress",
        label="AuthorizeSecurityGroupIngress#standalone",
        GroupId=db,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}],
        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": [{"Key": "Name", "Value": "pg-in"}]}],
    )
    rule = (standalone.get("SecurityGroupRules") or [{}])[0].get("SecurityGroupRuleId", "sgr-0123456789abcdef0")
    rec.call(ec2, "describe_security_group_rules", SecurityGroupRuleIds=[rule])
    rec.call(ec2, "describe_security_groups", label="DescribeSecurityGroups#rules", GroupIds=[web, db])
    rec.call(
        ec2,
        "authorize_security_group_ingress",
        label="AuthorizeSecurityGroupIngress#Duplicate",
        GroupId=web,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    rec.call(
        ec2,
        "update_security_group_rule_descriptions_ingress",
        GroupId=web,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "web"}]}],
    )
    rec.call(
        ec2,
        "update_security_group_rule_descriptions_egress",
        GroupId=web,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "inside"}]}],
    )
    rec.call(
        ec2,
        "modify_security_group_rules",
        GroupId=db,
        SecurityGroupRules=[
            {"SecurityGroupRuleId": rule, "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 6432, "ToPort": 6432, "ReferencedGroupId": web}}
        ],
    )
    inline_rule = (inline.get("SecurityGroupRules") or [{}])[0].get("SecurityGroupRuleId", "sgr-0123456789abcdef0")
    rec.call(ec2, "revoke_security_group_ingress", GroupId=web, SecurityGroupRuleIds=[inline_rule])
    rec.call(
        ec2,
        "revoke_security_group_ingress",
        label="RevokeSecurityGroupIngress#NotFound",
        GroupId=web,
        IpPermissions=[{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    )
    # db's rule still references web: AWS refuses (moto deletes it; allow-listed).
    rec.call(ec2, "delete_security_group", label="DeleteSecurityGroup#DependencyViolation", GroupId=web)
    rec.call(ec2, "delete_security_group", GroupId=db)
    try:  # gone already on moto
        ec2.delete_security_group(GroupId=web)
    except Exception:  # noqa: BLE001 - the clouds differ here by design (see above)
        pass
    rec.call(ec2, "describe_security_groups", label="DescribeSecurityGroups#NotFound", GroupIds=[web])
    rec.call(ec2, "delete_vpc", label="DeleteVpc#security-groups", VpcId=vpc)


def network_interfaces(rec, target):
    """Network interfaces and instances in a VPC of their own: an instance launched into a
    chosen subnet with a chosen group (its primary interface and attachment), Terraform's
    aws_network_interface sequence, a second interface attached and detached, secondary
    addresses, attributes, and NotFound errors."""
    ec2 = rec.client("ec2")
    run = uuid.uuid4().hex[:8]
    vpc = rec.call(ec2, "create_vpc", label="CreateVpc#eni", CidrBlock="10.43.0.0/16").get("Vpc", {}).get("VpcId", "vpc-0123456789abcdef0")
    zone = (ec2.describe_availability_zones().get("AvailabilityZones") or [{}])[0].get("ZoneName", "us-east-1a")
    subnet = (
        rec.call(ec2, "create_subnet", label="CreateSubnet#eni", VpcId=vpc, CidrBlock="10.43.1.0/24", AvailabilityZone=zone)
        .get("Subnet", {})
        .get("SubnetId", "subnet-0123456789abcdef0")
    )
    group = rec.call(
        ec2, "create_security_group", label="CreateSecurityGroup#eni", GroupName=f"eni-{run}", Description="eni", VpcId=vpc
    ).get("GroupId", MISSING_GROUP)
    eni = (
        rec.call(
            ec2,
            "create_network_interface",
            SubnetId=subnet,
            Groups=[group],
            PrivateIpAddresses=[{"PrivateIpAddress": "10.43.1.50", "Primary": True}],
            TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "conformance"}]}],
        )
        .get("NetworkInterface", {})
        .get("NetworkInterfaceId", "eni-0123456789abcdef0")
    )
    rec.call(ec2, "describe_network_interfaces", NetworkInterfaceIds=[eni])
    rec.call(ec2, "describe_network_interfaces", label="DescribeNetworkInterfaces#subnet", Filters=[{"Name": "subnet-id", "Values": [subnet]}])
    rec.call(ec2, "modify_network_interface_attribute", NetworkInterfaceId=eni, SourceDestCheck={"Value": False})
    for attribute in ("description", "groupSet", "sourceDestCheck"):
        rec.call(
            ec2, "describe_network_interface_attribute", label=f"DescribeNetworkInterfaceAttribute#{attribute}", NetworkInterfaceId=eni, Attribute=attribute
        )
    rec.call(ec2, "assign_private_ip_addresses", NetworkInterfaceId=eni, PrivateIpAddresses=["10.43.1.60"])
    rec.call(ec2, "unassign_private_ip_addresses", NetworkInterfaceId=eni, PrivateIpAddresses=["10.43.1.60"])

    reservation = rec.call(
        ec2,
        "run_instances",
        label="RunInstances#subnet",
        ImageId=target.pick_image(ec2),
        InstanceType=INSTANCE_TYPE,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        SecurityGroupIds=[group],
    )
    instance = first_instance_id(reservation)
    rec.wait("instance_running", instance)
    rec.call(ec2, "describe_instances", label="DescribeInstances#running-in-subnet", InstanceIds=[instance])
    attachment = rec.call(ec2, "attach_network_interface", NetworkInterfaceId=eni, InstanceId=instance, DeviceIndex=1).get(
        "AttachmentId", "eni-attach-0123456789abcdef0"
    )
    rec.call(ec2, "describe_network_interfaces", label="DescribeNetworkInterfaces#attached", NetworkInterfaceIds=[eni])
    rec.call(ec2, "describe_instances", label="DescribeInstances#running-two-interfaces", InstanceIds=[instance])
    rec.call(ec2, "detach_network_interface", AttachmentId=attachment)
    rec.call(ec2, "terminate_instances", label="TerminateInstances#subnet", InstanceIds=[instance])
    rec.wait("instance_terminated", instance)
    rec.call(ec2, "delete_network_interface", NetworkInterfaceId=eni)
    rec.call(ec2, "describe_network_interfaces", label="DescribeNetworkInterfaces#NotFound", NetworkInterfaceIds=[eni])


def addresses(rec, target):
    """Elastic IPs, as Terraform's aws_eip and aws_eip_association use them: allocate,
    describe (and the domain-name attribute), associate with an instance of the default VPC,
    find it by association, see it on the instance and its interface, disassociate (twice:
    the second is Terraform's tolerated NotFound), release, NotFound."""
    ec2 = rec.client("ec2")
    eip = rec.call(
        ec2,
        "allocate_address",
        Domain="vpc",
        TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "conformance"}]}],
    ).get("AllocationId", "eipalloc-0123456789abcdef0")
    rec.call(ec2, "describe_addresses", AllocationIds=[eip])
    rec.call(ec2, "describe_addresses_attribute", AllocationIds=[eip], Attribute="domain-name")
    reservation = rec.call(
        ec2, "run_instances", label="RunInstances#eip", ImageId=target.pick_image(ec2), InstanceType=INSTANCE_TYPE, MinCount=1, MaxCount=1
    )
    instance = first_instance_id(reservation)
    rec.wait("instance_running", instance)
    association = rec.call(ec2, "associate_address", AllocationId=eip, InstanceId=instance).get("AssociationId", "eipassoc-0123456789abcdef0")
    rec.call(ec2, "describe_addresses", label="DescribeAddresses#association", Filters=[{"Name": "association-id", "Values": [association]}])
    described = rec.call(ec2, "describe_instances", label="DescribeInstances#running-eip", InstanceIds=[instance])
    interfaces = [
        eni.get("NetworkInterfaceId")
        for r in described.get("Reservations", [])
        for i in r.get("Instances", [])
        for eni in i.get("NetworkInterfaces", [])
    ]
    if interfaces:
        rec.call(ec2, "describe_network_interfaces", label="DescribeNetworkInterfaces#eip", NetworkInterfaceIds=interfaces[:1])
    rec.call(ec2, "disassociate_address", AssociationId=association)
    rec.call(ec2, "disassociate_address", label="DisassociateAddress#NotFound", AssociationId=association)
    rec.call(ec2, "release_address", AllocationId=eip)
    rec.call(ec2, "describe_addresses", label="DescribeAddresses#NotFound", AllocationIds=[eip])
    rec.call(ec2, "terminate_instances", label="TerminateInstances#eip", InstanceIds=[instance])
    rec.wait("instance_terminated", instance)


def volumes(rec):
    """EBS volumes, as Terraform's aws_ebs_volume uses them: create (tagged), wait until
    available, describe (by id and filter), status and attributes, modify and its
    modifications, delete, then NotFound."""
    ec2 = rec.client("ec2")
    quiet = rec.quiet_client("ec2")
    volume = rec.call(
        ec2,
        "create_volume",
        AvailabilityZone="us-east-1a",
        Size=1,
        VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "conformance"}]}],
    ).get("VolumeId", "vol-0123456789abcdef0")
    for _ in range(POLL_ATTEMPTS):
        if quiet.describe_volumes(VolumeIds=[volume])["Volumes"][0]["State"] == "available":
            break
        time.sleep(POLL_SECONDS)
    rec.call(ec2, "describe_volumes", VolumeIds=[volume])
    rec.call(ec2, "describe_volumes", label="DescribeVolumes#filter", Filters=[{"Name": "tag:Name", "Values": ["conformance"]}])
    rec.call(ec2, "describe_volume_status", VolumeIds=[volume])
    rec.call(ec2, "describe_volume_attribute", VolumeId=volume, Attribute="autoEnableIO")
    rec.call(ec2, "describe_volume_attribute", label="DescribeVolumeAttribute#productCodes", VolumeId=volume, Attribute="productCodes")
    # The scenario's instances are containers (volumes attach to VMs): the errors only.
    rec.call(ec2, "attach_volume", label="AttachVolume#NotFound", VolumeId=volume, InstanceId=MISSING_INSTANCE, Device="/dev/sdf")
    rec.call(ec2, "detach_volume", label="DetachVolume#notAttached", VolumeId=volume)
    rec.call(ec2, "modify_volume", VolumeId=volume, Size=2)
    rec.call(ec2, "describe_volumes_modifications", VolumeIds=[volume])
    for _ in range(POLL_ATTEMPTS):
        modification = quiet.describe_volumes_modifications(VolumeIds=[volume])["VolumesModifications"][0]
        if modification["ModificationState"] == "completed":
            break
        time.sleep(POLL_SECONDS)
    rec.call(ec2, "delete_volume", VolumeId=volume)
    for _ in range(POLL_ATTEMPTS):
        try:
            quiet.describe_volumes(VolumeIds=[volume])
        except ClientError:
            break
        time.sleep(POLL_SECONDS)
    rec.call(ec2, "describe_volumes", label="DescribeVolumes#NotFound", VolumeIds=[volume])
    rec.call(ec2, "delete_volume", label="DeleteVolume#NotFound", VolumeId=volume)


def snapshots(rec):
    """EBS snapshots: create (tagged) from a volume, wait until completed, describe (by id,
    by owner and filter), attribute, copy, a volume restored from it, delete, NotFound."""
    ec2 = rec.client("ec2")
    quiet = rec.quiet_client("ec2")

    def wait_volume(volume):
        for _ in range(POLL_ATTEMPTS):
            if quiet.describe_volumes(VolumeIds=[volume])["Volumes"][0]["State"] == "available":
                return
            time.sleep(POLL_SECONDS)

    volume = quiet.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    wait_volume(volume)
    snapshot = rec.call(
        ec2,
        "create_snapshot",
        VolumeId=volume,
        Description="conformance",
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "Name", "Value": "conformance"}]}],
    ).get("SnapshotId", "snap-0123456789abcdef0")
    for _ in range(POLL_ATTEMPTS):
        if quiet.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "completed":
            break
        time.sleep(POLL_SECONDS)
    rec.call(ec2, "describe_snapshots", SnapshotIds=[snapshot])
    rec.call(
        ec2,
        "describe_snapshots",
        label="DescribeSnapshots#owner",
        OwnerIds=["self"],
        Filters=[{"Name": "tag:Name", "Values": ["conformance"]}],
    )
    rec.call(ec2, "describe_snapshot_attribute", SnapshotId=snapshot, Attribute="createVolumePermission")
    copy = rec.call(
        ec2, "copy_snapshot", SourceSnapshotId=snapshot, SourceRegion=quiet.meta.region_name, Description="copy"
    ).get("SnapshotId", "snap-0123456789abcdef1")
    restored = rec.call(
        ec2, "create_volume", label="CreateVolume#snapshot", AvailabilityZone="us-east-1a", SnapshotId=snapshot
    ).get("VolumeId", "vol-0123456789abcdef1")
    wait_volume(restored)
    quiet.delete_volume(VolumeId=restored)
    rec.call(ec2, "delete_snapshot", SnapshotId=copy)
    rec.call(ec2, "delete_snapshot", label="DeleteSnapshot#source", SnapshotId=snapshot)
    rec.call(ec2, "describe_snapshots", label="DescribeSnapshots#NotFound", SnapshotIds=[snapshot])
    rec.call(ec2, "delete_snapshot", label="DeleteSnapshot#NotFound", SnapshotId=snapshot)
    quiet.delete_volume(VolumeId=volume)


def run(rec, target):
    identity(rec, target)
    bucket, versioned = storage(rec, target)
    compute(rec, target, bucket)
    network_topology(rec)
    security_groups(rec)
    network_interfaces(rec, target)
    addresses(rec, target)
    volumes(rec)
    snapshots(rec)
    ebs_images(rec, target)
    cleanup(rec, bucket, versioned)
