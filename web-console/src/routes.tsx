// Every page of the console: its path, its place in the navigation, and who may see it.
// Detail pages (with `:params`) are not in the navigation.
import type { FunctionComponent } from "preact";
import { Home } from "./pages/home";
import { InstanceDetail, InstanceLaunch, Instances } from "./pages/instances";
import { Images } from "./pages/images";
import { KeyPairs } from "./pages/key-pairs";
import { InstanceTypes } from "./pages/instance-types";
import { Vpcs, Subnets } from "./pages/vpcs";
import { SecurityGroupDetail, SecurityGroups } from "./pages/security-groups";
import { Addresses } from "./pages/addresses";
import { Volumes } from "./pages/volumes";
import { VolumeDetail } from "./pages/block/volume-detail";
import { VpcDetail } from "./pages/network/vpc-detail";
import { Snapshots } from "./pages/snapshots";
import { BucketObjects, Buckets } from "./pages/buckets";
import { UserDetail, Users } from "./pages/users";
import { Account } from "./pages/account";
import { Accounts } from "./pages/operator/accounts";
import { Hosts } from "./pages/operator/hosts";
import { StorageNodes } from "./pages/operator/storage-nodes";
import { JoinTokens } from "./pages/operator/join-tokens";
import { Overview } from "./pages/operator/overview";

export type Section = "Compute" | "Network" | "Storage" | "Identity" | "Operator";

export interface RouteDef {
  path: string;
  page: FunctionComponent<{ params: Record<string, string> }>;
  /** The navigation entry; none for detail pages. */
  nav?: { label: string; section: Section };
  operatorOnly?: boolean;
}

export const ROUTES: RouteDef[] = [
  { path: "/", page: Home },
  { path: "/instances", page: Instances, nav: { label: "Instances", section: "Compute" } },
  { path: "/instances/launch", page: InstanceLaunch },
  { path: "/instances/:id", page: InstanceDetail },
  { path: "/images", page: Images, nav: { label: "Images", section: "Compute" } },
  { path: "/key-pairs", page: KeyPairs, nav: { label: "Key pairs", section: "Compute" } },
  { path: "/instance-types", page: InstanceTypes, nav: { label: "Instance types", section: "Compute" } },
  { path: "/vpcs", page: Vpcs, nav: { label: "VPCs", section: "Network" } },
  { path: "/vpcs/:id", page: VpcDetail },
  { path: "/subnets", page: Subnets, nav: { label: "Subnets", section: "Network" } },
  { path: "/security-groups", page: SecurityGroups, nav: { label: "Security groups", section: "Network" } },
  { path: "/security-groups/:id", page: SecurityGroupDetail },
  { path: "/addresses", page: Addresses, nav: { label: "Elastic IPs", section: "Network" } },
  { path: "/volumes", page: Volumes, nav: { label: "Volumes", section: "Storage" } },
  { path: "/volumes/:id", page: VolumeDetail },
  { path: "/snapshots", page: Snapshots, nav: { label: "Snapshots", section: "Storage" } },
  { path: "/buckets", page: Buckets, nav: { label: "Buckets", section: "Storage" } },
  { path: "/buckets/:bucket", page: BucketObjects },
  { path: "/users", page: Users, nav: { label: "Users and keys", section: "Identity" } },
  { path: "/users/:name", page: UserDetail },
  { path: "/account", page: Account, nav: { label: "My account", section: "Identity" } },
  { path: "/operator/overview", page: Overview, nav: { label: "Overview", section: "Operator" }, operatorOnly: true },
  { path: "/operator/accounts", page: Accounts, nav: { label: "Accounts", section: "Operator" }, operatorOnly: true },
  { path: "/operator/hosts", page: Hosts, nav: { label: "Hosts", section: "Operator" }, operatorOnly: true },
  { path: "/operator/storage-nodes", page: StorageNodes, nav: { label: "Storage nodes", section: "Operator" }, operatorOnly: true },
  { path: "/operator/join-tokens", page: JoinTokens, nav: { label: "Join tokens", section: "Operator" }, operatorOnly: true },
];
