// EBS snapshots: list (progress while pending), create from a volume, copy, delete, and
// restore into a new volume.
import { useState } from "preact/hooks";
import { api, seg } from "../lib/api";
import type { Schemas } from "../api/types";
import { useLoad } from "../lib/poll";
import { canWrite, useSession } from "../lib/session";
import { formatBytes, formatTime } from "../lib/format";
import { Page } from "../components/Page";
import { Table } from "../components/Table";
import { ErrorBanner } from "../components/ErrorBanner";
import { ActionButton, ApiForm } from "../components/Action";
import { SelectField, TextField } from "../components/Field";
import { StateBadge } from "../components/StateBadge";
import { Link } from "../components/Link";
import { Actions, fail, Id, lists, tagText, TagsCell } from "./network/shared";

type Snapshot = Schemas["Snapshot"];

export function Snapshots(_props: { params: Record<string, string> }) {
  const session = useSession();
  const writer = canWrite(session.role);
  const [fast, setFast] = useState(false);
  const snapshots = useLoad(
    async () => {
      const found = await lists.snapshots();
      setFast(found.some((s) => s.state === "pending"));
      return found;
    },
    [],
    fast ? 2000 : 15000,
  );
  const [creating, setCreating] = useState(false);
  const [copying, setCopying] = useState<Snapshot | undefined>(undefined);
  const reload = snapshots.reload;
  return (
    <Page
      title="Snapshots"
      actions={
        writer && (
          <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            Create snapshot
          </button>
        )
      }
    >
      {writer && creating && (
        <CreateSnapshot
          onCancel={() => setCreating(false)}
          done={() => {
            setCreating(false);
            reload();
          }}
        />
      )}
      {writer && copying && (
        <CopySnapshot
          key={copying.snapshot_id}
          source={copying}
          onCancel={() => setCopying(undefined)}
          done={() => {
            setCopying(undefined);
            reload();
          }}
        />
      )}
      <ErrorBanner error={snapshots.error} />
      <Table<Snapshot>
        label="Snapshots"
        rows={snapshots.data}
        loading={snapshots.loading}
        rowKey={(s) => s.snapshot_id}
        text={(s) => [s.snapshot_id, s.volume_id, s.state, s.description, s.source_snapshot_id, tagText(s.tags)]}
        empty={<p>No snapshots yet.{writer ? " Create one from a volume: a point-in-time copy you can restore into new volumes." : ""}</p>}
        columns={[
          { header: "Snapshot", cell: (s) => <Id id={s.snapshot_id} /> },
          {
            header: "Description",
            cell: (s) => (
              <span>
                {s.description || <span class="muted">—</span>}
                {s.source_snapshot_id && (
                  <span class="small muted" style={{ display: "block" }}>
                    Copy of <Id id={s.source_snapshot_id} small />
                  </span>
                )}
              </span>
            ),
          },
          { header: "State", cell: (s) => <SnapshotState snapshot={s} /> },
          {
            header: "Volume",
            cell: (s) => (
              <span>
                {s.source_snapshot_id ? <span class="muted">—</span> : <Id id={s.volume_id} small />}
                <span class="small muted" style={{ display: "block" }}>
                  {s.volume_size_gib} GiB
                </span>
              </span>
            ),
          },
          { header: "Stored", cell: (s) => formatBytes(s.stored_bytes) },
          { header: "Started", cell: (s) => formatTime(s.started_at) },
          { header: "Tags", cell: (s) => <TagsCell tags={s.tags} /> },
          ...(writer
            ? [
                {
                  header: "Actions",
                  cell: (s: Snapshot) => (
                    <Actions>
                      {s.state === "completed" && (
                        <>
                          <Link to={`/volumes?snapshot=${encodeURIComponent(s.snapshot_id)}`}>Restore to volume</Link>{" "}
                          <button type="button" aria-label={`Copy ${s.snapshot_id}`} onClick={() => setCopying(s)}>
                            Copy
                          </button>
                        </>
                      )}
                      <ActionButton
                        danger
                        label={`Delete ${s.snapshot_id}`}
                        confirm={`Delete snapshot ${s.snapshot_id}? Volumes made from it keep their data.`}
                        run={() => api.del(`/v1/snapshots/${seg(s.snapshot_id)}`)}
                        done={reload}
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

function SnapshotState({ snapshot: s }: { snapshot: Snapshot }) {
  if (s.state !== "pending") {
    return (
      <span>
        <StateBadge state={s.state} />
        {s.status_message && <span class="small muted"> {s.status_message}</span>}
      </span>
    );
  }
  return (
    <span>
      <StateBadge state={s.state} />{" "}
      <progress max={100} value={s.progress} aria-label={`${s.snapshot_id} progress`} /> {s.progress}%
    </span>
  );
}

function CreateSnapshot({ done, onCancel }: { done: () => void; onCancel: () => void }) {
  const volumes = useLoad(lists.volumes, []);
  const usable = (volumes.data ?? []).filter((v) => v.state === "available" || v.state === "in-use");
  const [volumeId, setVolumeId] = useState("");
  const [description, setDescription] = useState("");
  const chosen = volumeId || usable[0]?.volume_id || "";
  return (
    <ApiForm
      label="Create snapshot"
      submit="Create snapshot"
      onCancel={onCancel}
      done={done}
      run={() => {
        if (!chosen) fail("You have no available or in-use volume to snapshot.");
        const body: Schemas["CreateSnapshotRequest"] = { volume_id: chosen, description: description.trim() };
        return api.post<Snapshot>("/v1/snapshots", body);
      }}
    >
      <ErrorBanner error={volumes.error} />
      <SelectField
        label="Volume"
        name="snapshot_volume"
        value={chosen}
        onChange={setVolumeId}
        options={
          usable.length
            ? usable.map((v) => ({ value: v.volume_id, label: `${v.volume_id} (${v.size_gib} GiB, ${v.state}${v.tags["Name"] ? `, ${v.tags["Name"]}` : ""})` }))
            : [{ value: "", label: volumes.loading ? "Loading volumes…" : "No volumes to snapshot" }]
        }
      />
      <TextField label="Description" name="snapshot_description" value={description} onInput={setDescription} />
    </ApiForm>
  );
}

function CopySnapshot({ source, done, onCancel }: { source: Snapshot; done: () => void; onCancel: () => void }) {
  const [description, setDescription] = useState(`Copy of ${source.snapshot_id}${source.description ? `: ${source.description}` : ""}`);
  return (
    <ApiForm
      label={`Copy ${source.snapshot_id}`}
      submit="Copy snapshot"
      onCancel={onCancel}
      done={done}
      run={() =>
        api.post<Snapshot>(`/v1/snapshots/${seg(source.snapshot_id)}/copy`, { description: description.trim(), tags: source.tags } satisfies Schemas["CopySnapshotRequest"])
      }
    >
      <h2>
        Copy <code>{source.snapshot_id}</code>
      </h2>
      <p class="muted">The copy shares the source's stored chunks.</p>
      <TextField label="Copy description" name="copy_description" value={description} onInput={setDescription} />
    </ApiForm>
  );
}
