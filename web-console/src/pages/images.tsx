// Images: the account's and the public ones; register one from an S3 object; deregister
// the account's own. `?image=<id>` shows one image's details above the list.
import { useState } from "preact/hooks";
import type { Schemas } from "../api/types";
import { ActionButton, ApiForm } from "../components/Action";
import { ErrorBanner } from "../components/ErrorBanner";
import { Field, TextField } from "../components/Field";
import { Link } from "../components/Link";
import { Details, Page } from "../components/Page";
import { StateBadge } from "../components/StateBadge";
import { Table } from "../components/Table";
import { api } from "../lib/api";
import { formatTime } from "../lib/format";
import { useLoad } from "../lib/poll";
import { navigate, useRoute } from "../lib/router";
import { canWrite, isOperator, useSession, type Session } from "../lib/session";

type Image = Schemas["Image"];

function owner(image: Image, session: Session): string {
  if (image.account_id === session.account_id) return image.is_public ? "yours (public)" : "yours";
  return image.is_public ? "public" : image.account_id;
}

export function Images(_props: { params: Record<string, string> }) {
  const session = useSession();
  const writer = canWrite(session.role);
  const { query } = useRoute();
  const selectedId = query.get("image") ?? "";
  const list = useLoad(() => api.get<Image[]>("/v1/images"), []);
  const [registering, setRegistering] = useState(false);
  const rows = list.data && [...list.data].sort((a, b) => a.name.localeCompare(b.name));
  const selected = selectedId ? list.data?.find((i) => i.image_id === selectedId) : undefined;
  const mine = (image: Image) => image.account_id === session.account_id;

  return (
    <Page
      title="Images"
      actions={
        writer && (
          <button type="button" aria-expanded={registering} onClick={() => setRegistering(!registering)}>
            Register image
          </button>
        )
      }
    >
      {writer && registering && (
        <RegisterForm
          operator={isOperator(session.role)}
          onCancel={() => setRegistering(false)}
          onDone={(image) => {
            setRegistering(false);
            list.reload();
            navigate(`/images?image=${encodeURIComponent(image.image_id)}`);
          }}
        />
      )}
      {selectedId && list.data && !selected && (
        <div class="banner error" role="alert">
          <p>This image was not found: it does not exist, was deregistered, or is not visible to your account.</p>
        </div>
      )}
      {selected && (
        <section class="card" aria-labelledby="h-image">
          <h2 id="h-image">
            {selected.name} <span class="muted">({selected.image_id})</span>
          </h2>
          <Details
            rows={[
              ["State", <StateBadge state={selected.state} />],
              ["Kind", selected.kind === "vm" ? "virtual machine" : selected.kind],
              ["Description", selected.description || "none"],
              ["Owner", owner(selected, session)],
              ["Visibility", selected.is_public ? "public: every account may launch it" : "private to its account"],
              ["Made from instance", selected.source_instance_id ? <Link to={`/instances/${selected.source_instance_id}`}>{selected.source_instance_id}</Link> : "—"],
              ["Registered", formatTime(selected.created_at)],
            ]}
          />
          <div class="form-actions">
            {writer && (
              <Link to="/instances/launch" class="button">
                Launch an instance
              </Link>
            )}
            <Link to="/images" class="button">
              Close
            </Link>
          </div>
        </section>
      )}
      <ErrorBanner error={list.error} />
      <Table<Image>
        label="Images"
        rows={rows}
        loading={list.error ? false : undefined}
        rowKey={(i) => i.image_id}
        text={(i) => [i.name, i.image_id, i.kind, i.state, i.description, owner(i, session)]}
        empty={<p>No images are visible to your account yet.{writer ? " Register one from a .tar or .qcow2 object in a bucket." : ""}</p>}
        columns={[
          { header: "Name", cell: (i) => <strong class="nowrap">{i.name}</strong> },
          { header: "Image", cell: (i) => <Link to={`/images?image=${encodeURIComponent(i.image_id)}`} class="nowrap">{i.image_id}</Link> },
          { header: "Kind", cell: (i) => i.kind },
          { header: "State", cell: (i) => <StateBadge state={i.state} /> },
          { header: "Owner", cell: (i) => owner(i, session) },
          { header: "Description", cell: (i) => <span class="small">{i.description}</span> },
          { header: "Registered", cell: (i) => formatTime(i.created_at) },
          ...(writer
            ? [
                {
                  header: "Actions",
                  cell: (i: Image) =>
                    mine(i) ? (
                      <ActionButton
                        run={() => api.del(`/v1/images/${encodeURIComponent(i.image_id)}`)}
                        done={list.reload}
                        confirm={`Deregister image ${i.name} (${i.image_id})? Running instances keep running; no new ones can be launched from it.`}
                        label={`Delete ${i.name}`}
                        danger
                      >
                        Delete
                      </ActionButton>
                    ) : (
                      ""
                    ),
                },
              ]
            : []),
        ]}
      />
    </Page>
  );
}

function RegisterForm({ operator, onDone, onCancel }: { operator: boolean; onDone: (image: Image) => void; onCancel: () => void }) {
  const [name, setName] = useState("");
  const [location, setLocation] = useState("");
  const [description, setDescription] = useState("");
  const [isPublic, setPublic] = useState(false);
  return (
    <ApiForm
      label="Register image"
      submit="Register image"
      onCancel={onCancel}
      run={async () => {
        const body: Schemas["RegisterImage"] = { name: name.trim(), location: location.trim() };
        if (description.trim()) body.description = description.trim();
        if (operator && isPublic) body.public = true;
        onDone(await api.post<Image>("/v1/images", body));
      }}
    >
      <TextField label="Image name" name="image-name" value={name} onInput={setName} required hint="3–128 characters, unique within the account." />
      <TextField
        label="Location"
        name="image-location"
        value={location}
        onInput={setLocation}
        required
        placeholder="my-bucket/images/rootfs.tar"
        hint="bucket/key of an object you can read: a .tar root file system (container) or a self-contained .qcow2 disk (VM). Kumo copies it."
      />
      <TextField label="Description" name="image-description" value={description} onInput={setDescription} />
      {operator && (
        <Field label="Public (every account may launch it)" id="f-image-public">
          <input id="f-image-public" type="checkbox" checked={isPublic} onChange={(e) => setPublic((e.currentTarget as HTMLInputElement).checked)} />
        </Field>
      )}
    </ApiForm>
  );
}
