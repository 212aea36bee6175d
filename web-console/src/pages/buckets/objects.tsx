// One bucket: its objects folder by folder ("/" delimits), paged; upload, download, delete;
// versioning and the object versions under the folder.
import { useState } from "preact/hooks";
import { ActionButton } from "../../components/Action";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Link } from "../../components/Link";
import { Loading, Page } from "../../components/Page";
import { Table } from "../../components/Table";
import type { Schemas } from "../../api/types";
import { api, ApiError, seg, withQuery } from "../../lib/api";
import { formatBytes, formatTime } from "../../lib/format";
import { useLoad } from "../../lib/poll";
import { useRoute } from "../../lib/router";
import { baseName, breadcrumbs, DELIMITER, keyPath, nameIn } from "../../lib/s3";
import { canWrite, useSession } from "../../lib/session";
import { downloadUrl, startDownload } from "../../lib/upload";
import { UploadPanel } from "./upload-panel";
import { ObjectVersions, VersioningControl } from "./versions";

type ObjectPage = Schemas["ObjectPage"];
type ObjectSummary = Schemas["ObjectSummary"];
type Row = { kind: "folder"; prefix: string } | { kind: "object"; object: ObjectSummary };

const PAGE_SIZE = 100;

/** The console path of a folder of a bucket. */
export function folderPath(bucket: string, prefix: string): string {
  return prefix ? `/buckets/${seg(bucket)}?prefix=${encodeURIComponent(prefix)}` : `/buckets/${seg(bucket)}`;
}

export function BucketObjects({ params }: { params: Record<string, string> }) {
  const bucket = params.bucket ?? "";
  const session = useSession();
  const writable = canWrite(session.role);
  const { query } = useRoute();
  const prefix = query.get("prefix") ?? "";
  // Where each page of this folder we went through started (`after`), the last being the
  // page shown; another folder starts on its first page.
  const folder = `${bucket}/${prefix}`;
  const [paging, setPaging] = useState<{ folder: string; starts: (string | undefined)[] }>({ folder, starts: [undefined] });
  const starts = paging.folder === folder ? paging.starts : [undefined];
  const setStarts = (next: (string | undefined)[]) => setPaging({ folder, starts: next });
  const [showVersions, setShowVersions] = useState(false);
  const after = starts[starts.length - 1];
  const listing = useLoad(
    () =>
      api.get<ObjectPage>(
        withQuery(`/v1/buckets/${seg(bucket)}/objects`, { prefix, delimiter: DELIMITER, max_keys: PAGE_SIZE, after }),
      ),
    [bucket, prefix, after],
  );

  if (listing.data === undefined && (listing.error?.status === 404 || listing.error?.status === 403)) {
    // Not the API's words, nor the name: another account's bucket (403, as S3 answers) must
    // not be told apart from none at all.
    const error = new ApiError(
      listing.error.status,
      listing.error.code,
      "There is no bucket of that name in this account, or you are not allowed to read it.",
      listing.error.requestId,
    );
    return (
      <Page title="Bucket not found">
        <ErrorBanner error={error} />
        <Link to="/buckets">Back to buckets</Link>
      </Page>
    );
  }

  const rows: Row[] | undefined = listing.data && [
    ...listing.data.common_prefixes.map((p): Row => ({ kind: "folder", prefix: p })),
    ...listing.data.objects.map((o): Row => ({ kind: "object", object: o })),
  ];
  const nameOf = (row: Row) => nameIn(prefix, row.kind === "folder" ? row.prefix : row.object.key);

  return (
    <Page title={`Bucket ${bucket}`}>
      <nav class="crumbs" aria-label="Folder">
        <Link to="/buckets">Buckets</Link>
        <span aria-hidden="true"> / </span>
        {prefix ? <Link to={folderPath(bucket, "")}>{bucket}</Link> : <span aria-current="page">{bucket}</span>}
        {breadcrumbs(prefix).map((crumb) => (
          <span key={crumb.prefix}>
            <span aria-hidden="true"> / </span>
            {crumb.prefix === prefix ? <span aria-current="page">{crumb.label}</span> : <Link to={folderPath(bucket, crumb.prefix)}>{crumb.label}</Link>}
          </span>
        ))}
      </nav>
      {listing.data === undefined ? (
        listing.error ? <ErrorBanner error={listing.error} /> : <Loading what="Loading objects" />
      ) : (
        <>
          {writable && <UploadPanel bucket={bucket} prefix={prefix} onUploaded={listing.reload} />}
          <ErrorBanner error={listing.error} />
          <Table
            label="Objects"
            rows={rows}
            loading={listing.loading}
            rowKey={(row) => (row.kind === "folder" ? `folder:${row.prefix}` : `object:${row.object.key}`)}
            text={(row) => [nameOf(row)]}
            empty={<p>{prefix ? "Nothing in this folder." : "No objects in this bucket yet."}</p>}
            columns={[
              {
                header: "Name",
                cell: (row) =>
                  row.kind === "folder" ? (
                    <Link to={folderPath(bucket, row.prefix)} class="folder">
                      {nameOf(row)}
                    </Link>
                  ) : (
                    nameOf(row)
                  ),
              },
              { header: "Size", cell: (row) => (row.kind === "folder" ? "Folder" : formatBytes(row.object.size)) },
              { header: "Last modified", cell: (row) => (row.kind === "folder" ? "" : formatTime(row.object.last_modified)) },
              {
                header: "Actions",
                cell: (row) => row.kind === "object" && <ObjectActions bucket={bucket} object={row.object} name={nameOf(row)} writable={writable} done={listing.reload} />,
              },
            ]}
          />
          <div class="pager">
            {starts.length > 1 && (
              <button type="button" onClick={() => setStarts(starts.slice(0, -1))}>
                Previous page
              </button>
            )}
            {listing.data.next_after && (
              <button type="button" onClick={() => setStarts([...starts, listing.data?.next_after ?? undefined])}>
                Next page
              </button>
            )}
          </div>
          <h2>Versioning</h2>
          <VersioningControl bucket={bucket} writable={writable} />
          <div class="form-actions">
            <button type="button" aria-expanded={showVersions} onClick={() => setShowVersions(!showVersions)}>
              {showVersions ? "Hide object versions" : "Show object versions"}
            </button>
          </div>
          {showVersions && <ObjectVersions bucket={bucket} prefix={prefix} />}
        </>
      )}
    </Page>
  );
}

function ObjectActions({ bucket, object, name, writable, done }: { bucket: string; object: ObjectSummary; name: string; writable: boolean; done: () => void }) {
  return (
    <>
      <ActionButton label={`Download ${name}`} run={async () => startDownload(await downloadUrl(bucket, object.key), baseName(object.key))}>
        Download
      </ActionButton>
      {writable && (
        <ActionButton
          danger
          label={`Delete ${name}`}
          confirm={`Delete ${object.key}?`}
          run={() => api.del(`/v1/buckets/${seg(bucket)}/objects/${keyPath(object.key)}`)}
          done={done}
        >
          Delete
        </ActionButton>
      )}
    </>
  );
}
