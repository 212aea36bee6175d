// One VPC: its attributes (DNS switches), its subnets and security groups, delete.
import { api, seg } from "../../lib/api";
import type { Schemas } from "../../api/types";
import { useLoad } from "../../lib/poll";
import { canWrite, useSession } from "../../lib/session";
import { navigate } from "../../lib/router";
import { formatTime } from "../../lib/format";
import { Details, Loading, Page } from "../../components/Page";
import { Table } from "../../components/Table";
import { ErrorBanner } from "../../components/ErrorBanner";
import { ActionButton } from "../../components/Action";
import { StateBadge } from "../../components/StateBadge";
import { Link } from "../../components/Link";
import { Actions, Id, lists, NotFoundPage, tagText, TagsCell, type SecurityGroup, type Subnet, type Vpc } from "./shared";

export function VpcDetail({ params }: { params: Record<string, string> }) {
  const id = params["id"] ?? "";
  const writer = canWrite(useSession().role);
  const vpc = useLoad(() => api.get<Vpc>(`/v1/vpcs/${seg(id)}`), [id]);
  const subnets = useLoad(() => lists.subnets(id), [id]);
  const groups = useLoad(async () => (await lists.securityGroups()).filter((g) => g.vpc_id === id), [id]);
  if (vpc.error?.status === 404) return <NotFoundPage what="VPC" id={id} back="/vpcs" backLabel="All VPCs" error={vpc.error} />;
  const v = vpc.data;
  const modify = (change: Schemas["ModifyVpc"]) => api.patch<Vpc>(`/v1/vpcs/${seg(id)}`, change);
  return (
    <Page
      title={v ? `VPC ${v.tags["Name"] ? `${v.tags["Name"]} (${v.vpc_id})` : v.vpc_id}` : `VPC ${id}`}
      actions={
        writer &&
        v && (
          <ActionButton
            danger
            confirm={`Delete VPC ${v.vpc_id}? Its subnets, instances and interfaces must be gone first.`}
            run={() => api.del(`/v1/vpcs/${seg(v.vpc_id)}`)}
            done={() => navigate("/vpcs")}
          >
            Delete VPC
          </ActionButton>
        )
      }
    >
      <p>
        <Link to="/vpcs">← All VPCs</Link>
      </p>
      <ErrorBanner error={vpc.error} />
      {!v ? (
        !vpc.error && <Loading what="Loading the VPC" />
      ) : (
        <Details
          rows={[
            ["VPC id", <Id id={v.vpc_id} />],
            ["CIDR block", <code>{v.cidr_block}</code>],
            ["State", <StateBadge state={v.state} />],
            ["Default VPC", v.is_default ? "Yes" : "No"],
            [
              "DNS resolution",
              <Actions>
                {v.enable_dns_support ? "On" : "Off"}
                {writer && (
                  <ActionButton run={() => modify({ enable_dns_support: !v.enable_dns_support })} done={vpc.reload}>
                    {v.enable_dns_support ? "Turn off DNS resolution" : "Turn on DNS resolution"}
                  </ActionButton>
                )}
              </Actions>,
            ],
            [
              "DNS hostnames",
              <Actions>
                {v.enable_dns_hostnames ? "On" : "Off"}
                {writer && (
                  <ActionButton run={() => modify({ enable_dns_hostnames: !v.enable_dns_hostnames })} done={vpc.reload}>
                    {v.enable_dns_hostnames ? "Turn off DNS hostnames" : "Turn on DNS hostnames"}
                  </ActionButton>
                )}
              </Actions>,
            ],
            ["Created", formatTime(v.created_at)],
            ["Tags", <TagsCell tags={v.tags} />],
          ]}
        />
      )}
      <section class="card" aria-label="Subnets of the VPC">
        <h2>Subnets</h2>
        <ErrorBanner error={subnets.error} />
        <Table<Subnet>
          label="Subnets of the VPC"
          rows={subnets.data}
          loading={subnets.loading}
          rowKey={(s) => s.subnet_id}
          text={(s) => [s.subnet_id, s.cidr_block, s.availability_zone, tagText(s.tags)]}
          empty={
            <p>
              No subnets in this VPC. <Link to={`/subnets?vpc=${encodeURIComponent(id)}`}>Go to subnets</Link>
            </p>
          }
          columns={[
            { header: "Subnet", cell: (s) => <Id id={s.subnet_id} /> },
            { header: "CIDR block", cell: (s) => <code>{s.cidr_block}</code> },
            { header: "Zone", cell: (s) => s.availability_zone },
            { header: "Free addresses", cell: (s) => s.available_ip_address_count },
            { header: "Tags", cell: (s) => <TagsCell tags={s.tags} /> },
          ]}
        />
      </section>
      <section class="card" aria-label="Security groups of the VPC">
        <h2>Security groups</h2>
        <ErrorBanner error={groups.error} />
        <Table<SecurityGroup>
          label="Security groups of the VPC"
          rows={groups.data}
          loading={groups.loading}
          rowKey={(g) => g.group_id}
          text={(g) => [g.group_id, g.group_name, g.description, tagText(g.tags)]}
          empty={<p>No security groups in this VPC.</p>}
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
            { header: "Rules", cell: (g) => `${g.ingress.length} in, ${g.egress.length} out` },
            { header: "Tags", cell: (g) => <TagsCell tags={g.tags} /> },
          ]}
        />
      </section>
    </Page>
  );
}
