// A bucket's versioning (on, suspended, never on) and the versions of the objects under a
// folder, both through presigned S3 requests (the native API has neither).
import { useState } from "preact/hooks";
import { ActionButton } from "../../components/Action";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading } from "../../components/Page";
import { Table } from "../../components/Table";
import { formatBytes, formatTime } from "../../lib/format";
import { useLoad } from "../../lib/poll";
import { baseName, nameIn, type ObjectVersion, type VersionsPage } from "../../lib/s3";
import { downloadUrl, getVersioning, listVersions, setVersioning, startDownload } from "../../lib/upload";

export function VersioningControl({ bucket, writable }: { bucket: string; writable: boolean }) {
  const status = useLoad(() => getVersioning(bucket), [bucket]);
  if (status.data === undefined) return status.error ? <ErrorBanner error={status.error} /> : <Loading what="Reading versioning" />;
  const enabled = status.data === "Enabled";
  return (
    <div class="versioning">
      <p>
        Versioning is <strong>{enabled ? "on" : status.data === "Suspended" ? "suspended" : "off"}</strong>.{" "}
        <span class="muted small">
          {enabled
            ? "Every upload keeps the object's earlier versions; a delete leaves a delete marker."
            : "An upload replaces the object; turn versioning on to keep earlier versions."}
        </span>
      </p>
      {writable && (
        <ActionButton run={() => setVersioning(bucket, !enabled)} done={status.reload}>
          {enabled ? "Suspend versioning" : "Enable versioning"}
        </ActionButton>
      )}
    </div>
  );
}

interface Marker {
  keyMarker: string;
  versionIdMarker?: string;
}

function nextMarker(page: VersionsPage): Marker | undefined {
  return page.truncated && page.nextKeyMarker ? { keyMarker: page.nextKeyMarker, versionIdMarker: page.nextVersionIdMarker } : undefined;
}

export function ObjectVersions({ bucket, prefix }: { bucket: string; prefix: string }) {
  // Pages already read, then "More versions" reads the next one.
  const [more, setMore] = useState<{ versions: ObjectVersion[]; next?: Marker }>({ versions: [] });
  const first = useLoad(async () => {
    const page = await listVersions(bucket, prefix);
    setMore({ versions: [], next: nextMarker(page) });
    return page.versions;
  }, [bucket, prefix]);
  const loadMore = async () => {
    if (!more.next) return;
    const page = await listVersions(bucket, prefix, more.next);
    setMore({ versions: [...more.versions, ...page.versions], next: nextMarker(page) });
  };
  const rows = first.data && [...first.data, ...more.versions];
  return (
    <section aria-label="Object versions">
      <h2>Object versions {prefix && <span class="muted small">under {prefix}</span>}</h2>
      <ErrorBanner error={first.error} />
      <Table
        label="Object versions"
        rows={rows}
        loading={first.loading}
        rowKey={(v) => `${v.key}\u0000${v.versionId}`}
        text={(v) => [v.key, v.versionId, v.deleteMarker ? "delete marker" : ""]}
        empty={<p>No versions under this folder.</p>}
        columns={[
          { header: "Name", cell: (v) => nameIn(prefix, v.key) },
          { header: "Version id", cell: (v) => <code>{v.versionId}</code> },
          { header: "Latest", cell: (v) => (v.isLatest ? "Latest" : "") },
          { header: "Size", cell: (v) => (v.deleteMarker ? "Delete marker" : formatBytes(v.size)) },
          { header: "Last modified", cell: (v) => formatTime(v.lastModified) },
          {
            header: "Actions",
            cell: (v) =>
              !v.deleteMarker && (
                <ActionButton label={`Download version ${v.versionId} of ${nameIn(prefix, v.key)}`} run={async () => startDownload(await downloadUrl(bucket, v.key, v.versionId), baseName(v.key))}>
                  Download
                </ActionButton>
              ),
          },
        ]}
      />
      {more.next && (
        <div class="form-actions">
          <ActionButton run={loadMore}>More versions</ActionButton>
        </div>
      )}
    </section>
  );
}
