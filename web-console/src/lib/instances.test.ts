import { describe, expect, it } from "vitest";
import type { Schemas } from "../api/types";
import {
  FAST_POLL_MS,
  SLOW_POLL_MS,
  actionAllowed,
  formatMemoryMib,
  instanceAddresses,
  instanceName,
  isTransientState,
  launchProblem,
  launchVpc,
  looksLikePublicKey,
  pemFileName,
  pollInterval,
  runInstancesBody,
  type LaunchForm,
} from "./instances";

describe("polling", () => {
  it("is fast while any instance is pending, stopping or shutting down", () => {
    expect(pollInterval(["running", "pending"])).toBe(FAST_POLL_MS);
    expect(pollInterval(["stopping"])).toBe(FAST_POLL_MS);
    expect(pollInterval(["terminated", "shutting-down"])).toBe(FAST_POLL_MS);
  });
  it("is slow when every instance is settled (or there are none)", () => {
    expect(pollInterval(["running", "stopped", "terminated"])).toBe(SLOW_POLL_MS);
    expect(pollInterval([])).toBe(SLOW_POLL_MS);
    expect(pollInterval([undefined, null])).toBe(SLOW_POLL_MS);
  });
  it("knows the transient states", () => {
    expect(isTransientState("pending")).toBe(true);
    expect(isTransientState("running")).toBe(false);
    expect(isTransientState("creating")).toBe(false);
  });
});

describe("actionAllowed", () => {
  it("allows start only when stopped", () => {
    expect(actionAllowed("start", "stopped")).toBe(true);
    expect(actionAllowed("start", "running")).toBe(false);
  });
  it("allows stop when running or pending, reboot when running", () => {
    expect(actionAllowed("stop", "running")).toBe(true);
    expect(actionAllowed("stop", "pending")).toBe(true);
    expect(actionAllowed("stop", "stopped")).toBe(false);
    expect(actionAllowed("reboot", "running")).toBe(true);
    expect(actionAllowed("reboot", "stopped")).toBe(false);
  });
  it("allows terminate until it is on its way out", () => {
    expect(actionAllowed("terminate", "running")).toBe(true);
    expect(actionAllowed("terminate", "stopped")).toBe(true);
    expect(actionAllowed("terminate", "shutting-down")).toBe(false);
    expect(actionAllowed("terminate", "terminated")).toBe(false);
  });
});

const iface = (over: Partial<Schemas["InstanceInterface"]>): Schemas["InstanceInterface"] => ({
  network_interface_id: "eni-1",
  subnet_id: "subnet-1",
  vpc_id: "vpc-1",
  owner_id: "1",
  description: "",
  mac_address: "02:00:00:00:00:01",
  private_ip_address: "10.0.0.5",
  private_ip_addresses: ["10.0.0.5"],
  source_dest_check: true,
  groups: [],
  interface_type: "interface",
  attachment_id: "eni-attach-1",
  device_index: 0,
  attach_time: "2026-12-01T00:00:00Z",
  delete_on_termination: true,
  prefix_len: 24,
  gateway: "10.0.0.1",
  public_addresses: [],
  dns_domain: "ec2.internal",
  ...over,
});

describe("instance facts", () => {
  it("reads the Name tag", () => {
    expect(instanceName({ Name: "web" })).toBe("web");
    expect(instanceName({ Name: "" })).toBeUndefined();
    expect(instanceName({})).toBeUndefined();
    expect(instanceName(null)).toBeUndefined();
  });
  it("lists private then public addresses of every interface", () => {
    const addresses = instanceAddresses([
      iface({ private_ip_addresses: ["10.0.0.5", "10.0.0.6"], public_addresses: [{ private_ip_address: "10.0.0.5", public_ip: "198.51.100.7", public_dns_name: "", ip_owner_id: "amazon" }] }),
      iface({ private_ip_address: "10.0.1.9", private_ip_addresses: [] }),
    ]);
    expect(addresses.private).toEqual(["10.0.0.5", "10.0.0.6", "10.0.1.9"]);
    expect(addresses.public).toEqual(["198.51.100.7"]);
  });
  it("formats memory", () => {
    expect(formatMemoryMib(512)).toBe("512 MiB");
    expect(formatMemoryMib(2048)).toBe("2 GiB");
    expect(formatMemoryMib(1536)).toBe("1.5 GiB");
  });
});

