// Operator: the compute hosts, their capacity and health; enable, disable, drain.
import type { Schemas } from "../../api/types";
import { ActionButton } from "../../components/Action";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Link } from "../../components/Link";
import { Page } from "../../components/Page";
import { CapacityBar, StateBadge } from "../../components/StateBadge";
import { Table } from "../../components/Table";
import { api, seg } from "../../lib/api";
import { formatAgo, formatBytes, formatTime } from "../../lib/format";
import { useLoad } from "../../lib/poll";
import { Health } from "./health";

type Host = Schemas["Host"];

export const REFRESH_MS = 10_000;

const mib = (n: number) => formatBytes(n * 1024 * 1024);

export function Hosts(_props: { params: Record<string, string> }) {
  const hosts = useLoad(() => api.get<Host[]>("/v1/hosts"), [], REFRESH_MS);
  const act = (host: Host, action: "enable" | "disable" | "drain") => api.post<Host>(`/v1/hosts/${seg(host.host_id)}/${action}`);
  const list = hosts.data;
  return (
    <Page title="Hosts" actions={<Link to="/operator/join-tokens">Add a host</Link>}>
      <p class="muted">Compute hosts run instances. A disabled host takes no new instances; draining one also moves its stopped EBS-backed instances to other hosts (running ones once they are stopped; there is no live migration). Refreshes every 10 s.</p>
      <ErrorBanner error={hosts.error} />
      {list && list.length > 0 && (
        <div class="card totals" aria-label="All hosts">
          <CapacityBar label="vCPU in use, all hosts" used={sum(list, (h) => h.vcpus_used)} total={sum(list, (h) => h.vcpus)} />
          <CapacityBar label="Memory in use, all hosts" used={sum(list, (h) => h.memory_mib_used)} total={sum(list, (h) => h.memory_mib)} format={mib} />
        </div>
      )}
      <Table<Host>
        label="Hosts"
        rows={list}
        loading={hosts.error && !list ? false : undefined}
        rowKey={(h) => h.host_id}
        text={(h) => [h.name, h.host_id, h.zone, h.address, h.state, h.reachable ? "reachable" : "unreachable", ...h.kinds]}
        empty={
          <>
            No hosts have joined yet. Create a join token on the <Link to="/operator/join-tokens">Join tokens</Link> page and start <code>kumo agent</code> on a host.
          </>
        }
        columns={[
          {
            header: "Host",
            cell: (h) => (
              <>
                <strong>{h.name}</strong>
                <div class="muted small">
                  <code>{h.host_id}</code>
                </div>
                <div class="muted small">
                  {h.zone}
                  {h.address && ` · ${h.address}`}
                </div>
              </>
            ),
          },
          {
            header: "State",
            cell: (h) => (
              <>
                <StateBadge state={h.state} /> <Health ok={h.reachable} yes="reachable" no="unreachable" />
              </>
            ),
          },
          {
            header: "Last heartbeat",
            cell: (h) => <span title={formatTime(h.last_heartbeat_at)}>{formatAgo(h.last_heartbeat_at)}</span>,
          },
          {
            header: "Capacity",
            cell: (h) => (
              <div class="capacity-cell">
                <CapacityBar label={`vCPU of ${h.name}`} used={h.vcpus_used} total={h.vcpus} />
                <CapacityBar label={`Memory of ${h.name}`} used={h.memory_mib_used} total={h.memory_mib} format={mib} />
                <div class="muted small">Disk {h.disk_gib} GiB</div>
              </div>
            ),
          },
          { header: "Instances", cell: (h) => h.instances },
          { header: "Kinds", cell: (h) => h.kinds.join(", ") || "—" },
          {
            header: "Actions",
            cell: (h) => (
              <>
                {h.state !== "enabled" && (
                  <ActionButton run={() => act(h, "enable")} done={hosts.reload} label={`Enable ${h.name}`}>
                    Enable
                  </ActionButton>
                )}
                {h.state !== "disabled" && (
                  <ActionButton run={() => act(h, "disable")} done={hosts.reload} confirm={`Disable host ${h.name}? It takes no new instances; the ones on it keep running.`} label={`Disable ${h.name}`}>
                    Disable
                  </ActionButton>
                )}
                {h.state !== "draining" && (
                  <ActionButton
                    danger
                    run={() => act(h, "drain")}
                    done={hosts.reload}
                    confirm={`Drain host ${h.name}? It takes no new instances, and its stopped EBS-backed instances move to other hosts.`}
                    label={`Drain ${h.name}`}
                  >
                    Drain
                  </ActionButton>
                )}
              </>
            ),
          },
        ]}
      />
    </Page>
  );
}

function sum<T>(rows: T[], value: (row: T) => number): number {
  return rows.reduce((total, row) => total + value(row), 0);
}
