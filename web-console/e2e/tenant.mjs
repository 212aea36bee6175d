// Tenant A's admin: key pairs, the launch wizard, live states, the VM's console, stop and
// start, images and instance types, an access key's secret shown once, terminate all.
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  STATE_TIMEOUT,
  acceptDialogs,
  assert,
  eq,
  expectNoConsoleErrors,
  heading,
  nav,
  newUser,
  open,
  row,
  runId,
  screenshot,
  selectMatching,
  signIn,
  waitUntil,
} from "./lib.mjs";

/** Tenant A's admin's browser, signed in on first use. */
export async function adminA(ctx) {
  assert(ctx.tenantA, "tenant A was not created (the operator scenario failed)");
  if (!ctx.a) {
    const { context, page } = await newUser(ctx.browser);
    acceptDialogs(page);
    await signIn(page, ctx.tenantA.account, ctx.tenantA.user, ctx.tenantA.password);
    ctx.a = { context, page };
  }
  return ctx.a.page;
}

/** An OpenSSH ed25519 public key line made here (as `ssh-keygen` would print it). */
export function sshPublicKey(comment) {
  const { publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url");
  const field = (bytes) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const blob = Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]);
  return `ssh-ed25519 ${blob.toString("base64")} ${comment}`;
}

export async function importsKeyPair(ctx) {
  const keyName = `laptop-${runId}`;
  try {
    await importThroughUi(ctx, keyName);
  } catch (error) {
    if (ctx.apiA && !(await ctx.apiA.get("/v1/key-pairs")).some((k) => k.key_name === keyName)) {
      await ctx.apiA.post("/v1/key-pairs/import", { key_name: keyName, public_key: sshPublicKey("fallback") }).catch(() => {});
      ctx.tenantA.keyName = keyName;
    }
    throw error;
  }
}

async function importThroughUi(ctx, keyName) {
  const page = await adminA(ctx);
  await nav(page, "Key pairs");
  await page.getByRole("button", { name: /import/i }).first().click();
  const form = page.getByRole("form", { name: /import/i });
  await form.getByLabel(/name/i).fill(keyName);
  await form.getByLabel(/public key/i).fill(sshPublicKey("e2e@kumo"));
  await form.getByRole("button", { name: /import/i }).click();
  await row(page, keyName).first().waitFor();
  const keys = await ctx.apiA.get("/v1/key-pairs");
  assert(keys.some((k) => k.key_name === keyName), `${keyName} not in GET /v1/key-pairs`);
  ctx.tenantA.keyName = keyName;
  // Create: Kumo makes the pair; the private key downloads once, as <name>.pem.
  const madeName = `made-${runId}`;
  await page.getByRole("button", { name: /create key pair/i }).first().click();
  const create = page.getByRole("form", { name: /create key pair/i });
  await create.getByLabel(/name/i).fill(madeName);
  const [download] = await Promise.all([page.waitForEvent("download"), create.getByRole("button", { name: /create/i }).click()]);
  assert(download.suggestedFilename().startsWith(madeName), `the private key downloads as ${download.suggestedFilename()}`);
  const pem = readFileSync(await download.path(), "utf8");
  assert(/PRIVATE KEY/.test(pem), "the downloaded file is not a private key");
  await row(page, madeName).first().waitFor();
  await screenshot(page, "key-pairs");
  // Shown once: gone when the page is left.
  await nav(page, "Images");
  await nav(page, "Key pairs");
  await row(page, madeName).first().waitFor();
  assert(!(await page.locator("body").innerText()).includes("PRIVATE KEY"), "the private key is shown again");
  expectNoConsoleErrors(page);
}

/** One run of the launch wizard; returns the ids the API then lists that were not there. */
async function launch(ctx, page, { image, type, count, userData, name }) {
  const before = new Set((await ctx.apiA.get("/v1/instances")).instances.map((i) => i.instance_id));
  await nav(page, "Instances");
  await page.getByRole("link", { name: /launch/i }).or(page.getByRole("button", { name: /launch/i })).first().click();
  await heading(page, /launch/i);
  const form = page.getByRole("form", { name: /launch/i });
  await selectMatching(form, /image/i, image);
  await selectMatching(form, /instance type|^type/i, type);
  await selectMatching(form, /key pair/i, new RegExp(ctx.tenantA.keyName));
  // Subnet and security groups: the defaults of the account's default VPC.
  await form.getByLabel(/count|number of instances/i).fill(String(count));
  if (name) {
    const nameField = form.getByLabel(/^name/i);
    if (await nameField.count()) await nameField.fill(name);
  }
  if (userData) await form.getByLabel(/user data/i).fill(userData);
  if (!ctx.launchShot) {
    await screenshot(page, "instance-launch");
    ctx.launchShot = true;
  }
  await form.getByRole("button", { name: /launch/i }).click();
  // The wizard goes back to the list (or the new instance) once RunInstances answered.
  return waitUntil("the launched instances in GET /v1/instances", async () => {
    const now = (await ctx.apiA.get("/v1/instances")).instances.filter((i) => !before.has(i.instance_id));
    return now.length === count ? now : undefined;
  }, { timeout: 30_000 });
}

