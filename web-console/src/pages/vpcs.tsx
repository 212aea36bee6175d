// VPCs and their subnets: list, create (with a CIDR block), delete; the default VPC.
import { useState } from "preact/hooks";
import { api, seg } from "../lib/api";
import type { Schemas } from "../api/types";
import { useLoad } from "../lib/poll";
import { canWrite, useSession } from "../lib/session";
import { navigate, useRoute } from "../lib/router";
import { isIpv4Cidr, nameTags } from "../lib/network";
import { Page } from "../components/Page";
import { Table } from "../components/Table";
import { ErrorBanner } from "../components/ErrorBanner";
import { ActionButton, ApiForm } from "../components/Action";
import { SelectField, TextField } from "../components/Field";
import { StateBadge } from "../components/StateBadge";
import { Link } from "../components/Link";
import { Actions, DEFAULT_ZONE, fail, knownZones, lists, SuggestField, tagText, TagsCell, type Subnet, type Vpc, Id } from "./network/shared";

export function Vpcs(_props: { params: Record<string, string> }) {
  const session = useSession();
  const writer = canWrite(session.role);
  const vpcs = useLoad(lists.vpcs, []);
  const [creating, setCreating] = useState(false);
  const hasDefault = vpcs.data?.some((v) => v.is_default) ?? true;
  return (
    <Page
      title="VPCs"
      actions={
        writer && (
          <>
            {!hasDefault && (
              <ActionButton run={() => api.post<Vpc>("/v1/vpcs/default")} done={vpcs.reload}>
                Create default VPC
              </ActionButton>
            )}
            <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
              Create VPC
            </button>
          </>
        )
      }
    >
      {writer && creating && (
        <CreateVpc
          onCancel={() => setCreating(false)}
          done={() => {
            setCreating(false);
            vpcs.reload();
          }}
        />
      )}
      <ErrorBanner error={vpcs.error} />
      <Table<Vpc>
        label="VPCs"
        rows={vpcs.data}
        loading={vpcs.loading}
        rowKey={(v) => v.vpc_id}
        text={(v) => [v.vpc_id, v.cidr_block, v.state, tagText(v.tags), v.is_default ? "default" : ""]}
        empty={<p>No VPCs yet. Create one with a CIDR block{writer ? ", or create the default VPC" : ""}.</p>}
        columns={[
          {
            header: "VPC",
            cell: (v) => (
              <Link to={`/vpcs/${encodeURIComponent(v.vpc_id)}`}>
                <Id id={v.vpc_id} />
              </Link>
            ),
          },
          { header: "Name", cell: (v) => v.tags["Name"] ?? <span class="muted">—</span> },
          { header: "CIDR block", cell: (v) => <code>{v.cidr_block}</code> },
          { header: "State", cell: (v) => <StateBadge state={v.state} /> },
          { header: "Default", cell: (v) => (v.is_default ? "Yes" : "No") },
          { header: "DNS", cell: (v) => `${v.enable_dns_support ? "resolution" : "no resolution"}, ${v.enable_dns_hostnames ? "hostnames" : "no hostnames"}` },
          { header: "Tags", cell: (v) => <TagsCell tags={v.tags} /> },
          {
            header: "Actions",
            cell: (v) => (
              <Actions>
                <Link to={`/subnets?vpc=${encodeURIComponent(v.vpc_id)}`}>Subnets</Link>
                {writer && (
                  <ActionButton
                    danger
                    label={`Delete ${v.vpc_id}`}
                    confirm={`Delete VPC ${v.vpc_id}? Its subnets, instances and interfaces must be gone first.`}
                    run={() => api.del(`/v1/vpcs/${seg(v.vpc_id)}`)}
                    done={vpcs.reload}
                  >
                    Delete
                  </ActionButton>
                )}
              </Actions>
            ),
          },
        ]}
      />
    </Page>
  );
}

function CreateVpc({ done, onCancel }: { done: () => void; onCancel: () => void }) {
  const [cidr, setCidr] = useState("10.0.0.0/16");
  const [name, setName] = useState("");
  return (
    <ApiForm
      label="Create VPC"
      submit="Create VPC"
      onCancel={onCancel}
      done={done}
      run={() => {
        if (!isIpv4Cidr(cidr, 16, 28)) fail(`“${cidr}” is not an IPv4 block from /16 to /28 (e.g. 10.0.0.0/16).`);
        return api.post<Vpc>("/v1/vpcs", { cidr_block: cidr.trim(), tags: nameTags(name) } satisfies Schemas["CreateVpc"]);
      }}
    >
      <TextField label="CIDR block" name="cidr_block" value={cidr} onInput={setCidr} required hint="An IPv4 block from /16 to /28, e.g. 10.0.0.0/16." />
      <TextField label="Name (optional)" name="vpc_name" value={name} onInput={setName} hint="Kept as the Name tag." />
    </ApiForm>
  );
}

