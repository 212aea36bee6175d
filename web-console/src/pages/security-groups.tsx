// Security groups: list, create, delete, and one group's rule editor (ingress and egress).
import { useEffect, useState } from "preact/hooks";
import { api, seg } from "../lib/api";
import type { Schemas } from "../api/types";
import { useLoad } from "../lib/poll";
import { canWrite, useSession } from "../lib/session";
import { navigate } from "../lib/router";
import { formatTime } from "../lib/format";
import { formatPeer, formatPortRange, isIpv4Cidr, parsePortRange, portRangeText, protocolLabel } from "../lib/network";
import { Details, Loading, Page } from "../components/Page";
import { Table } from "../components/Table";
import { ErrorBanner } from "../components/ErrorBanner";
import { ActionButton, ApiForm } from "../components/Action";
import { SelectField, TextField } from "../components/Field";
import { Link } from "../components/Link";
import { Actions, fail, lists, Row, NotFoundPage, tagText, TagsCell, type SecurityGroup, type Vpc, Id } from "./network/shared";

type Rule = Schemas["SecurityGroupRule"];

export function SecurityGroups(_props: { params: Record<string, string> }) {
  const session = useSession();
  const writer = canWrite(session.role);
  const groups = useLoad(lists.securityGroups, []);
  const vpcs = useLoad(lists.vpcs, []);
  const [creating, setCreating] = useState(false);
  return (
    <Page
      title="Security groups"
      actions={
        writer && (
          <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            Create security group
          </button>
        )
      }
    >
      {writer && creating && (
        <CreateGroup
          vpcs={vpcs.data ?? []}
          onCancel={() => setCreating(false)}
          done={(group) => navigate(`/security-groups/${encodeURIComponent(group.group_id)}`)}
        />
      )}
      <ErrorBanner error={groups.error} />
      <Table<SecurityGroup>
        label="Security groups"
        rows={groups.data}
        loading={groups.loading}
        rowKey={(g) => g.group_id}
        text={(g) => [g.group_id, g.group_name, g.vpc_id, g.description, tagText(g.tags)]}
        empty={<p>No security groups yet. Each VPC gets a default one; create more to open ports to instances.</p>}
        columns={[
          {
            header: "Group",
            cell: (g) => (
              <Link to={`/security-groups/${encodeURIComponent(g.group_id)}`}>
                <Id id={g.group_id} />
              </Link>
            ),
          },
          { header: "Name", cell: (g) => g.group_name },
          { header: "VPC", cell: (g) => <Id id={g.vpc_id} /> },
          { header: "Description", cell: (g) => g.description || <span class="muted">—</span> },
          { header: "Rules", cell: (g) => `${g.ingress.length} in, ${g.egress.length} out` },
          { header: "Tags", cell: (g) => <TagsCell tags={g.tags} /> },
          ...(writer
            ? [
                {
                  header: "Actions",
                  cell: (g: SecurityGroup) =>
                    g.is_default ? (
                      <span class="muted small">The VPC's default group</span>
                    ) : (
                      <ActionButton
                        danger
                        label={`Delete ${g.group_id}`}
                        confirm={`Delete security group ${g.group_name} (${g.group_id})?`}
                        run={() => api.del(`/v1/security-groups/${seg(g.group_id)}`)}
                        done={groups.reload}
                      >
                        Delete
                      </ActionButton>
                    ),
                },
              ]
            : []),
        ]}
      />
    </Page>
  );
}

