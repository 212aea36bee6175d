// Upload files into the folder shown: straight to object storage with presigned URLs, one PUT
// up to 8 MiB, multipart above, with a progress bar over all the chosen files.
import { useRef, useState } from "preact/hooks";
import { ErrorBanner } from "../../components/ErrorBanner";
import { ApiError } from "../../lib/api";
import { formatBytes, percent } from "../../lib/format";
import { uploadFile } from "../../lib/upload";

interface Progress {
  file: string;
  index: number;
  count: number;
  loaded: number;
  total: number;
}

export function UploadPanel({ bucket, prefix, onUploaded }: { bucket: string; prefix: string; onUploaded: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [files, setFiles] = useState<File[]>([]);
  const [progress, setProgress] = useState<Progress | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [finished, setFinished] = useState<string | undefined>(undefined);
  const [error, setError] = useState<ApiError | Error | undefined>(undefined);
  const controller = useRef<AbortController | undefined>(undefined);

  const start = async () => {
    if (files.length === 0) return;
    const abort = new AbortController();
    controller.current = abort;
    setBusy(true);
    setError(undefined);
    setFinished(undefined);
    const total = files.reduce((sum, f) => sum + f.size, 0);
    let before = 0;
    let uploaded = 0;
    try {
      for (const [index, file] of files.entries()) {
        const report = (loaded: number) => setProgress({ file: file.name, index, count: files.length, loaded: before + loaded, total });
        await uploadFile(bucket, prefix + file.name, file, (p) => report(p.loaded), abort.signal);
        report(file.size);
        before += file.size;
        uploaded++;
      }
      setFinished(uploaded === 1 ? `Uploaded ${files[0]?.name}.` : `Uploaded ${uploaded} files.`);
      setFiles([]);
      if (input.current) input.current.value = "";
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      controller.current = undefined;
      setBusy(false);
      if (uploaded > 0) onUploaded();
    }
  };

  const pct = progress ? (progress.total > 0 ? percent(progress.loaded, progress.total) : 100) : 0;
  return (
    <div class="card upload">
      <div class="field">
        <label for="upload-files">Files to upload</label>
        <input
          ref={input}
          id="upload-files"
          type="file"
          multiple
          disabled={busy}
          aria-describedby="upload-files-hint"
          onChange={(e) => setFiles(Array.from((e.currentTarget as HTMLInputElement).files ?? []))}
        />
        <p class="hint" id="upload-files-hint">
          Into {prefix ? <code>{prefix}</code> : "the top of the bucket"}. Sent straight to object storage; files over 8 MiB go in 8 MiB parts.
        </p>
      </div>
      <div class="form-actions">
        <button type="button" class="primary" disabled={busy || files.length === 0} aria-busy={busy} onClick={start}>
          {busy ? "Uploading…" : "Upload"}
        </button>
        {busy && (
          <button type="button" onClick={() => controller.current?.abort()}>
            Cancel upload
          </button>
        )}
      </div>
      {progress && (
        <div class="upload-progress">
          <progress aria-label="Upload progress" max={Math.max(progress.total, 1)} value={progress.total > 0 ? progress.loaded : 1} />
          <p class="small" aria-live="polite">
            {progress.count > 1 && `File ${progress.index + 1} of ${progress.count}: `}
            {progress.file} — {formatBytes(progress.loaded)} of {formatBytes(progress.total)} ({pct}%)
          </p>
        </div>
      )}
      {finished && (
        <p class="banner success" role="status">
          {finished}
        </p>
      )}
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
    </div>
  );
}