export async function launchesInstances(ctx) {
  try {
    await launchThroughUi(ctx);
  } catch (error) {
    await launchByApi(ctx).catch((e) => console.log(`  (API fallback launch failed too: ${e.message})`));
    throw error;
  }
}

/** The later scenarios' instances when the wizard failed: RunInstances through the API. */
async function launchByApi(ctx) {
  if (!ctx.apiA) return;
  const images = await ctx.apiA.get("/v1/images");
  const imageId = (name) => images.find((i) => i.name === name).image_id;
  if (!ctx.tenantA.containers) {
    const r = await ctx.apiA.post("/v1/instances", { image_id: imageId("kumo-busybox-container"), instance_type: "t3.nano", min_count: 2, max_count: 2, key_name: ctx.tenantA.keyName ?? null });
    ctx.tenantA.containers = r.instances.map((i) => i.instance_id);
  }
  if (!ctx.tenantA.vm) {
    const r = await ctx.apiA.post("/v1/instances", { image_id: imageId("kumo-busybox-vm"), instance_type: "t3.micro", user_data: "#!/bin/sh\necho hello from the console e2e test\n" });
    ctx.tenantA.vm = r.instances[0].instance_id;
  }
  const ids = [...ctx.tenantA.containers, ctx.tenantA.vm];
  await waitUntil("the fallback instances to run", async () => {
    const all = (await ctx.apiA.get("/v1/instances")).instances;
    return ids.every((id) => all.find((i) => i.instance_id === id)?.state === "running");
  });
}

async function launchThroughUi(ctx) {
  const page = await adminA(ctx);
  const containers = await launch(ctx, page, { image: /kumo-busybox-container/, type: /t3\.nano/, count: 2, name: "web" });
  ctx.tenantA.containers = containers.map((i) => i.instance_id);
  const vm = await launch(ctx, page, {
    image: /kumo-busybox-vm/,
    type: /t3\.micro/,
    count: 1,
    userData: "#!/bin/sh\necho hello from the console e2e test\n",
    name: "vm",
  });
  ctx.tenantA.vm = vm[0].instance_id;
  const ids = [...ctx.tenantA.containers, ctx.tenantA.vm];
  // Watch them reach running on the list, without reloading: the page polls.
  await nav(page, "Instances");
  for (const id of ids) await row(page, id).first().waitFor();
  await waitUntil("all three instances to show running on the list", async () => {
    for (const id of ids) {
      if (!(await row(page, id).first().getByText("running", { exact: true }).isVisible())) return false;
    }
    return true;
  });
  const states = (await ctx.apiA.get("/v1/instances")).instances.filter((i) => ids.includes(i.instance_id)).map((i) => i.state);
  assert(states.every((s) => s === "running"), `API states: ${states}`);
  await screenshot(page, "instances");
  expectNoConsoleErrors(page);
  // The operator's overview counts them (all accounts), live.
  if (ctx.operator) {
    const op = ctx.operator.page;
    await nav(op, "Overview");
    await op.getByRole("img", { name: /\b3 running\b/ }).waitFor({ timeout: 60_000 });
    await screenshot(op, "operator-overview-busy");
  }
}

export async function readsVmConsole(ctx) {
  const page = await adminA(ctx);
  const id = ctx.tenantA.vm;
  assert(id, "no VM was launched");
  await nav(page, "Instances");
  await row(page, id).getByRole("link", { name: id }).click();
  await heading(page, new RegExp(id));
  // The metadata: its private IP, its network interface.
  const instance = await ctx.apiA.get(`/v1/instances/${id}`);
  const eni = instance.network_interfaces[0];
  await page.getByText(eni.private_ip_address, { exact: true }).first().waitFor();
  await page.getByText(eni.network_interface_id).first().waitFor();
  // The serial console refreshes by itself until the guest's boot marks are there.
  await page.getByText(/KUMO-BOOT/).first().waitFor({ timeout: STATE_TIMEOUT });
  await page.getByText(/hello from the console e2e test/).first().waitFor({ timeout: STATE_TIMEOUT });
  await screenshot(page, "instance-detail");
  expectNoConsoleErrors(page);
}