function CreateGroup(props: { vpcs: Vpc[]; done: (g: SecurityGroup) => void; onCancel: () => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [vpcId, setVpcId] = useState("");
  return (
    <ApiForm
      label="Create security group"
      submit="Create security group"
      onCancel={props.onCancel}
      run={async () => {
        if (!name.trim()) fail("Give the group a name.");
        const body: Schemas["CreateSecurityGroup"] = {
          group_name: name.trim(),
          description: description.trim() || name.trim(),
          vpc_id: vpcId || null,
        };
        const group = await api.post<SecurityGroup>("/v1/security-groups", body);
        props.done(group);
      }}
    >
      <TextField label="Group name" name="group_name" value={name} onInput={setName} required />
      <TextField label="Description" name="group_description" value={description} onInput={setDescription} hint="Empty: the name." />
      <SelectField
        label="VPC"
        name="group_vpc"
        value={vpcId}
        onChange={setVpcId}
        options={[{ value: "", label: "The default VPC" }, ...props.vpcs.map((v) => ({ value: v.vpc_id, label: `${v.vpc_id} (${v.cidr_block})` }))]}
      />
    </ApiForm>
  );
}

export function SecurityGroupDetail({ params }: { params: Record<string, string> }) {
  const id = params["id"] ?? "";
  const session = useSession();
  const writer = canWrite(session.role);
  const group = useLoad(() => api.get<SecurityGroup>(`/v1/security-groups/${seg(id)}`), [id]);
  const others = useLoad(lists.securityGroups, []);
  const [editing, setEditing] = useState<string | undefined>(undefined);
  if (group.error?.status === 404) {
    return <NotFoundPage what="Security group" id={id} back="/security-groups" backLabel="All security groups" error={group.error} />;
  }
  const g = group.data;
  const editable = g && editing ? [...g.ingress, ...g.egress].find((r) => r.rule_id === editing) : undefined;
  const peers = (others.data ?? []).filter((o) => g && o.vpc_id === g.vpc_id);
  return (
    <Page
      title={g ? `Security group ${g.group_name} (${g.group_id})` : `Security group ${id}`}
      actions={
        writer &&
        g &&
        !g.is_default && (
          <ActionButton
            danger
            confirm={`Delete security group ${g.group_name} (${g.group_id})?`}
            run={() => api.del(`/v1/security-groups/${seg(g.group_id)}`)}
            done={() => navigate("/security-groups")}
          >
            Delete security group
          </ActionButton>
        )
      }
    >
      <p>
        <Link to="/security-groups">← All security groups</Link>
      </p>
      <ErrorBanner error={group.error} />
      {!g ? (
        !group.error && <Loading what="Loading the security group" />
      ) : (
        <>
          <Details
            rows={[
              ["Group id", <Id id={g.group_id} />],
              ["Name", g.group_name],
              ["Description", g.description || "—"],
              ["VPC", <Id id={g.vpc_id} />],
              ["Default group", g.is_default ? "Yes (cannot be deleted)" : "No"],
              ["Created", formatTime(g.created_at)],
              ["Tags", <TagsCell tags={g.tags} />],
            ]}
          />
          <RuleList title="Inbound rules" direction="ingress" group={g} rules={g.ingress} writer={writer} reload={group.reload} edit={setEditing} />
          <RuleList title="Outbound rules" direction="egress" group={g} rules={g.egress} writer={writer} reload={group.reload} edit={setEditing} />
          {writer &&
            (editable ? (
              <RuleForm
                key={editable.rule_id}
                group={g}
                peers={peers}
                rule={editable}
                onCancel={() => setEditing(undefined)}
                done={() => {
                  setEditing(undefined);
                  group.reload();
                }}
              />
            ) : (
              <RuleForm key="new" group={g} peers={peers} done={group.reload} />
            ))}
        </>
      )}
    </Page>
  );
}

function RuleList(props: {
  title: string;
  direction: "ingress" | "egress";
  group: SecurityGroup;
  rules: Rule[];
  writer: boolean;
  reload: () => void;
  edit: (ruleId: string) => void;
}) {
  const peer = props.direction === "ingress" ? "Source" : "Destination";
  return (
    <section class="card" aria-label={props.title}>
      <h2>{props.title}</h2>
      <Table<Rule>
        label={props.title}
        rows={props.rules}
        rowKey={(r) => r.rule_id}
        text={(r) => [r.rule_id, protocolLabel(r.protocol), formatPeer(r), r.description, String(r.from_port ?? "")]}
        empty={
          <p>
            No {props.direction === "ingress" ? "inbound" : "outbound"} rules:{" "}
            {props.direction === "ingress" ? "nothing may reach the group's instances." : "the group's instances may send nothing."}
          </p>
        }
        columns={[
          { header: "Protocol", cell: (r) => protocolLabel(r.protocol) },
          { header: "Ports", cell: (r) => formatPortRange(r.protocol, r.from_port, r.to_port) },
          { header: peer, cell: (r) => <code>{formatPeer(r)}</code> },
          { header: "Description", cell: (r) => r.description || <span class="muted">—</span> },
          { header: "Rule", cell: (r) => <Id id={r.rule_id} small /> },
          ...(props.writer
            ? [
                {
                  header: "Actions",
                  cell: (r: Rule) => (
                    <Actions>
                      <button type="button" aria-label={`Edit rule ${r.rule_id}`} onClick={() => props.edit(r.rule_id)}>
                        Edit rule
                      </button>
                      <ActionButton
                        danger
                        label={`Delete rule ${r.rule_id}`}
                        confirm={`Delete the ${protocolLabel(r.protocol)} ${formatPortRange(r.protocol, r.from_port, r.to_port)} rule for ${formatPeer(r)}?`}
                        run={() => api.del(`/v1/security-groups/${seg(props.group.group_id)}/rules/${seg(r.rule_id)}`)}
                        done={props.reload}
                      >
                        Delete rule
                      </ActionButton>
                    </Actions>
                  ),
                },
              ]
            : []),
        ]}
      />
    </section>
  );
}

/** The protocol as the form's select names it ("6" → "tcp"). */
function normalProtocol(protocol: string): string {
  const known: Record<string, string> = { "6": "tcp", "17": "udp", "1": "icmp", all: "-1" };
  return known[protocol.toLowerCase()] ?? protocol.toLowerCase();
}

const PROTOCOLS = [
  { value: "tcp", label: "TCP" },
  { value: "udp", label: "UDP" },
  { value: "icmp", label: "ICMP" },
  { value: "-1", label: "All traffic" },
];

/** Add a rule, or with `rule` change that one (`PUT …/rules/{id}`, same direction). */
function RuleForm({ group, peers, rule, done, onCancel }: { group: SecurityGroup; peers: SecurityGroup[]; rule?: Rule; done: () => void; onCancel?: () => void }) {
  const [direction, setDirection] = useState<"ingress" | "egress">(rule?.is_egress ? "egress" : "ingress");
  const [protocol, setProtocol] = useState(rule ? normalProtocol(rule.protocol) : "tcp");
  const [ports, setPorts] = useState(rule ? portRangeText(rule.protocol, rule.from_port, rule.to_port) : "22");
  const [peerKind, setPeerKind] = useState<"cidr" | "group">(rule?.referenced_group_id ? "group" : "cidr");
  const [cidr, setCidr] = useState(rule?.cidr ?? "0.0.0.0/0");
  const [peerGroup, setPeerGroup] = useState(rule?.referenced_group_id ?? group.group_id);
  const [description, setDescription] = useState(rule?.description ?? "");
  const protocols = PROTOCOLS.some((p) => p.value === protocol) ? PROTOCOLS : [...PROTOCOLS, { value: protocol, label: protocolLabel(protocol) }];
  const title = rule ? `Edit rule ${rule.rule_id}` : "Add rule";
  // Editing starts at the form (it sits under the lists): focus its first field.
  useEffect(() => {
    if (rule) document.querySelector<HTMLElement>('[name="rule_protocol"]')?.focus();
  }, [rule?.rule_id]);
  const portHint =
    protocol === "icmp"
      ? "An ICMP type (8), a type and code (3:4), or empty for all."
      : protocol === "-1"
        ? "All traffic has no ports."
        : "A port (22), a range (8000-8080), or empty for all.";
  return (
    <ApiForm
      label={title}
      submit={rule ? "Save rule" : "Add rule"}
      onCancel={onCancel}
      done={() => {
        if (!rule) setDescription("");
        done();
      }}
      run={() => {
        const range = parsePortRange(protocol, ports);
        if (range instanceof Error) throw range;
        if (peerKind === "cidr" && !isIpv4Cidr(cidr)) fail(`“${cidr}” is not an IPv4 CIDR block (e.g. 0.0.0.0/0 or 10.0.0.0/16).`);
        const spec: Schemas["RuleSpec"] = {
          protocol,
          ...range,
          cidr: peerKind === "cidr" ? cidr.trim() : null,
          referenced_group_id: peerKind === "group" ? peerGroup : null,
          description: description.trim() || null,
        };
        if (rule) return api.put<Rule>(`/v1/security-groups/${seg(group.group_id)}/rules/${seg(rule.rule_id)}`, spec);
        const body: Schemas["AddRules"] = { direction, rules: [spec] };
        return api.post<Rule[]>(`/v1/security-groups/${seg(group.group_id)}/rules`, body);
      }}
    >
      <h2>{rule ? <>Edit rule <Id id={rule.rule_id} small /></> : "Add a rule"}</h2>
      <Row>
        {!rule && (
          <SelectField
            label="Direction"
            name="rule_direction"
            value={direction}
            onChange={(v) => setDirection(v === "egress" ? "egress" : "ingress")}
            options={[
              { value: "ingress", label: "Inbound (ingress)" },
              { value: "egress", label: "Outbound (egress)" },
            ]}
          />
        )}
        <SelectField label="Protocol" name="rule_protocol" value={protocol} onChange={setProtocol} options={protocols} />
        {protocol !== "-1" && <TextField label={protocol === "icmp" ? "ICMP type and code" : "Port range"} name="rule_ports" value={ports} onInput={setPorts} hint={portHint} />}
      </Row>
      <Row>
        <SelectField
          label={direction === "ingress" ? "Source type" : "Destination type"}
          name="rule_peer_kind"
          value={peerKind}
          onChange={(v) => setPeerKind(v === "group" ? "group" : "cidr")}
          options={[
            { value: "cidr", label: "CIDR block" },
            { value: "group", label: "Security group" },
          ]}
        />
        {peerKind === "cidr" ? (
          <TextField label={direction === "ingress" ? "Source CIDR" : "Destination CIDR"} name="rule_cidr" value={cidr} onInput={setCidr} hint="0.0.0.0/0 is anywhere." />
        ) : (
          <SelectField
            label={direction === "ingress" ? "Source group" : "Destination group"}
            name="rule_group"
            value={peerGroup}
            onChange={setPeerGroup}
            options={(peers.length ? peers : [group]).map((p) => ({ value: p.group_id, label: `${p.group_name} (${p.group_id})` }))}
          />
        )}
        <TextField label="Rule description (optional)" name="rule_description" value={description} onInput={setDescription} />
      </Row>
    </ApiForm>
  );
}
