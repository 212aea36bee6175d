// EBS volumes: list, create (size, type, zone, optionally from a snapshot), attach to an
// instance at a device name, detach, snapshot, delete. States change live.
import { useState } from "preact/hooks";
import { api, seg } from "../lib/api";
import type { Schemas } from "../api/types";
import { useLoad } from "../lib/poll";
import { canWrite, useSession } from "../lib/session";
import { navigate, useRoute } from "../lib/router";
import { formatTime, isTransient } from "../lib/format";
import { nameTags, suggestDevice } from "../lib/network";
import { Page } from "../components/Page";
import { Table } from "../components/Table";
import { ErrorBanner } from "../components/ErrorBanner";
import { ActionButton, ApiForm } from "../components/Action";
import { SelectField, TextField } from "../components/Field";
import { StateBadge } from "../components/StateBadge";
import { Link } from "../components/Link";
import { Actions, DEFAULT_ZONE, fail, Id, knownZones, liveInstances, lists, Row, SuggestField, tagText, TagsCell } from "./network/shared";

export type VolumeAttachment = Schemas["VolumeAttachment"];

export type Volume = Schemas["Volume"];

export const VOLUME_TYPES = ["gp3", "gp2", "io1", "io2", "st1", "sc1", "standard"];

const listVolumes = async () => (await lists.volumes()) as unknown as Volume[];

function busy(v: Volume): boolean {
  return isTransient(v.state) || isTransient(v.attachment?.state);
}

export function Volumes(_props: { params: Record<string, string> }) {
  const session = useSession();
  const writer = canWrite(session.role);
  const { query } = useRoute();
  const [fast, setFast] = useState(false);
  const volumes = useLoad(
    async () => {
      const found = await listVolumes();
      setFast(found.some(busy));
      return found;
    },
    [],
    fast ? 2000 : 10000,
  );
  const [creating, setCreating] = useState(query.has("snapshot"));
  const [attaching, setAttaching] = useState<Volume | undefined>(undefined);
  const [snapshotting, setSnapshotting] = useState<Volume | undefined>(undefined);
  const reload = volumes.reload;
  const closeAnd = (close: () => void) => () => {
    close();
    reload();
  };
  return (
    <Page
      title="Volumes"
      actions={
        writer && (
          <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            Create volume
          </button>
        )
      }
    >
      {writer && creating && (
        <CreateVolume
          snapshotId={query.get("snapshot") ?? ""}
          zones={knownZones(undefined, (volumes.data ?? []).map((v) => v.zone))}
          onCancel={() => {
            setCreating(false);
            if (query.has("snapshot")) navigate("/volumes", true);
          }}
          done={closeAnd(() => {
            setCreating(false);
            // A restore arrives with ?snapshot=; done, the plain list is the page again.
            if (query.has("snapshot")) navigate("/volumes", true);
          })}
        />
      )}
      {writer && attaching && <Attach key={attaching.volume_id} volume={attaching} onCancel={() => setAttaching(undefined)} done={closeAnd(() => setAttaching(undefined))} />}
      {writer && snapshotting && (
        <CreateSnapshot
          key={snapshotting.volume_id}
          volume={snapshotting}
          onCancel={() => setSnapshotting(undefined)}
          done={() => navigate("/snapshots")}
        />
      )}
      <ErrorBanner error={volumes.error} />
      <Table<Volume>
        label="Volumes"
        rows={volumes.data}
        loading={volumes.loading}
        rowKey={(v) => v.volume_id}
        text={(v) => [v.volume_id, v.state, v.volume_type, v.zone, v.attachment?.instance_id, v.attachment?.device, v.snapshot_id, tagText(v.tags)]}
        empty={<p>No volumes yet.{writer ? " Create one to attach to an instance as a disk." : ""}</p>}
        columns={[
          {
            header: "Volume",
            cell: (v) => (
              <span>
                <Link to={`/volumes/${encodeURIComponent(v.volume_id)}`}>
                  <Id id={v.volume_id} />
                </Link>
                {v.snapshot_id && (
                  <span class="small muted" style={{ display: "block" }}>
                    From <Id id={v.snapshot_id} small />
                  </span>
                )}
              </span>
            ),
          },
          { header: "State", cell: (v) => <StateBadge state={v.state} /> },
          { header: "Size", cell: (v) => `${v.size_gib} GiB` },
          {
            header: "Type",
            cell: (v) => (
              <span>
                {v.volume_type}
                {(v.iops || v.throughput) && (
                  <span class="small muted" style={{ display: "block" }}>
                    {[v.iops ? `${v.iops} IOPS` : "", v.throughput ? `${v.throughput} MiB/s` : ""].filter(Boolean).join(", ")}
                  </span>
                )}
              </span>
            ),
          },
          { header: "Zone", cell: (v) => <span style={{ whiteSpace: "nowrap" }}>{v.zone}</span> },
          { header: "Attachment", cell: (v) => <AttachmentCell attachment={v.attachment} /> },
          { header: "Created", cell: (v) => formatTime(v.created_at) },
          { header: "Tags", cell: (v) => <TagsCell tags={v.tags} /> },
          ...(writer
            ? [
                {
                  header: "Actions",
                  cell: (v: Volume) => (
                    <VolumeActions
                      volume={v}
                      reload={reload}
                      attach={() => {
                        setSnapshotting(undefined);
                        setAttaching(v);
                      }}
                      snapshot={() => {
                        setAttaching(undefined);
                        setSnapshotting(v);
                      }}
                    />
                  ),
                },
              ]
            : []),
        ]}
      />
    </Page>
  );
}

