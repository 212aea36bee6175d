// What the instance pages decide without the network: how often to poll, which actions a
// state allows, the RunInstances body of the launch wizard, key pair file names.
import type { Schemas } from "../api/types";

export type InstanceState = Schemas["InstanceState"];

/** States an instance leaves by itself; the pages poll fast while any is shown. */
export const TRANSIENT_STATES: readonly InstanceState[] = ["pending", "stopping", "shutting-down"];

export const FAST_POLL_MS = 3_000;
export const SLOW_POLL_MS = 15_000;
export const CONSOLE_POLL_MS = 5_000;

export function isTransientState(state: string | null | undefined): boolean {
  return TRANSIENT_STATES.includes(state as InstanceState);
}

/** 3 s while any of `states` is on its way somewhere, else 15 s. */
export function pollInterval(states: (string | null | undefined)[]): number {
  return states.some(isTransientState) ? FAST_POLL_MS : SLOW_POLL_MS;
}

export type InstanceAction = "start" | "stop" | "reboot" | "terminate";

/** Whether `action` makes sense in `state` (the API refuses the others with 409). */
export function actionAllowed(action: InstanceAction, state: string): boolean {
  switch (action) {
    case "start":
      return state === "stopped";
    case "stop":
      return state === "running" || state === "pending";
    case "reboot":
      return state === "running";
    case "terminate":
      return state !== "terminated" && state !== "shutting-down";
  }
}

/** The instance's Name tag, if any. */
export function instanceName(tags: Record<string, string> | null | undefined): string | undefined {
  const name = tags?.["Name"];
  return name ? name : undefined;
}

/** Every address of an instance's interfaces: private first, then public. */
export function instanceAddresses(interfaces: Schemas["InstanceInterface"][]): { private: string[]; public: string[] } {
  return {
    private: interfaces.flatMap((i) => (i.private_ip_addresses.length ? i.private_ip_addresses : [i.private_ip_address])),
    public: interfaces.flatMap((i) => i.public_addresses.map((p) => p.public_ip)),
  };
}

export interface LaunchForm {
  imageId: string;
  instanceType: string;
  keyName: string;
  subnetId: string;
  securityGroupIds: string[];
  userData: string;
  count: string;
  name: string;
}

export const MAX_LAUNCH_COUNT = 20;

/** What is wrong with the wizard's answers, in plain words; undefined when nothing. */
export function launchProblem(form: LaunchForm): string | undefined {
  if (!form.imageId) return "Choose an image.";
  if (!form.instanceType) return "Choose an instance type.";
  const count = form.count.trim();
  if (!/^\d+$/.test(count) || Number(count) < 1 || Number(count) > MAX_LAUNCH_COUNT) {
    return `The count must be a whole number from 1 to ${MAX_LAUNCH_COUNT}.`;
  }
  if (form.name.length > 256) return "The name tag is at most 256 characters.";
  return undefined;
}

/** The POST /v1/instances body of the wizard's answers (empty optional answers left out). */
export function runInstancesBody(form: LaunchForm): Schemas["RunInstances"] {
  const count = Number(form.count.trim());
  const body: Schemas["RunInstances"] = {
    image_id: form.imageId,
    instance_type: form.instanceType,
    min_count: count,
    max_count: count,
  };
  if (form.keyName) body.key_name = form.keyName;
  if (form.userData.trim()) body.user_data = form.userData;
  const name = form.name.trim();
  if (name) body.tags = { Name: name };
  if (form.subnetId || form.securityGroupIds.length) {
    body.network = {};
    if (form.subnetId) body.network.subnet_id = form.subnetId;
    if (form.securityGroupIds.length) body.network.security_group_ids = [...form.securityGroupIds];
  }
  return body;
}

/** The VPC a launch lands in: the chosen subnet's, else the default VPC's (a default subnet). */
export function launchVpc(subnets: Schemas["Subnet"][], subnetId: string): string | undefined {
  if (subnetId) return subnets.find((s) => s.subnet_id === subnetId)?.vpc_id;
  return subnets.find((s) => s.default_for_az)?.vpc_id;
}

/** A safe download name for a key pair's private key: `<name>.pem`. */
export function pemFileName(keyName: string): string {
  const safe = keyName.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "");
  return `${safe || "key"}.pem`;
}

/** Does `text` look like one OpenSSH public key line (`type base64 [comment]`)? */
export function looksLikePublicKey(text: string): boolean {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2 || text.trim().includes("\n")) return false;
  const [type, blob] = parts as [string, string];
  return /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)$/.test(type) && /^[A-Za-z0-9+/]+={0,2}$/.test(blob);
}

/** 512 → "512 MiB", 2048 → "2 GiB", 1536 → "1.5 GiB". */
export function formatMemoryMib(mib: number): string {
  if (mib < 1024) return `${mib} MiB`;
  const gib = mib / 1024;
  return `${Number.isInteger(gib) ? gib : gib.toFixed(1)} GiB`;
}
