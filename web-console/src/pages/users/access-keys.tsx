// A user's access keys: create (the secret shown once, here, never again), deactivate or
// activate, delete.
import { useRef, useState } from "preact/hooks";
import { ActionButton } from "../../components/Action";
import { ErrorBanner } from "../../components/ErrorBanner";
import { StateBadge } from "../../components/StateBadge";
import { Table } from "../../components/Table";
import type { Schemas } from "../../api/types";
import { api, seg } from "../../lib/api";
import { formatTime } from "../../lib/format";
import { useLoad } from "../../lib/poll";
import { userPath } from "./common";

type AccessKey = Schemas["AccessKey"];
type NewAccessKey = Schemas["NewAccessKey"];

export function AccessKeys({ accountId, userName, mayManage }: { accountId: string; userName: string; mayManage: boolean }) {
  const path = `${userPath(accountId, userName)}/access-keys`;
  const keys = useLoad(() => api.get<AccessKey[]>(path), [path]);
  // The new key's secret lives only in this component's state: leaving the page forgets it.
  const [fresh, setFresh] = useState<NewAccessKey | undefined>(undefined);
  return (
    <section aria-labelledby="access-keys-title">
      <div class="page-header">
        <h2 id="access-keys-title">Access keys</h2>
        {mayManage && (
          <div class="actions">
            <ActionButton
              run={async () => {
                setFresh(undefined);
                setFresh(await api.post<NewAccessKey>(path));
              }}
              done={keys.reload}
            >
              Create access key
            </ActionButton>
          </div>
        )}
      </div>
      <p class="muted small">For the AWS CLI and SDKs (S3 and EC2 APIs). A user has at most two.</p>
      {fresh && <NewSecret accessKey={fresh} dismiss={() => setFresh(undefined)} />}
      <ErrorBanner error={keys.error} />
      <Table
        label="Access keys"
        rows={keys.data}
        loading={keys.loading}
        rowKey={(k) => k.access_key_id}
        text={(k) => [k.access_key_id, k.status]}
        empty={<p>No access keys.</p>}
        columns={[
          { header: "Access key id", cell: (k) => <code>{k.access_key_id}</code> },
          { header: "Status", cell: (k) => <StateBadge state={k.status} /> },
          { header: "Created", cell: (k) => formatTime(k.created_at) },
          ...(mayManage
            ? [
                {
                  header: "Actions",
                  cell: (k: AccessKey) => {
                    const active = k.status === "Active";
                    const keyPath = `${path}/${seg(k.access_key_id)}`;
                    return (
                      <>
                        <ActionButton
                          label={`${active ? "Deactivate" : "Activate"} ${k.access_key_id}`}
                          run={() => api.patch<AccessKey>(keyPath, { status: active ? "Inactive" : "Active" })}
                          done={keys.reload}
                        >
                          {active ? "Deactivate" : "Activate"}
                        </ActionButton>
                        <ActionButton
                          danger
                          label={`Delete ${k.access_key_id}`}
                          confirm={`Delete access key ${k.access_key_id}? Programs using it are refused from then on.`}
                          run={() => api.del(keyPath)}
                          done={() => {
                            if (fresh?.access_key_id === k.access_key_id) setFresh(undefined);
                            keys.reload();
                          }}
                        >
                          Delete
                        </ActionButton>
                      </>
                    );
                  },
                },
              ]
            : []),
        ]}
      />
    </section>
  );
}

function NewSecret({ accessKey, dismiss }: { accessKey: NewAccessKey; dismiss: () => void }) {
  const secretRef = useRef<HTMLElement>(null);
  const [copied, setCopied] = useState<string | undefined>(undefined);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(accessKey.secret_access_key);
      setCopied("Copied to the clipboard.");
    } catch {
      // No clipboard (a page not served over https, a refusal): select it for Ctrl+C.
      const node = secretRef.current;
      const selection = window.getSelection();
      if (node && selection) {
        const range = document.createRange();
        range.selectNodeContents(node);
        selection.removeAllRanges();
        selection.addRange(range);
      }
      setCopied("The browser refused the clipboard: the secret is selected, press Ctrl+C (⌘C) to copy it.");
    }
  };
  return (
    <div class="secret" role="region" aria-label="New access key">
      <p style={{ wordBreak: "normal" }}>
        <strong>Save the secret access key now: it is shown only this once.</strong> Kumo does not keep it in a form it can show again; if it is
        lost, delete the key and create another.
      </p>
      <dl class="secret-values">
        <dt>Access key id</dt>
        <dd>
          <code>{accessKey.access_key_id}</code>
        </dd>
        <dt>Secret access key</dt>
        <dd>
          <code ref={secretRef}>{accessKey.secret_access_key}</code>
        </dd>
      </dl>
      <div class="form-actions">
        <button type="button" class="primary" onClick={copy}>
          Copy secret
        </button>
        <button type="button" onClick={dismiss}>
          I have saved it
        </button>
      </div>
      {copied && (
        <p class="small" role="status">
          {copied}
        </p>
      )}
    </div>
  );
}
