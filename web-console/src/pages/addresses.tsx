// Elastic IPs: allocate, associate with an instance or a network interface, disassociate,
// release.
import { useState } from "preact/hooks";
import { api, seg } from "../lib/api";
import type { Schemas } from "../api/types";
import { useLoad } from "../lib/poll";
import { canWrite, useSession } from "../lib/session";
import { formatTime } from "../lib/format";
import { nameTags } from "../lib/network";
import { Page } from "../components/Page";
import { Table } from "../components/Table";
import { ErrorBanner } from "../components/ErrorBanner";
import { ActionButton, ApiForm } from "../components/Action";
import { SelectField, TextField } from "../components/Field";
import { Link } from "../components/Link";
import { Actions, fail, liveInstances, lists, tagText, TagsCell, Id } from "./network/shared";

type Address = Schemas["Address"];

export function Addresses(_props: { params: Record<string, string> }) {
  const session = useSession();
  const writer = canWrite(session.role);
  const addresses = useLoad(async () => (await api.get<Schemas["AddressList"]>("/v1/addresses")).addresses, []);
  const [allocating, setAllocating] = useState(false);
  const [associating, setAssociating] = useState<Address | undefined>(undefined);
  return (
    <Page
      title="Elastic IPs"
      actions={
        writer && (
          <button type="button" class="primary" onClick={() => setAllocating(!allocating)} aria-expanded={allocating}>
            Allocate address
          </button>
        )
      }
    >
      {writer && allocating && (
        <Allocate
          onCancel={() => setAllocating(false)}
          done={() => {
            setAllocating(false);
            addresses.reload();
          }}
        />
      )}
      {writer && associating && (
        <Associate
          key={associating.allocation_id}
          address={associating}
          onCancel={() => setAssociating(undefined)}
          done={() => {
            setAssociating(undefined);
            addresses.reload();
          }}
        />
      )}
      <ErrorBanner error={addresses.error} />
      <Table<Address>
        label="Elastic IPs"
        rows={addresses.data}
        loading={addresses.loading}
        rowKey={(a) => a.allocation_id}
        text={(a) => [a.public_ip, a.allocation_id, a.instance_id, a.network_interface_id, a.private_ip_address, a.pool_name, tagText(a.tags)]}
        empty={<p>No elastic IPs yet.{writer ? " Allocate one from the operator's pool, then associate it with an instance." : ""}</p>}
        columns={[
          { header: "Public IP", cell: (a) => <code>{a.public_ip}</code> },
          { header: "Allocation", cell: (a) => <Id id={a.allocation_id} small /> },
          {
            header: "Associated with",
            cell: (a) =>
              a.association_id ? (
                <span>
                  {a.instance_id ? (
                    <Link to={`/instances/${encodeURIComponent(a.instance_id)}`}>
                      <Id id={a.instance_id} />
                    </Link>
                  ) : (
                    <span class="muted">no instance</span>
                  )}{" "}
                  via <Id id={a.network_interface_id ?? "—"} />
                </span>
              ) : (
                <span class="muted">Not associated</span>
              ),
          },
          { header: "Private IP", cell: (a) => (a.private_ip_address ? <code>{a.private_ip_address}</code> : <span class="muted">—</span>) },
          { header: "Pool", cell: (a) => a.pool_name },
          { header: "Allocated", cell: (a) => formatTime(a.created_at) },
          { header: "Tags", cell: (a) => <TagsCell tags={a.tags} /> },
          ...(writer
            ? [
                {
                  header: "Actions",
                  cell: (a: Address) => (
                    <Actions>
                      {a.association_id ? (
                        <ActionButton
                          label={`Disassociate ${a.public_ip}`}
                          confirm={`Disassociate ${a.public_ip} from ${a.instance_id ?? a.network_interface_id}?`}
                          run={() => api.post<Address>(`/v1/addresses/${seg(a.allocation_id)}/disassociate`)}
                          done={addresses.reload}
                        >
                          Disassociate
                        </ActionButton>
                      ) : (
                        <button type="button" aria-label={`Associate ${a.public_ip}`} onClick={() => setAssociating(a)}>
                          Associate
                        </button>
                      )}
                      <ActionButton
                        danger
                        label={`Release ${a.public_ip}`}
                        confirm={`Release ${a.public_ip}? It goes back to the pool and may not come back to you.`}
                        run={() => api.del(`/v1/addresses/${seg(a.allocation_id)}`)}
                        done={addresses.reload}
                      >
                        Release
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

function Allocate({ done, onCancel }: { done: () => void; onCancel: () => void }) {
  const [name, setName] = useState("");
  return (
    <ApiForm
      label="Allocate address"
      submit="Allocate address"
      onCancel={onCancel}
      done={done}
      run={() => api.post<Address>("/v1/addresses", { tags: nameTags(name) } satisfies Schemas["AllocateAddress"])}
    >
      <p>A public address from the operator's pool, yours until you release it.</p>
      <TextField label="Name (optional)" name="address_name" value={name} onInput={setName} hint="Kept as the Name tag." />
    </ApiForm>
  );
}

function Associate({ address, done, onCancel }: { address: Address; done: () => void; onCancel: () => void }) {
  const instances = useLoad(lists.instances, []);
  const interfaces = useLoad(lists.interfaces, []);
  const [target, setTarget] = useState<"instance" | "interface">("instance");
  const [instanceId, setInstanceId] = useState("");
  const [interfaceId, setInterfaceId] = useState("");
  const [privateIp, setPrivateIp] = useState("");
  const live = liveInstances(instances.data);
  const instanceOptions = live.map((i) => ({ value: i.instance_id, label: `${i.instance_id} (${i.state}${i.private_ip ? `, ${i.private_ip}` : ""}${i.tags["Name"] ? `, ${i.tags["Name"]}` : ""})` }));
  const interfaceOptions = (interfaces.data ?? []).map((n) => ({
    value: n.network_interface_id,
    label: `${n.network_interface_id} (${n.private_ip_address}${n.attachment ? `, on ${n.attachment.instance_id}` : ", detached"})`,
  }));
  const chosenInstance = instanceId || instanceOptions[0]?.value || "";
  const chosenInterface = interfaceId || interfaceOptions[0]?.value || "";
  return (
    <ApiForm
      label={`Associate ${address.public_ip}`}
      submit="Associate address"
      onCancel={onCancel}
      done={done}
      run={() => {
        if (target === "instance" && !chosenInstance) fail("You have no instance to associate the address with.");
        if (target === "interface" && !chosenInterface) fail("You have no network interface to associate the address with.");
        const body: Schemas["AssociateAddress"] = {
          instance_id: target === "instance" ? chosenInstance : null,
          network_interface_id: target === "interface" ? chosenInterface : null,
          private_ip_address: privateIp.trim() || null,
        };
        return api.post<Schemas["AddressAssociated"]>(`/v1/addresses/${seg(address.allocation_id)}/associate`, body);
      }}
    >
      <h2>
        Associate <code>{address.public_ip}</code>
      </h2>
      <ErrorBanner error={instances.error ?? interfaces.error} />
      <SelectField
        label="Associate with"
        name="associate_target"
        value={target}
        onChange={(v) => setTarget(v === "interface" ? "interface" : "instance")}
        options={[
          { value: "instance", label: "An instance (its primary interface)" },
          { value: "interface", label: "A network interface" },
        ]}
      />
      {target === "instance" ? (
        <SelectField
          label="Instance"
          name="associate_instance"
          value={chosenInstance}
          onChange={setInstanceId}
          options={instanceOptions.length ? instanceOptions : [{ value: "", label: instances.loading ? "Loading instances…" : "No instances" }]}
        />
      ) : (
        <SelectField
          label="Network interface"
          name="associate_interface"
          value={chosenInterface}
          onChange={setInterfaceId}
          options={interfaceOptions.length ? interfaceOptions : [{ value: "", label: interfaces.loading ? "Loading interfaces…" : "No network interfaces" }]}
        />
      )}
      <TextField label="Private IP (optional)" name="associate_private_ip" value={privateIp} onInput={setPrivateIp} hint="Empty: the interface's primary address." />
    </ApiForm>
  );
}