const form = (over: Partial<LaunchForm> = {}): LaunchForm => ({
  imageId: "ami-1",
  instanceType: "t3.micro",
  keyName: "",
  subnetId: "",
  securityGroupIds: [],
  userData: "",
  count: "1",
  name: "",
  ...over,
});

describe("the launch wizard", () => {
  it("asks for an image, a type and a sane count", () => {
    expect(launchProblem(form())).toBeUndefined();
    expect(launchProblem(form({ imageId: "" }))).toMatch(/image/);
    expect(launchProblem(form({ instanceType: "" }))).toMatch(/instance type/);
    expect(launchProblem(form({ count: "0" }))).toMatch(/count/);
    expect(launchProblem(form({ count: "2.5" }))).toMatch(/count/);
    expect(launchProblem(form({ count: "21" }))).toMatch(/count/);
    expect(launchProblem(form({ count: " 3 " }))).toBeUndefined();
  });
  it("leaves the optional answers out of the body", () => {
    expect(runInstancesBody(form())).toEqual({ image_id: "ami-1", instance_type: "t3.micro", min_count: 1, max_count: 1 });
  });
  it("puts every answer in the body", () => {
    const body = runInstancesBody(
      form({ keyName: "laptop", subnetId: "subnet-2", securityGroupIds: ["sg-1", "sg-2"], userData: "#!/bin/sh\necho hi\n", count: "2", name: " web " }),
    );
    expect(body).toEqual({
      image_id: "ami-1",
      instance_type: "t3.micro",
      min_count: 2,
      max_count: 2,
      key_name: "laptop",
      user_data: "#!/bin/sh\necho hi\n",
      tags: { Name: "web" },
      network: { subnet_id: "subnet-2", security_group_ids: ["sg-1", "sg-2"] },
    });
  });
  it("sends groups without a subnet (the default subnet's VPC)", () => {
    expect(runInstancesBody(form({ securityGroupIds: ["sg-1"] })).network).toEqual({ security_group_ids: ["sg-1"] });
  });
  it("finds the VPC the launch lands in", () => {
    const subnet = (subnet_id: string, vpc_id: string, default_for_az: boolean) =>
      ({ subnet_id, vpc_id, default_for_az }) as Schemas["Subnet"];
    const subnets = [subnet("subnet-a", "vpc-custom", false), subnet("subnet-d", "vpc-default", true)];
    expect(launchVpc(subnets, "subnet-a")).toBe("vpc-custom");
    expect(launchVpc(subnets, "")).toBe("vpc-default");
    expect(launchVpc([], "")).toBeUndefined();
  });
});

describe("key pairs", () => {
  it("names the private key file after the key pair", () => {
    expect(pemFileName("laptop")).toBe("laptop.pem");
    expect(pemFileName("my key/../x")).toBe("my_key_.._x.pem");
    expect(pemFileName("..hidden")).toBe("hidden.pem");
    expect(pemFileName("")).toBe("key.pem");
  });
  it("recognises OpenSSH public key lines", () => {
    expect(looksLikePublicKey("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG== me@laptop")).toBe(true);
    expect(looksLikePublicKey("ssh-rsa AAAAB3NzaC1yc2E=")).toBe(true);
    expect(looksLikePublicKey("ecdsa-sha2-nistp256 AAAAE2VjZHNh")).toBe(true);
    expect(looksLikePublicKey("-----BEGIN OPENSSH PRIVATE KEY-----")).toBe(false);
    expect(looksLikePublicKey("ssh-ed25519")).toBe(false);
    expect(looksLikePublicKey("ssh-ed25519 AAAA\nssh-rsa BBBB")).toBe(false);
  });
});
