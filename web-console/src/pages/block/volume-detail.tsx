// One volume: its attributes, replicas in sync, attachment and snapshots; attach, detach,
// snapshot and delete. Polls quickly while its state is changing.
import { useState } from "preact/hooks";
import { api, seg, withQuery } from "../../lib/api";
import type { Schemas } from "../../api/types";
import { useLoad } from "../../lib/poll";
import { canWrite, useSession } from "../../lib/session";
import { navigate } from "../../lib/router";
import { formatBytes, formatTime, isTransient } from "../../lib/format";
import { Details, Loading, Page } from "../../components/Page";
import { Table } from "../../components/Table";
import { ErrorBanner } from "../../components/ErrorBanner";
import { StateBadge } from "../../components/StateBadge";
import { Link } from "../../components/Link";
import { Id, NotFoundPage, TagsCell } from "../network/shared";
import { Attach, AttachmentCell, CreateSnapshot, VolumeActions, type Volume } from "../volumes";

type Snapshot = Schemas["Snapshot"];

export function VolumeDetail({ params }: { params: Record<string, string> }) {
  const id = params["id"] ?? "";
  const writer = canWrite(useSession().role);
  const [fast, setFast] = useState(false);
  const volume = useLoad(
    async () => {
      const found = (await api.get<Schemas["Volume"]>(`/v1/volumes/${seg(id)}`)) as unknown as Volume;
      setFast(isTransient(found.state) || isTransient(found.attachment?.state));
      return found;
    },
    [id],
    fast ? 2000 : 10000,
  );
  const snapshots = useLoad(async () => (await api.get<Schemas["SnapshotPage"]>(withQuery("/v1/snapshots", { volume_id: id, max_results: 1000 }))).snapshots, [id], 15000);
  const [form, setForm] = useState<"attach" | "snapshot" | undefined>(undefined);
  if (volume.error?.status === 404) return <NotFoundPage what="Volume" id={id} back="/volumes" backLabel="All volumes" error={volume.error} />;
  const v = volume.data;
  const close = () => {
    setForm(undefined);
    volume.reload();
    snapshots.reload();
  };
  return (
    <Page title={v?.tags["Name"] ? `Volume ${v.tags["Name"]} (${id})` : `Volume ${id}`}>
      <p>
        <Link to="/volumes">← All volumes</Link>
      </p>
      <ErrorBanner error={volume.error} />
      {!v ? (
        !volume.error && <Loading what="Loading the volume" />
      ) : (
        <>
          {writer && (
            <div class="card">
              <VolumeActions volume={v} reload={volume.reload} attach={() => setForm("attach")} snapshot={() => setForm("snapshot")} deleted={() => navigate("/volumes")} />
            </div>
          )}
          {writer && form === "attach" && <Attach volume={v} onCancel={() => setForm(undefined)} done={close} />}
          {writer && form === "snapshot" && <CreateSnapshot volume={v} onCancel={() => setForm(undefined)} done={close} />}
          <Details
            rows={[
              ["Volume id", <Id id={v.volume_id} />],
              ["State", <StateBadge state={v.state} />],
              ["Size", `${v.size_gib} GiB`],
              ["Type", v.volume_type],
              ["IOPS", v.iops ?? "—"],
              ["Throughput", v.throughput ? `${v.throughput} MiB/s` : "—"],
              ["Zone", v.zone],
              ["Encrypted", v.encrypted ? "Yes" : "No"],
              ["Replicas in sync", v.replicas === null || v.replicas === undefined ? "—" : `${v.replicas_in_sync ?? 0} of ${v.replicas}`],
              ["Attachment", <AttachmentCell attachment={v.attachment} />],
              ["Delete on termination", v.attachment ? (v.attachment.delete_on_termination ? "Yes" : "No") : "—"],
              ["From snapshot", v.snapshot_id ? <Id id={v.snapshot_id} /> : "—"],
              ["Created", formatTime(v.created_at)],
              ["Tags", <TagsCell tags={v.tags} />],
            ]}
          />
        </>
      )}
      <section class="card" aria-label="Snapshots of the volume">
        <h2>Snapshots</h2>
        <ErrorBanner error={snapshots.error} />
        <Table<Snapshot>
          label="Snapshots of the volume"
          rows={snapshots.data}
          loading={snapshots.loading}
          rowKey={(s) => s.snapshot_id}
          text={(s) => [s.snapshot_id, s.state, s.description]}
          empty={<p>No snapshots of this volume.</p>}
          columns={[
            { header: "Snapshot", cell: (s) => <Id id={s.snapshot_id} /> },
            { header: "Description", cell: (s) => s.description || <span class="muted">—</span> },
            { header: "State", cell: (s) => (s.state === "pending" ? `pending, ${s.progress}%` : <StateBadge state={s.state} />) },
            { header: "Stored", cell: (s) => formatBytes(s.stored_bytes) },
            { header: "Started", cell: (s) => formatTime(s.started_at) },
          ]}
        />
      </section>
    </Page>
  );
}
