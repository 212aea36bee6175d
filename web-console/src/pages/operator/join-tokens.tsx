// Operator: join tokens, which let new compute hosts and storage nodes enrol. Kumo keeps
// no readable copy, so a token is shown once, with the command that uses it.
import { useState } from "preact/hooks";
import type { Schemas } from "../../api/types";
import { ActionButton } from "../../components/Action";
import { Page } from "../../components/Page";
import { api } from "../../lib/api";
import { formatTime } from "../../lib/format";

type JoinToken = Schemas["JoinToken"];

/** The control plane's URL as this browser reaches it (kumo up serves the API and the
 * console on one port). */
function controlPlane(): string {
  return window.location.origin;
}

/** The shell command a new machine runs with `token`. */
export function joinCommand(kind: "host" | "storage", token: string, controlPlaneUrl: string): string {
  if (kind === "host") return `kumo agent --control-plane ${controlPlaneUrl} --join-token ${token}`;
  return [
    `kumo storage-node --control-plane ${controlPlaneUrl} --join-token ${token} \\`,
    "  --data-dir /var/lib/kumo/storage-node --listen 0.0.0.0:8790 --advertise http://THIS-HOST:8790",
  ].join("\n");
}

export function JoinTokens(_props: { params: Record<string, string> }) {
  return (
    <Page title="Join tokens">
      <p class="muted">
        A join token lets machines enrol in this cloud: any number of them, until the token expires. Kumo shows a token only once; create a new one when you need
        it again.
      </p>
      <TokenCard
        kind="host"
        title="Compute hosts"
        what="A host runs instances (VMs and containers) with the compute agent."
        button="Create host join token"
        create={() => api.post<JoinToken>("/v1/join-tokens")}
      />
      <TokenCard
        kind="storage"
        title="Storage nodes"
        what="A storage node holds object storage chunks and EBS volume replicas."
        button="Create storage node join token"
        create={() => api.post<JoinToken>("/v1/storage/join-tokens")}
      />
    </Page>
  );
}

function TokenCard(props: { kind: "host" | "storage"; title: string; what: string; button: string; create: () => Promise<JoinToken> }) {
  const [token, setToken] = useState<JoinToken | undefined>(undefined);
  const [copied, setCopied] = useState<string | undefined>(undefined);
  const id = `join-${props.kind}`;
  const command = token ? joinCommand(props.kind, token.join_token, controlPlane()) : "";
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(command);
      setCopied("Copied.");
    } catch {
      setCopied("Copying is not allowed here: select the command and copy it.");
    }
  };
  return (
    <section class="card" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{props.title}</h2>
      <p>{props.what}</p>
      <ActionButton
        run={async () => {
          setCopied(undefined);
          setToken(await props.create());
        }}
      >
        {props.button}
      </ActionButton>
      {token && (
        <div class="secret" role="status" aria-live="polite">
          <p>
            <strong>Token:</strong> <code>{token.join_token}</code>
          </p>
          <p class="small">
            Valid until {formatTime(token.expires_at)}. It is not shown again. Run on the new {props.kind === "host" ? "host" : "storage node"}:
          </p>
          <pre class="command" aria-label={`Command for a new ${props.kind === "host" ? "host" : "storage node"}`}>{command}</pre>
          <p class="small">
            Use an address of this control plane that the new machine reaches, if <code>{controlPlane()}</code> is not one.
            {props.kind === "storage" && " Replace THIS-HOST with the node's own address, which the control plane and the compute hosts reach."}
          </p>
          <button type="button" onClick={copy}>
            Copy command
          </button>{" "}
          {copied && <span class="small">{copied}</span>}
        </div>
      )}
    </section>
  );
}
