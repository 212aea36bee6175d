# A VPC stack with an EBS-backed instance and a data volume, as a Terraform user writes
# it, against Kumo (cli/tests/terraform/vpc_stack.sh
# applies it, plans again expecting "No changes", and destroys it).

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

variable "endpoint" { type = string }
variable "image_id" { type = string }
variable "zone" { type = string }

provider "aws" {
  region                      = "us-east-1"
  skip_credentials_validation = true
  # The account id (STS GetCallerIdentity) tells the provider which referenced groups
  # are the account's own.
  skip_requesting_account_id = false
  skip_metadata_api_check    = true
  skip_region_validation     = true
  endpoints {
    ec2 = var.endpoint
    sts = var.endpoint
    iam = var.endpoint
  }
}

resource "aws_vpc" "main" {
  cidr_block           = "10.0.0.0/16"
  enable_dns_hostnames = true
  tags                 = { Name = "kumo-tf-vpc" }
}

resource "aws_subnet" "public" {
  vpc_id                  = aws_vpc.main.id
  cidr_block              = "10.0.1.0/24"
  availability_zone       = var.zone
  map_public_ip_on_launch = true
  tags                    = { Name = "kumo-tf-public" }
}

resource "aws_internet_gateway" "gw" {
  vpc_id = aws_vpc.main.id
  tags   = { Name = "kumo-tf-igw" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.gw.id
  }
  tags = { Name = "kumo-tf-public" }
}

resource "aws_route_table_association" "public" {
  subnet_id      = aws_subnet.public.id
  route_table_id = aws_route_table.public.id
}

resource "aws_security_group" "web" {
  name        = "kumo-tf-web"
  description = "web (inline rules)"
  vpc_id      = aws_vpc.main.id
  ingress {
    description = "http"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "app" {
  name        = "kumo-tf-app"
  description = "app (standalone rules)"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "app_from_web" {
  security_group_id            = aws_security_group.app.id
  referenced_security_group_id = aws_security_group.web.id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_network_interface" "extra" {
  subnet_id       = aws_subnet.public.id
  private_ips     = ["10.0.1.50"]
  security_groups = [aws_security_group.app.id]
  tags            = { Name = "kumo-tf-eni" }
}

resource "aws_instance" "web" {
  ami                    = var.image_id
  instance_type          = "c5.large"
  subnet_id              = aws_subnet.public.id
  vpc_security_group_ids = [aws_security_group.web.id, aws_security_group.app.id]
  tags                   = { Name = "kumo-tf-web" }
  depends_on             = [aws_route_table_association.public]
  root_block_device {
    volume_size           = 2
    volume_type           = "gp3"
    delete_on_termination = true
  }
}

resource "aws_ebs_volume" "data" {
  availability_zone = var.zone
  size              = 1
  type              = "gp3"
  tags              = { Name = "kumo-tf-data" }
}

resource "aws_volume_attachment" "data" {
  device_name = "/dev/sdh"
  volume_id   = aws_ebs_volume.data.id
  instance_id = aws_instance.web.id
}

resource "aws_eip" "web" {
  domain = "vpc"
  tags   = { Name = "kumo-tf-eip" }
}

resource "aws_eip_association" "web" {
  allocation_id = aws_eip.web.id
  instance_id   = aws_instance.web.id
}

# The instance's own public_ip is not an output: the elastic IP association replaces its
# launch-time address after apply, as on AWS (a refresh sees the new one).
output "public_ip" { value = aws_eip.web.public_ip }
output "root_volume_id" { value = aws_instance.web.root_block_device[0].volume_id }
