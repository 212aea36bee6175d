// The launch wizard: image, type, key pair, subnet and security groups (optional), user
// data, count and a Name tag → POST /v1/instances, then back to the list.
import { useEffect, useState } from "preact/hooks";
import type { Schemas } from "../../api/types";
import { ApiForm } from "../../components/Action";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field, SelectField, TextField } from "../../components/Field";
import { Page } from "../../components/Page";
import { api } from "../../lib/api";
import { formatMemoryMib, launchProblem, launchVpc, MAX_LAUNCH_COUNT, runInstancesBody, type LaunchForm } from "../../lib/instances";
import { useLoad } from "../../lib/poll";
import { navigate } from "../../lib/router";
import { canWrite, useSession } from "../../lib/session";

interface Choices {
  images: Schemas["Image"][];
  types: Schemas["InstanceType"][];
  keys: Schemas["KeyPair"][];
  subnets: Schemas["Subnet"][];
  groups: Schemas["SecurityGroup"][];
}

async function loadChoices(): Promise<Choices> {
  const [images, types, keys, subnets, groups] = await Promise.all([
    api.get<Schemas["Image"][]>("/v1/images"),
    api.get<Schemas["InstanceType"][]>("/v1/instance-types"),
    api.get<Schemas["KeyPair"][]>("/v1/key-pairs"),
    api.get<Schemas["SubnetPage"]>("/v1/subnets?max_results=1000"),
    api.get<Schemas["SecurityGroupPage"]>("/v1/security-groups?max_results=1000"),
  ]);
  return {
    images: images.filter((i) => i.state === "available").sort((a, b) => a.name.localeCompare(b.name)),
    types,
    keys,
    subnets: subnets.subnets,
    groups: groups.security_groups,
  };
}

const EMPTY: LaunchForm = { imageId: "", instanceType: "", keyName: "", subnetId: "", securityGroupIds: [], userData: "", count: "1", name: "" };

export function InstanceLaunch(_props: { params: Record<string, string> }) {
  const session = useSession();
  const choices = useLoad(loadChoices, []);
  const [form, setForm] = useState<LaunchForm>(EMPTY);
  const set = (change: Partial<LaunchForm>) => setForm((f) => ({ ...f, ...change }));
  const data = choices.data;

  // A sensible default type once the catalog is known.
  useEffect(() => {
    if (data && !form.instanceType && data.types.length) {
      set({ instanceType: data.types.find((t) => t.name === "t3.micro")?.name ?? data.types[0]!.name });
    }
  }, [data]);

  if (!canWrite(session.role)) {
    return (
      <Page title="Launch instances">
        <p>Your role ({session.role}) may look at instances but not launch them.</p>
      </Page>
    );
  }

  const vpc = data ? launchVpc(data.subnets, form.subnetId) : undefined;
  const groups = data?.groups.filter((g) => g.vpc_id === vpc) ?? [];
  const chooseSubnet = (subnetId: string) => {
    const nextVpc = data ? launchVpc(data.subnets, subnetId) : undefined;
    const inVpc = new Set(data?.groups.filter((g) => g.vpc_id === nextVpc).map((g) => g.group_id));
    set({ subnetId, securityGroupIds: form.securityGroupIds.filter((id) => inVpc.has(id)) });
  };
  const toggleGroup = (groupId: string, on: boolean) =>
    set({ securityGroupIds: on ? [...form.securityGroupIds, groupId] : form.securityGroupIds.filter((id) => id !== groupId) });

  const launch = async () => {
    const problem = launchProblem(form);
    if (problem) throw new Error(problem);
    await api.post<Schemas["Reservation"]>("/v1/instances", runInstancesBody(form));
  };

  return (
    <Page title="Launch instances">
      <ErrorBanner error={choices.error} />
      {!data && !choices.error && <p class="loading" role="status">Loading images, types and key pairs…</p>}
      <ApiForm label="Launch instances" submit="Launch instances" run={launch} done={() => navigate("/instances")} onCancel={() => navigate("/instances")}>
        <SelectField
          label="Image"
          value={form.imageId}
          onChange={(imageId) => set({ imageId })}
          options={[
            { value: "", label: data ? "Choose an image…" : "Loading…" },
            ...(data?.images ?? []).map((i) => ({ value: i.image_id, label: `${i.name} (${i.kind}, ${i.image_id})` })),
          ]}
          hint="A VM image boots a virtual machine; a container image runs a container."
        />
        <SelectField
          label="Instance type"
          value={form.instanceType}
          onChange={(instanceType) => set({ instanceType })}
          options={[
            ...(form.instanceType ? [] : [{ value: "", label: "Choose a type…" }]),
            ...(data?.types ?? []).map((t) => ({ value: t.name, label: `${t.name}: ${t.vcpus} vCPU, ${formatMemoryMib(t.memory_mib)}` })),
          ]}
        />
        <SelectField
          label="Key pair"
          value={form.keyName}
          onChange={(keyName) => set({ keyName })}
          options={[{ value: "", label: "No key pair" }, ...(data?.keys ?? []).map((k) => ({ value: k.key_name, label: `${k.key_name} (${k.key_type})` }))]}
          hint="Its public key is installed for SSH. Create or import one on the Key pairs page."
        />
        <SelectField
          label="Subnet"
          value={form.subnetId}
          onChange={chooseSubnet}
          options={[
            { value: "", label: "Default subnet (default VPC)" },
            ...(data?.subnets ?? []).map((s) => ({ value: s.subnet_id, label: `${s.subnet_id}: ${s.cidr_block}, ${s.availability_zone}, ${s.vpc_id}${s.default_for_az ? " (default)" : ""}` })),
          ]}
          hint="Optional."
        />
        <fieldset class="field checks">
          <legend>Security groups</legend>
          {groups.length === 0 ? (
            <p class="hint">{data ? "No security groups in this VPC yet; its default group applies." : "Loading…"}</p>
          ) : (
            groups.map((g) => (
              <label key={g.group_id} class="check">
                <input type="checkbox" checked={form.securityGroupIds.includes(g.group_id)} onChange={(e) => toggleGroup(g.group_id, (e.currentTarget as HTMLInputElement).checked)} />
                {g.group_name} <span class="muted">({g.group_id})</span>
              </label>
            ))
          )}
          <p class="hint">Optional: none chosen means the VPC's default group.</p>
        </fieldset>
        <Field label="User data" id="f-user-data" hint="Optional: a script (#!/bin/sh …) or cloud-config the instance runs at first boot.">
          <textarea id="f-user-data" name="user-data" rows={5} spellcheck={false} value={form.userData} aria-describedby="f-user-data-hint" onInput={(e) => set({ userData: (e.currentTarget as HTMLTextAreaElement).value })} />
        </Field>
        <TextField label="Count" name="count" type="number" value={form.count} onInput={(count) => set({ count })} required hint={`How many instances to launch (1–${MAX_LAUNCH_COUNT}).`} />
        <TextField label="Name tag" name="name-tag" value={form.name} onInput={(name) => set({ name })} hint="Optional: the Name tag of every instance launched." />
      </ApiForm>
    </Page>
  );
}