/** Waits until the detail page's state reads `state`. */
async function detailState(page, state) {
  await page.getByText(state, { exact: true }).first().waitFor({ timeout: STATE_TIMEOUT });
}

export async function stopsAndStarts(ctx) {
  const page = await adminA(ctx);
  const id = ctx.tenantA.containers?.[0];
  assert(id, "no container was launched");
  await open(page, `/instances/${id}`);
  await heading(page, new RegExp(id));
  const t0 = Date.now();
  await page.getByRole("button", { name: /^stop/i }).click();
  await detailState(page, "stopped");
  eq((await ctx.apiA.get(`/v1/instances/${id}`)).state, "stopped", "state after Stop");
  const t1 = Date.now();
  await page.getByRole("button", { name: /^start/i }).click();
  await detailState(page, "running");
  eq((await ctx.apiA.get(`/v1/instances/${id}`)).state, "running", "state after Start");
  console.log(`  ${id}: stopped after ${((t1 - t0) / 1000).toFixed(1)} s, running again after ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  expectNoConsoleErrors(page);
}

export async function browsesCatalog(ctx) {
  const page = await adminA(ctx);
  await nav(page, "Images");
  await row(page, "kumo-busybox-vm").first().waitFor();
  await row(page, "kumo-busybox-container").first().waitFor();
  await screenshot(page, "images");
  await nav(page, "Instance types");
  await row(page, "t3.micro").first().waitFor();
  // The filter box narrows the list.
  await page.getByLabel(/filter/i).fill("t3.nano");
  await waitUntil("the filter to hide t3.micro", async () => !(await row(page, "t3.micro").count()), { timeout: 5_000 });
  expectNoConsoleErrors(page);
}

export async function createsAccessKey(ctx) {
  const page = await adminA(ctx);
  const user = ctx.tenantA.user;
  const path = `/v1/accounts/${ctx.tenantA.accountId}/users/${user}/access-keys`;
  const before = new Set((await ctx.apiA.get(path)).map((k) => k.access_key_id));
  await nav(page, "Users and keys");
  await row(page, user).getByRole("link", { name: user, exact: true }).click();
  await heading(page, new RegExp(user));
  await page.getByRole("button", { name: /create access key/i }).click();
  const made = await waitUntil("a new access key in the API", async () => {
    const keys = (await ctx.apiA.get(path)).filter((k) => !before.has(k.access_key_id));
    return keys.length === 1 ? keys[0] : undefined;
  }, { timeout: 15_000 });
  // Its secret: 40 characters, shown once, beside its id.
  await page.getByText(made.access_key_id).first().waitFor();
  const secret = await waitUntil("the secret on the page", async () => {
    const codes = await page.locator("main code").allInnerTexts();
    return codes.map((c) => c.trim()).find((c) => /^[A-Za-z0-9/+]{40}$/.test(c));
  }, { timeout: 10_000 });
  await screenshot(page, "access-key-secret");
  // Gone once the page is left: never shown again.
  await nav(page, "Instances");
  await open(page, `/users/${user}`);
  await page.getByText(made.access_key_id).first().waitFor();
  const again = await page.locator("body").innerText();
  assert(!again.includes(secret), "the secret is shown again on the user's page");
  expectNoConsoleErrors(page);
}

export async function terminatesAll(ctx) {
  const page = await adminA(ctx);
  const ids = [...(ctx.tenantA.containers ?? []), ...(ctx.tenantA.vm ? [ctx.tenantA.vm] : [])];
  assert(ids.length === 3, `expected three instances, have ${ids}`);
  for (const id of ids) {
    await open(page, `/instances/${id}`);
    await heading(page, new RegExp(id));
    await page.getByRole("button", { name: /terminate/i }).click();
    await detailState(page, /^(shutting-down|terminated)$/);
  }
  await nav(page, "Instances");
  for (const id of ids) await row(page, id).first().waitFor();
  await waitUntil("all three instances to show terminated on the list", async () => {
    for (const id of ids) {
      if (!(await row(page, id).first().getByText("terminated", { exact: true }).isVisible())) return false;
    }
    return true;
  });
  await screenshot(page, "instances-terminated");
  const left = (await ctx.apiA.get("/v1/instances")).instances.filter((i) => ids.includes(i.instance_id) && i.state !== "terminated");
  eq(left.length, 0, "instances not terminated per the API");
  expectNoConsoleErrors(page);
}