export function AttachmentCell({ attachment }: { attachment: VolumeAttachment | null | undefined }) {
  if (!attachment) return <span class="muted">Not attached</span>;
  return (
    <span>
      <Link to={`/instances/${encodeURIComponent(attachment.instance_id)}`}>
        <Id id={attachment.instance_id} />
      </Link>{" "}
      at <Id id={attachment.device} /> {attachment.state !== "attached" && <StateBadge state={attachment.state} />}
    </span>
  );
}

export function VolumeActions(props: { volume: Volume; reload: () => void; attach: () => void; snapshot: () => void; deleted?: () => void }) {
  const { volume: v, reload, attach, snapshot } = props;
  const gone = v.state === "deleting" || v.state === "deleted";
  return (
    <Actions>
      {v.attachment ? (
        <ActionButton
          label={`Detach ${v.volume_id}`}
          disabled={v.attachment.state === "detaching"}
          confirm={`Detach ${v.volume_id} from ${v.attachment.instance_id}? Unmount it in the guest first.`}
          run={() => api.del(`/v1/volumes/${seg(v.volume_id)}/attachment`)}
          done={reload}
        >
          Detach
        </ActionButton>
      ) : (
        <button type="button" aria-label={`Attach ${v.volume_id}`} disabled={v.state !== "available"} onClick={attach}>
          Attach
        </button>
      )}
      <button type="button" aria-label={`Snapshot ${v.volume_id}`} disabled={v.state !== "available" && v.state !== "in-use"} onClick={snapshot}>
        Snapshot
      </button>
      <ActionButton
        danger
        label={`Delete ${v.volume_id}`}
        disabled={gone || !!v.attachment}
        confirm={`Delete volume ${v.volume_id} and all its data?`}
        run={() => api.del(`/v1/volumes/${seg(v.volume_id)}`)}
        done={props.deleted ?? reload}
      >
        Delete
      </ActionButton>
    </Actions>
  );
}

