"""A Terraform user for cli/tests/terraform/vpc_stack.sh (run by terraform_exchanges.rs).

Usage: user.py ENDPOINT STATE_DIR

Makes a fresh account with an admin user, and an operator's public pool in the first zone
when there is none (the stack's elastic IP and launch-time address come from it); prints
one line: ACCESS_KEY_ID SECRET_ACCESS_KEY IMAGE_ID ZONE.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "network"))

from harness import client, create_account, create_user, ok_native, operator_token  # noqa: E402

key = create_user(create_account("tf"), "admin", "admin")
ec2 = client("ec2", key)
zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
if not ok_native("GET", "/v1/address-pools", None, operator_token())["address_pools"]:
    ok_native("POST", "/v1/address-pools", {"name": "terraform", "zone": zone, "cidr": "198.51.100.0/24"}, operator_token())
# The busybox VM image: EBS-backed (its root disk becomes the instance's root volume).
image = next(i["ImageId"] for i in ec2.describe_images()["Images"] if i.get("Name") == "kumo-busybox-vm")
print(key[0], key[1], image, zone)
