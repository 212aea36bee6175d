// Key pairs: create (the private key is downloaded once and shown once, never again),
// import a public key, delete.
import { useState } from "preact/hooks";
import type { Schemas } from "../api/types";
import { ActionButton, ApiForm } from "../components/Action";
import { ErrorBanner } from "../components/ErrorBanner";
import { Field, SelectField, TextField } from "../components/Field";
import { Page } from "../components/Page";
import { Table } from "../components/Table";
import { api, seg } from "../lib/api";
import { formatTime } from "../lib/format";
import { looksLikePublicKey, pemFileName } from "../lib/instances";
import { useLoad } from "../lib/poll";
import { canWrite, useSession } from "../lib/session";

type KeyPair = Schemas["KeyPair"];
type NewKeyPair = Schemas["NewKeyPair"];

/** Hand the private key to the browser's downloads as `<name>.pem`, through a Blob link that
 * is revoked right after: nothing keeps it. */
function downloadPrivateKey(keyName: string, material: string): void {
  const url = URL.createObjectURL(new Blob([material], { type: "application/x-pem-file" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = pemFileName(keyName);
  link.rel = "noopener";
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function KeyPairs(_props: { params: Record<string, string> }) {
  const session = useSession();
  const writer = canWrite(session.role);
  const list = useLoad(() => api.get<KeyPair[]>("/v1/key-pairs"), []);
  const [form, setForm] = useState<"create" | "import" | undefined>(undefined);
  const [created, setCreated] = useState<NewKeyPair | undefined>(undefined);

  return (
    <Page
      title="Key pairs"
      actions={
        writer && (
          <>
            <button type="button" class={form === "create" ? "primary" : ""} aria-expanded={form === "create"} onClick={() => setForm(form === "create" ? undefined : "create")}>
              Create key pair
            </button>
            <button type="button" class={form === "import" ? "primary" : ""} aria-expanded={form === "import"} onClick={() => setForm(form === "import" ? undefined : "import")}>
              Import key pair
            </button>
          </>
        )
      }
    >
      {created && <PrivateKeyOnce keyPair={created} onDone={() => setCreated(undefined)} />}
      {writer && form === "create" && (
        <CreateForm
          onCancel={() => setForm(undefined)}
          onCreated={(made) => {
            setForm(undefined);
            setCreated(made);
            downloadPrivateKey(made.key_name, made.key_material);
            list.reload();
          }}
        />
      )}
      {writer && form === "import" && (
        <ImportForm
          onCancel={() => setForm(undefined)}
          onImported={() => {
            setForm(undefined);
            list.reload();
          }}
        />
      )}
      <ErrorBanner error={list.error} />
      <Table<KeyPair>
        label="Key pairs"
        rows={list.data}
        loading={list.error ? false : undefined}
        rowKey={(k) => k.key_pair_id}
        text={(k) => [k.key_name, k.key_pair_id, k.key_type, k.fingerprint]}
        empty={<p>No key pairs yet. {writer ? "Create one (Kumo makes the private key) or import your own public key." : ""}</p>}
        columns={[
          { header: "Name", cell: (k) => <strong>{k.key_name}</strong> },
          { header: "ID", cell: (k) => <code>{k.key_pair_id}</code> },
          { header: "Type", cell: (k) => k.key_type },
          { header: "Fingerprint", cell: (k) => <code class="small">{k.fingerprint}</code> },
          { header: "Created", cell: (k) => formatTime(k.created_at) },
          ...(writer
            ? [
                {
                  header: "Actions",
                  cell: (k: KeyPair) => (
                    <ActionButton
                      run={() => api.del(`/v1/key-pairs/${seg(k.key_name)}`)}
                      done={list.reload}
                      confirm={`Delete key pair ${k.key_name}? Running instances keep the key they were launched with.`}
                      label={`Delete ${k.key_name}`}
                      danger
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

function CreateForm({ onCreated, onCancel }: { onCreated: (made: NewKeyPair) => void; onCancel: () => void }) {
  const [name, setName] = useState("");
  const [type, setType] = useState("ed25519");
  return (
    <ApiForm
      label="Create key pair"
      submit="Create key pair"
      onCancel={onCancel}
      run={async () => {
        if (!name.trim()) throw new Error("Give the key pair a name.");
        onCreated(await api.post<NewKeyPair>("/v1/key-pairs", { key_name: name.trim(), key_type: type }));
      }}
    >
      <TextField label="Key pair name" name="create-key-name" value={name} onInput={setName} required />
      <SelectField
        label="Key type"
        name="create-key-type"
        value={type}
        onChange={setType}
        options={[
          { value: "ed25519", label: "ED25519" },
          { value: "rsa", label: "RSA (2048-bit)" },
        ]}
      />
      <p class="muted small">Kumo makes the pair and keeps only the public key: the private key is downloaded once as a .pem file.</p>
    </ApiForm>
  );
}

function ImportForm({ onImported, onCancel }: { onImported: () => void; onCancel: () => void }) {
  const [name, setName] = useState("");
  const [publicKey, setPublicKey] = useState("");
  return (
    <ApiForm
      label="Import key pair"
      submit="Import key pair"
      onCancel={onCancel}
      run={async () => {
        if (!name.trim()) throw new Error("Give the key pair a name.");
        if (!looksLikePublicKey(publicKey)) throw new Error("Paste one OpenSSH public key line, e.g. the contents of ~/.ssh/id_ed25519.pub (ssh-ed25519 AAAA… comment).");
        await api.post<KeyPair>("/v1/key-pairs/import", { key_name: name.trim(), public_key: publicKey.trim() });
      }}
      done={onImported}
    >
      <TextField label="Key pair name" name="import-key-name" value={name} onInput={setName} required />
      <Field label="Public key" id="f-import-public-key" hint="One OpenSSH line, as in ~/.ssh/id_ed25519.pub.">
        <textarea
          id="f-import-public-key"
          name="public-key"
          rows={4}
          spellcheck={false}
          required
          value={publicKey}
          placeholder="ssh-ed25519 AAAA… you@laptop"
          aria-describedby="f-import-public-key-hint"
          onInput={(e) => setPublicKey((e.currentTarget as HTMLTextAreaElement).value)}
        />
      </Field>
    </ApiForm>
  );
}

/** The new private key, once: it lives only in this component's state. */
function PrivateKeyOnce({ keyPair, onDone }: { keyPair: NewKeyPair; onDone: () => void }) {
  return (
    <section class="secret" aria-labelledby="h-private-key" role="region">
      <h2 id="h-private-key">Private key of {keyPair.key_name}</h2>
      <p>
        <strong>This is the only time you can see or download this private key.</strong> It was downloaded as <code>{pemFileName(keyPair.key_name)}</code>; Kumo does not keep it. Store it safely (e.g.{" "}
        <code>chmod 600 {pemFileName(keyPair.key_name)}</code>).
      </p>
      <pre class="small" aria-label={`Private key of ${keyPair.key_name}`}>{keyPair.key_material}</pre>
      <button type="button" onClick={onDone}>
        I have saved it
      </button>
    </section>
  );
}
