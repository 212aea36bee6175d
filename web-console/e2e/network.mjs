// The network and block pages as tenant A's admin: the default VPC and its subnets listed, a
// security group made, given an inbound rule in the rule editor and deleted; a volume made
// and deleted. Each change is checked through the API.
import { assert, eq, expectNoConsoleErrors, heading, nav, row, runId, screenshot, selectMatching, waitUntil } from "./lib.mjs";
import { adminA } from "./tenant.mjs";

export async function securityGroupRulesAndVolumes(ctx) {
  const page = await adminA(ctx);
  const api = ctx.apiA;

  const vpcs = (await api.get("/v1/vpcs")).vpcs;
  const defaultVpc = vpcs.find((v) => v.is_default);
  assert(defaultVpc, "tenant A has no default VPC");
  await nav(page, "VPCs");
  await row(page, defaultVpc.vpc_id).first().waitFor();
  await nav(page, "Subnets");
  const subnets = (await api.get("/v1/subnets")).subnets;
  if (subnets.length) await row(page, subnets[0].subnet_id).first().waitFor();
  await screenshot(page, "subnets");

  // A security group, an inbound rule through the editor, then deleted.
  const groupName = `web-${runId}`;
  await nav(page, "Security groups");
  await page.getByRole("button", { name: /create security group/i }).first().click();
  const create = page.getByRole("form", { name: /create security group/i });
  await create.getByLabel(/group name/i).fill(groupName);
  await create.getByLabel(/description/i).fill("console e2e web servers");
  await create.getByRole("button", { name: /create security group/i }).click();
  await heading(page, new RegExp(groupName));
  const group = await waitUntil("the group in the API", async () =>
    (await api.get("/v1/security-groups")).security_groups.find((g) => g.group_name === groupName), { timeout: 10_000 });
  const rule = page.getByRole("form", { name: /add rule/i });
  await selectMatching(rule, /^direction/i, /inbound/i);
  await selectMatching(rule, /^protocol/i, /^TCP$/);
  await rule.getByLabel(/port range/i).fill("22");
  await rule.getByLabel(/source cidr/i).fill("0.0.0.0/0");
  await rule.getByRole("button", { name: /add rule/i }).click();
  await page.getByRole("table", { name: "Inbound rules" }).getByRole("row").filter({ hasText: "22" }).first().waitFor();
  const ingress = (await api.get(`/v1/security-groups/${group.group_id}`)).ingress;
  assert(
    ingress.some((r) => r.protocol === "tcp" && r.from_port === 22 && r.to_port === 22 && r.cidr === "0.0.0.0/0"),
    `the API's inbound rules lack tcp 22 from 0.0.0.0/0: ${JSON.stringify(ingress)}`,
  );
  await screenshot(page, "security-group-rules");
  await page.getByRole("button", { name: /delete security group/i }).click();
  await heading(page, "Security groups");
  await waitUntil("the group to be gone from the API", async () =>
    !(await api.get("/v1/security-groups")).security_groups.some((g) => g.group_id === group.group_id), { timeout: 15_000 });

  // A 1 GiB volume, created and deleted.
  const before = new Set((await api.get("/v1/volumes")).volumes.map((v) => v.volume_id));
  await nav(page, "Volumes");
  await page.getByRole("button", { name: /create volume/i }).first().click();
  const form = page.getByRole("form", { name: /create volume/i });
  await form.getByLabel(/size/i).fill("1");
  await form.getByRole("button", { name: /create volume/i }).click();
  const volume = await waitUntil("the new volume in the API", async () =>
    (await api.get("/v1/volumes")).volumes.find((v) => !before.has(v.volume_id)), { timeout: 15_000 });
  eq(volume.size_gib, 1, "the new volume's size");
  const volumeRow = row(page, volume.volume_id, "Volumes").first();
  await volumeRow.getByText("available", { exact: true }).waitFor({ timeout: 120_000 });
  await screenshot(page, "volumes");
  await volumeRow.getByRole("button", { name: new RegExp(`delete ${volume.volume_id}`, "i") }).click();
  await waitUntil("the volume to be deleted", async () => {
    const v = (await api.get("/v1/volumes")).volumes.find((x) => x.volume_id === volume.volume_id);
    return !v || v.state === "deleted" || v.state === "deleting";
  }, { timeout: 60_000 });
  expectNoConsoleErrors(page);
}
