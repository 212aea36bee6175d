// Operator: storage nodes. Object storage (S3 chunks): used/total, chunk counts, enable,
// disable, remove. Block storage (EBS replicas): drain, undrain.
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
import { REFRESH_MS } from "./hosts";

type StorageNode = Schemas["StorageNode"];
type BlockNode = Schemas["BlockNode"];
type BlockNodeList = Schemas["BlockNodeList"];

export function StorageNodes(_props: { params: Record<string, string> }) {
  return (
    <Page title="Storage nodes" actions={<Link to="/operator/join-tokens">Add a storage node</Link>}>
      <p class="muted">Refreshes every 10 s.</p>
      <ObjectNodes />
      <BlockNodes />
    </Page>
  );
}

function ObjectNodes() {
  const nodes = useLoad(() => api.get<StorageNode[]>("/v1/storage/nodes"), [], REFRESH_MS);
  const act = (node: StorageNode, action: "enable" | "disable") => api.post<StorageNode>(`/v1/storage/nodes/${seg(node.node_id)}/${action}`);
  return (
    <section aria-labelledby="object-nodes-title">
      <h2 id="object-nodes-title">Object storage</h2>
      <p class="muted small">Nodes that hold the chunks of bucket objects. A disabled node takes no new chunks and is drained: its chunks are copied to enabled nodes. A disabled node can be removed once none of its chunks lacks a copy elsewhere.</p>
      <ErrorBanner error={nodes.error} />
      <Table<StorageNode>
        label="Object storage nodes"
        rows={nodes.data}
        loading={nodes.error && !nodes.data ? false : undefined}
        rowKey={(n) => n.node_id}
        text={(n) => [n.name, n.node_id, n.zone, n.address, n.state, n.healthy ? "healthy" : "unhealthy"]}
        empty={
          <>
            No object storage nodes. Create a storage join token on the <Link to="/operator/join-tokens">Join tokens</Link> page and start <code>kumo storage-node</code>.
          </>
        }
        columns={[
          {
            header: "Node",
            cell: (n) => (
              <>
                <strong>{n.name}</strong>
                <div class="muted small">
                  <code>{n.node_id}</code>
                </div>
                <div class="muted small">
                  {n.zone} · {n.address}
                </div>
              </>
            ),
          },
          {
            header: "State",
            cell: (n) => (
              <>
                <StateBadge state={n.state} /> <Health ok={n.healthy} yes="healthy" no="unreachable" />
              </>
            ),
          },
          { header: "Last heartbeat", cell: (n) => <span title={formatTime(n.last_heartbeat_at)}>{formatAgo(n.last_heartbeat_at)}</span> },
          {
            header: "Disk",
            cell: (n) => (
              <div class="capacity-cell">
                <CapacityBar label={`Disk of ${n.name}`} used={n.used_bytes} total={n.capacity_bytes} format={formatBytes} />
              </div>
            ),
          },
          {
            header: "Chunks",
            cell: (n) => (
              <>
                {n.chunks.toLocaleString()}
                <div class="muted small">{n.replicas.toLocaleString()} placed by the catalog</div>
              </>
            ),
          },
          {
            header: "Actions",
            cell: (n) =>
              n.state === "disabled" ? (
                <>
                  <ActionButton run={() => act(n, "enable")} done={nodes.reload} label={`Enable ${n.name}`}>
                    Enable
                  </ActionButton>
                  <ActionButton
                    danger
                    run={() => api.del(`/v1/storage/nodes/${seg(n.node_id)}`)}
                    done={nodes.reload}
                    confirm={`Remove storage node ${n.name} from the cloud? Kumo refuses while any of its chunks has no copy elsewhere.`}
                    label={`Remove ${n.name}`}
                  >
                    Remove
                  </ActionButton>
                </>
              ) : (
                <ActionButton
                  danger
                  run={() => act(n, "disable")}
                  done={nodes.reload}
                  confirm={`Disable storage node ${n.name}? It takes no new chunks, and its chunks are copied to the enabled nodes.`}
                  label={`Disable ${n.name}`}
                >
                  Disable
                </ActionButton>
              ),
          },
        ]}
      />
    </section>
  );
}

function BlockNodes() {
  const nodes = useLoad(() => api.get<BlockNodeList>("/v1/block/nodes"), [], REFRESH_MS);
  const act = (node: BlockNode, action: "drain" | "undrain") => api.post<BlockNode>(`/v1/block/nodes/${seg(node.node_id)}/${action}`);
  return (
    <section aria-labelledby="block-nodes-title">
      <h2 id="block-nodes-title">Block storage</h2>
      <p class="muted small">The same nodes' role for EBS volumes: each holds volume replicas. Draining a node moves its replicas to other nodes and places no new ones on it.</p>
      <ErrorBanner error={nodes.error} />
      <Table<BlockNode>
        label="Block storage nodes"
        rows={nodes.data?.nodes}
        loading={nodes.error && !nodes.data ? false : undefined}
        rowKey={(n) => n.node_id}
        text={(n) => [n.name, n.node_id, n.zone, n.healthy ? "healthy" : "unhealthy", n.draining ? "draining" : ""]}
        empty="No block storage nodes."
        columns={[
          {
            header: "Node",
            cell: (n) => (
              <>
                <strong>{n.name}</strong>
                <div class="muted small">
                  <code>{n.node_id}</code> · {n.zone}
                </div>
              </>
            ),
          },
          {
            header: "State",
            cell: (n) => (
              <>
                <StateBadge state={n.draining ? "draining" : "active"} /> <Health ok={n.healthy} yes="healthy" no="unreachable" />
              </>
            ),
          },
          { header: "Replicas", cell: (n) => n.replicas.toLocaleString() },
          {
            header: "Space",
            cell: (n) => (
              <>
                {formatBytes(n.allocated_bytes)} allocated
                <div class="muted small">{formatBytes(n.free_bytes)} free on disk</div>
              </>
            ),
          },
          {
            header: "Actions",
            cell: (n) =>
              n.draining ? (
                <ActionButton run={() => act(n, "undrain")} done={nodes.reload} label={`Undrain ${n.name}`}>
                  Undrain
                </ActionButton>
              ) : (
                <ActionButton
                  danger
                  run={() => act(n, "drain")}
                  done={nodes.reload}
                  confirm={`Drain block node ${n.name}? Its ${n.replicas} volume replica(s) move to other nodes and it takes no new ones.`}
                  label={`Drain ${n.name}`}
                >
                  Drain
                </ActionButton>
              ),
          },
        ]}
      />
    </section>
  );
}
