#!/bin/sh
# A real `terraform apply` of a VPC stack (vpc_stack.tf: VPC, subnet, internet gateway,
# route table and association, security groups with inline and standalone rules, a network
# interface, an EBS-backed instance with subnet_id, vpc_security_group_ids and a
# root_block_device, an EBS volume and its attachment, an elastic IP and its association) against Kumo with the stock hashicorp/aws 5.100.0 provider from the local
# filesystem mirror; then `terraform plan` must say "No changes"; then `terraform destroy`.
#
# Usage: vpc_stack.sh ENDPOINT IMAGE_ID ZONE   (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
# of a Kumo user in the environment; TF_PLUGIN_MIRROR overrides the mirror folder, the one
# holding registry.terraform.io). Exit status 0 only when all three steps pass.
set -eu
endpoint=$1 image_id=$2 zone=$3
here=$(cd "$(dirname "$0")" && pwd)
mirror=${TF_PLUGIN_MIRROR:-}
if [ -z "$mirror" ]; then
    provider=$(find / -name 'terraform-provider-aws_*' -not -path '/proc/*' 2>/dev/null | head -n 1)
    [ -n "$provider" ] || { echo "no hashicorp/aws provider mirror found" >&2; exit 1; }
    mirror=${provider%%/registry.terraform.io/*}
fi
work=$(mktemp -d /tmp/kumo-tf-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$here/vpc_stack.tf" "$work/main.tf"
cat > "$work/cli.tfrc" <<CONFIG
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
CONFIG
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
vars="-var endpoint=$endpoint -var image_id=$image_id -var zone=$zone"
cd "$work"
terraform init -no-color >init.log 2>&1 || { cat init.log; exit 1; }
status=0
echo "== terraform apply"
terraform apply -no-color -auto-approve $vars || status=1
if [ $status -eq 0 ]; then
    echo "== terraform plan (expects no changes)"
    set +e
    terraform plan -no-color -detailed-exitcode $vars >plan.log 2>&1
    plan=$?
    set -e
    cat plan.log
    if [ $plan -ne 0 ] || ! grep -q "No changes" plan.log; then
        echo "plan after apply was not empty (exit $plan)" >&2
        status=1
    fi
fi
echo "== terraform destroy"
terraform destroy -no-color -auto-approve $vars || status=1
exit $status