export function Subnets(_props: { params: Record<string, string> }) {
  const session = useSession();
  const writer = canWrite(session.role);
  const { query } = useRoute();
  const vpcFilter = query.get("vpc") ?? "";
  const vpcs = useLoad(lists.vpcs, []);
  const subnets = useLoad(() => lists.subnets(vpcFilter || undefined), [vpcFilter]);
  const [creating, setCreating] = useState(false);
  const vpcOptions = [{ value: "", label: "All VPCs" }, ...(vpcs.data ?? []).map((v) => ({ value: v.vpc_id, label: vpcLabel(v) }))];
  return (
    <Page
      title="Subnets"
      actions={
        writer && (
          <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            Create subnet
          </button>
        )
      }
    >
      {writer && creating && (
        <CreateSubnet
          vpcs={vpcs.data ?? []}
          vpcId={vpcFilter}
          zones={knownZones(subnets.data)}
          onCancel={() => setCreating(false)}
          done={() => {
            setCreating(false);
            subnets.reload();
          }}
        />
      )}
      <div style={{ maxWidth: "420px" }}>
        <SelectField
          label="VPC"
          name="vpc_filter"
          value={vpcFilter}
          options={vpcOptions}
          onChange={(v) => navigate(v ? `/subnets?vpc=${encodeURIComponent(v)}` : "/subnets", true)}
        />
      </div>
      <ErrorBanner error={vpcs.error ?? subnets.error} />
      <Table<Subnet>
        label="Subnets"
        rows={subnets.data}
        loading={subnets.loading}
        rowKey={(s) => s.subnet_id}
        text={(s) => [s.subnet_id, s.vpc_id, s.cidr_block, s.availability_zone, s.state, tagText(s.tags)]}
        empty={<p>No subnets{vpcFilter ? ` in ${vpcFilter}` : ""} yet.{writer ? " Create one inside a VPC's block." : ""}</p>}
        columns={[
          { header: "Subnet", cell: (s) => <Id id={s.subnet_id} /> },
          {
            header: "VPC",
            cell: (s) => (
              <Link to={`/vpcs/${encodeURIComponent(s.vpc_id)}`}>
                <Id id={s.vpc_id} />
              </Link>
            ),
          },
          { header: "CIDR block", cell: (s) => <code>{s.cidr_block}</code> },
          { header: "Zone", cell: (s) => <span style={{ whiteSpace: "nowrap" }}>{s.availability_zone}</span> },
          { header: "Free addresses", cell: (s) => s.available_ip_address_count },
          { header: "State", cell: (s) => <StateBadge state={s.state} /> },
          { header: "Notes", cell: (s) => subnetNotes(s) || <span class="muted">—</span> },
          { header: "Tags", cell: (s) => <TagsCell tags={s.tags} /> },
          ...(writer
            ? [
                {
                  header: "Actions",
                  cell: (s: Subnet) => (
                    <Actions>
                      <ActionButton
                        label={`${s.map_public_ip_on_launch ? "Turn off" : "Turn on"} public IPs on launch in ${s.subnet_id}`}
                        run={() => api.patch<Subnet>(`/v1/subnets/${seg(s.subnet_id)}`, { map_public_ip_on_launch: !s.map_public_ip_on_launch } satisfies Schemas["ModifySubnet"])}
                        done={subnets.reload}
                      >
                        {s.map_public_ip_on_launch ? "Turn off public IPs" : "Turn on public IPs"}
                      </ActionButton>
                      <ActionButton
                        danger
                        label={`Delete ${s.subnet_id}`}
                        confirm={`Delete subnet ${s.subnet_id}? Its instances and interfaces must be gone first.`}
                        run={() => api.del(`/v1/subnets/${seg(s.subnet_id)}`)}
                        done={subnets.reload}
                      >
                        Delete
                      </ActionButton>
                    </Actions>
                  ),
                },
              ]
            : []),
        ]}
      />
    </Page>
  );
}

function subnetNotes(s: Subnet): string {
  return [s.default_for_az ? "default for its zone" : "", s.map_public_ip_on_launch ? "public IPs on launch" : ""].filter(Boolean).join("; ");
}

function vpcLabel(v: Vpc): string {
  const name = v.tags["Name"] ?? (v.is_default ? "default" : "");
  return `${v.vpc_id} (${v.cidr_block}${name ? `, ${name}` : ""})`;
}

function CreateSubnet(props: { vpcs: Vpc[]; vpcId: string; zones: string[]; done: () => void; onCancel: () => void }) {
  const [vpcId, setVpcId] = useState(props.vpcId || props.vpcs[0]?.vpc_id || "");
  const [cidr, setCidr] = useState("");
  const [zone, setZone] = useState(props.zones[0] ?? DEFAULT_ZONE);
  const [name, setName] = useState("");
  const vpc = props.vpcs.find((v) => v.vpc_id === vpcId);
  return (
    <ApiForm
      label="Create subnet"
      submit="Create subnet"
      onCancel={props.onCancel}
      done={props.done}
      run={() => {
        if (!vpcId) fail("Choose the VPC the subnet goes in (create a VPC first if there is none).");
        if (!isIpv4Cidr(cidr, 16, 28)) fail(`“${cidr}” is not an IPv4 block from /16 to /28 inside the VPC's block.`);
        const body: Schemas["CreateSubnet"] = {
          vpc_id: vpcId,
          cidr_block: cidr.trim(),
          availability_zone: zone.trim() || null,
          tags: nameTags(name),
        };
        return api.post<Subnet>("/v1/subnets", body);
      }}
    >
      <SelectField
        label="VPC"
        name="subnet_vpc"
        value={vpcId}
        onChange={setVpcId}
        options={props.vpcs.length ? props.vpcs.map((v) => ({ value: v.vpc_id, label: vpcLabel(v) })) : [{ value: "", label: "No VPCs: create one first" }]}
      />
      <TextField
        label="CIDR block"
        name="subnet_cidr"
        value={cidr}
        onInput={setCidr}
        required
        placeholder={vpc ? vpc.cidr_block.replace(/\/\d+$/, "/24") : "10.0.1.0/24"}
        hint={vpc ? `Inside ${vpc.cidr_block}, /16 to /28.` : "Inside the VPC's block, /16 to /28."}
      />
      <SuggestField label="Availability zone" name="subnet_zone" value={zone} onInput={setZone} suggestions={props.zones} hint="Empty: the region's first zone." />
      <TextField label="Name (optional)" name="subnet_name" value={name} onInput={setName} hint="Kept as the Name tag." />
    </ApiForm>
  );
}