function CreateVolume(props: { snapshotId: string; zones: string[]; done: () => void; onCancel: () => void }) {
  const snapshots = useLoad(lists.snapshots, []);
  const [size, setSize] = useState(props.snapshotId ? "" : "8");
  const [type, setType] = useState("gp3");
  const [zone, setZone] = useState(props.zones[0] ?? DEFAULT_ZONE);
  const [snapshotId, setSnapshotId] = useState(props.snapshotId);
  const [name, setName] = useState("");
  const completed = (snapshots.data ?? []).filter((s) => s.state === "completed");
  const chosen = completed.find((s) => s.snapshot_id === snapshotId);
  return (
    <ApiForm
      label="Create volume"
      submit="Create volume"
      onCancel={props.onCancel}
      done={props.done}
      run={() => {
        const sizeText = size.trim();
        const gib = sizeText === "" ? null : Number(sizeText);
        if (gib === null && !snapshotId) fail("Give the volume's size in GiB.");
        if (gib !== null && (!Number.isInteger(gib) || gib < 1)) fail(`“${size}” is not a size in whole GiB.`);
        if (!zone.trim()) fail("Give the volume's availability zone (the zone of the instance it will attach to).");
        const body: Schemas["CreateVolumeRequest"] = {
          zone: zone.trim(),
          size_gib: gib,
          volume_type: type,
          snapshot_id: snapshotId || null,
          tags: nameTags(name),
        };
        return api.post<Volume>("/v1/volumes", body);
      }}
    >
      <ErrorBanner error={snapshots.error} />
      <Row>
        <TextField
          label="Size (GiB)"
          name="volume_size"
          type="number"
          value={size}
          onInput={setSize}
          hint={chosen ? `Empty: the snapshot's ${chosen.volume_size_gib} GiB.` : "Whole GiB."}
        />
        <SelectField label="Volume type" name="volume_type" value={type} onChange={setType} options={VOLUME_TYPES.map((t) => ({ value: t, label: t }))} />
        <SuggestField label="Availability zone" name="volume_zone" value={zone} onInput={setZone} suggestions={props.zones} required hint="The zone of the instances it may attach to." />
      </Row>
      <SelectField
        label="From snapshot (optional)"
        name="volume_snapshot"
        value={snapshotId}
        onChange={setSnapshotId}
        options={[
          { value: "", label: "None: an empty volume" },
          ...completed.map((s) => ({ value: s.snapshot_id, label: `${s.snapshot_id} (${s.volume_size_gib} GiB${s.description ? `, ${s.description}` : ""})` })),
        ]}
      />
      <TextField label="Name (optional)" name="volume_name" value={name} onInput={setName} hint="Kept as the Name tag." />
    </ApiForm>
  );
}

export function Attach({ volume, done, onCancel }: { volume: Volume; done: () => void; onCancel: () => void }) {
  const instances = useLoad(lists.instances, []);
  const inZone = liveInstances(instances.data).filter((i) => i.availability_zone === volume.zone);
  const [instanceId, setInstanceId] = useState("");
  const chosenId = instanceId || inZone[0]?.instance_id || "";
  const chosen = inZone.find((i) => i.instance_id === chosenId);
  const suggested = suggestDevice([...(chosen?.block_devices ?? []).map((b) => b.device_name), chosen?.root_device_name ?? "/dev/xvda"]);
  const [device, setDevice] = useState("");
  return (
    <ApiForm
      label={`Attach ${volume.volume_id}`}
      submit="Attach volume"
      onCancel={onCancel}
      done={done}
      run={() => {
        if (!chosenId) fail(`You have no instance in ${volume.zone} to attach the volume to.`);
        const body: Schemas["AttachVolumeRequest"] = { instance_id: chosenId, device: device.trim() || suggested };
        return api.post(`/v1/volumes/${seg(volume.volume_id)}/attachment`, body);
      }}
    >
      <h2>
        Attach <code>{volume.volume_id}</code>
      </h2>
      <ErrorBanner error={instances.error} />
      <SelectField
        label="Instance"
        name="attach_instance"
        value={chosenId}
        onChange={setInstanceId}
        hint={`Instances in ${volume.zone}, the volume's zone.`}
        options={
          inZone.length
            ? inZone.map((i) => ({ value: i.instance_id, label: `${i.instance_id} (${i.kind}, ${i.state}${i.tags["Name"] ? `, ${i.tags["Name"]}` : ""})` }))
            : [{ value: "", label: instances.loading ? "Loading instances…" : `No instances in ${volume.zone}` }]
        }
      />
      <TextField label="Device name" name="attach_device" value={device} onInput={setDevice} placeholder={suggested} hint={`Empty: ${suggested}. /dev/sd[b-z], /dev/xvd[b-z] or /dev/vd[b-z].`} />
    </ApiForm>
  );
}

export function CreateSnapshot({ volume, done, onCancel }: { volume: Volume; done: () => void; onCancel: () => void }) {
  const [description, setDescription] = useState("");
  return (
    <ApiForm
      label={`Snapshot ${volume.volume_id}`}
      submit="Create snapshot"
      onCancel={onCancel}
      done={done}
      run={() => api.post<Schemas["Snapshot"]>("/v1/snapshots", { volume_id: volume.volume_id, description: description.trim() } satisfies Schemas["CreateSnapshotRequest"])}
    >
      <h2>
        Snapshot <code>{volume.volume_id}</code>
      </h2>
      <TextField label="Snapshot description" name="volume_snapshot_description" value={description} onInput={setDescription} />
    </ApiForm>
  );
}
