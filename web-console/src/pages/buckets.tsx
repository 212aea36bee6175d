// Buckets: the account's buckets (create, delete); a bucket's objects are pages/buckets/objects.tsx.
import { useState } from "preact/hooks";
import { ActionButton, ApiForm } from "../components/Action";
import { ErrorBanner } from "../components/ErrorBanner";
import { TextField } from "../components/Field";
import { Link } from "../components/Link";
import { Page } from "../components/Page";
import { Table } from "../components/Table";
import type { Schemas } from "../api/types";
import { api, seg } from "../lib/api";
import { formatTime } from "../lib/format";
import { useLoad } from "../lib/poll";
import { canWrite, useSession } from "../lib/session";

export { BucketObjects } from "./buckets/objects";

type Bucket = Schemas["Bucket"];

/** "Enabled", "Suspended", or "Off" for a bucket whose versioning was never enabled. */
export function versioningLabel(status: string | null | undefined): string {
  return status ? status : "Off";
}

export function Buckets(_props: { params: Record<string, string> }) {
  const session = useSession();
  const writable = canWrite(session.role);
  const buckets = useLoad(() => api.get<Bucket[]>("/v1/buckets"), []);
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState("");
  return (
    <Page
      title="Buckets"
      actions={
        writable && !creating && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Create bucket
          </button>
        )
      }
    >
      {creating && (
        <ApiForm
          label="Create bucket"
          submit="Create bucket"
          run={() => api.post<Bucket>("/v1/buckets", { name: name.trim() })}
          done={() => {
            setCreating(false);
            setName("");
            buckets.reload();
          }}
          onCancel={() => setCreating(false)}
        >
          <TextField
            label="Bucket name"
            name="bucket-name"
            value={name}
            onInput={setName}
            required
            hint="3–63 lowercase letters, digits, dots and hyphens; unique across the cloud."
          />
        </ApiForm>
      )}
      <ErrorBanner error={buckets.error} />
      <Table
        label="Buckets"
        rows={buckets.data}
        loading={buckets.loading}
        rowKey={(b) => b.name}
        text={(b) => [b.name, b.region, versioningLabel(b.versioning)]}
        empty={<p>No buckets yet.{writable && " Create bucket to store objects (S3-compatible)."}</p>}
        columns={[
          { header: "Name", cell: (b) => <Link to={`/buckets/${seg(b.name)}`}>{b.name}</Link> },
          { header: "Region", cell: (b) => b.region },
          { header: "Versioning", cell: (b) => versioningLabel(b.versioning) },
          { header: "Created", cell: (b) => formatTime(b.created_at) },
          ...(writable
            ? [
                {
                  header: "Actions",
                  cell: (b: Bucket) => (
                    <ActionButton
                      danger
                      label={`Delete bucket ${b.name}`}
                      confirm={`Delete bucket ${b.name}? Only an empty bucket can be deleted.`}
                      run={() => api.del(`/v1/buckets/${seg(b.name)}`)}
                      done={buckets.reload}
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
