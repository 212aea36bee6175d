// The instance types on offer (read-only: operators define them).
import type { Schemas } from "../api/types";
import { ErrorBanner } from "../components/ErrorBanner";
import { Page } from "../components/Page";
import { Table } from "../components/Table";
import { api } from "../lib/api";
import { formatMemoryMib } from "../lib/instances";
import { useLoad } from "../lib/poll";

type InstanceType = Schemas["InstanceType"];

export function InstanceTypes(_props: { params: Record<string, string> }) {
  const list = useLoad(() => api.get<InstanceType[]>("/v1/instance-types"), []);
  const rows = list.data && [...list.data].sort((a, b) => a.vcpus - b.vcpus || a.memory_mib - b.memory_mib || a.name.localeCompare(b.name));
  return (
    <Page title="Instance types">
      <p class="muted">The sizes an instance can be launched with: its virtual CPUs and memory.</p>
      <ErrorBanner error={list.error} />
      <Table<InstanceType>
        label="Instance types"
        rows={rows}
        loading={list.error ? false : undefined}
        rowKey={(t) => t.name}
        text={(t) => [t.name, `${t.vcpus} vcpu`, formatMemoryMib(t.memory_mib)]}
        empty={<p>No instance types are defined.</p>}
        columns={[
          { header: "Name", cell: (t) => <strong>{t.name}</strong> },
          { header: "vCPUs", cell: (t) => t.vcpus },
          { header: "Memory", cell: (t) => formatMemoryMib(t.memory_mib) },
        ]}
      />
    </Page>
  );
}
