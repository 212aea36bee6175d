// One instance: its metadata, its interfaces and volumes, its tags, the state actions, and
// its serial console (refreshing).
import { useEffect, useState } from "preact/hooks";
import type { Schemas } from "../../api/types";
import { ActionButton } from "../../components/Action";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Link } from "../../components/Link";
import { Details, Empty, Loading, Page } from "../../components/Page";
import { StateBadge } from "../../components/StateBadge";
import { api, seg } from "../../lib/api";
import { formatAgo, formatTime } from "../../lib/format";
import { CONSOLE_POLL_MS, FAST_POLL_MS, actionAllowed, instanceAddresses, instanceName, pollInterval } from "../../lib/instances";
import { useLoad } from "../../lib/poll";
import { canWrite, useSession } from "../../lib/session";

type Instance = Schemas["Instance"];

export function InstanceDetail({ params }: { params: Record<string, string> }) {
  const id = params["id"] ?? "";
  const session = useSession();
  const [interval, setPollInterval] = useState(FAST_POLL_MS);
  const loaded = useLoad(() => api.get<Instance>(`/v1/instances/${seg(id)}`), [id], interval);
  const instance = loaded.data?.instance_id === id ? loaded.data : undefined;
  useEffect(() => {
    if (instance) setPollInterval(pollInterval([instance.state]));
  }, [instance?.state]);

  if (loaded.error?.status === 404) {
    // Not the API's message: it repeats the id, which another account must not learn exists.
    return (
      <Page title="Instance not found">
        <div class="banner error" role="alert">
          <p>This instance was not found. It does not exist, or it belongs to another account.</p>
        </div>
        <p>
          <Link to="/instances">Back to the instances</Link>
        </p>
      </Page>
    );
  }
  const name = instance && instanceName(instance.tags);
  const title = name ? `${name} (${id})` : `Instance ${id}`;
  if (!instance) {
    return (
      <Page title={title}>
        <ErrorBanner error={loaded.error} />
        {!loaded.error && <Loading what="Loading the instance" />}
      </Page>
    );
  }

  const act = (what: "start" | "stop" | "reboot") => () => api.post(`/v1/instances/${seg(id)}/${what}`);
  const actions = canWrite(session.role) && (
    <>
      <ActionButton run={act("start")} done={loaded.reload} disabled={!actionAllowed("start", instance.state)}>
        Start
      </ActionButton>
      <ActionButton run={act("stop")} done={loaded.reload} disabled={!actionAllowed("stop", instance.state)}>
        Stop
      </ActionButton>
      <ActionButton run={act("reboot")} done={loaded.reload} disabled={!actionAllowed("reboot", instance.state)}>
        Reboot
      </ActionButton>
      <ActionButton
        run={() => api.del(`/v1/instances/${seg(id)}`)}
        done={loaded.reload}
        disabled={!actionAllowed("terminate", instance.state)}
        confirm={`Terminate ${id}? It cannot be started again, and its root volume and interfaces go with it.`}
        danger
      >
        Terminate
      </ActionButton>
    </>
  );

  return (
    <Page title={title} actions={actions}>
      <ErrorBanner error={loaded.error} />
      <Metadata instance={instance} />
      <Interfaces instance={instance} />
      <BlockDevices instance={instance} />
      <Tags tags={instance.tags} />
      <ConsoleOutput id={id} state={instance.state} />
    </Page>
  );
}

function Metadata({ instance: i }: { instance: Instance }) {
  const addresses = instanceAddresses(i.network_interfaces);
  return (
    <section class="card" aria-labelledby="h-summary">
      <h2 id="h-summary">Summary</h2>
      <Details
        rows={[
          ["State", <><StateBadge state={i.state} />{i.state_reason && <span class="muted small"> {i.state_reason}</span>}</>],
          ["Instance ID", <code>{i.instance_id}</code>],
          ["Instance type", i.instance_type],
          ["Kind", i.kind === "vm" ? "virtual machine" : i.kind],
          ["Image", <Link to={`/images?image=${encodeURIComponent(i.image_id)}`}>{i.image_id}</Link>],
          ["Key pair", i.key_name ?? "none"],
          ["Private IPs", addresses.private.length ? addresses.private.join(", ") : i.private_ip ?? "none"],
          ["Public IPs", addresses.public.length ? addresses.public.join(", ") : "none"],
          ["Subnet", i.subnet_id],
          ["Availability zone", i.availability_zone],
          ["Host", i.host_id ?? "not placed"],
          ["MAC address", <code>{i.mac}</code>],
          ["Launch time", `${formatTime(i.launch_time)} (${formatAgo(i.launch_time)})`],
          ["Root device", i.root_device_name ?? "instance store"],
          ["Shutdown behavior", i.shutdown_behavior],
          ["Termination protection", i.disable_api_termination ? "on" : "off"],
          ["Reservation", i.reservation_id],
        ]}
      />
    </section>
  );
}

function Interfaces({ instance }: { instance: Instance }) {
  return (
    <section class="card" aria-labelledby="h-enis">
      <h2 id="h-enis">Network interfaces</h2>
      {instance.network_interfaces.length === 0 ? (
        <Empty>No network interfaces{instance.state === "terminated" ? " (they went with the instance)" : ""}.</Empty>
      ) : (
        <div class="scroll">
          <table aria-label="Network interfaces">
            <thead>
              <tr>
                <th scope="col">Interface</th>
                <th scope="col">Device</th>
                <th scope="col">Private IPs</th>
                <th scope="col">Public IPs</th>
                <th scope="col">Subnet / VPC</th>
                <th scope="col">MAC</th>
                <th scope="col">Security groups</th>
              </tr>
            </thead>
            <tbody>
              {instance.network_interfaces.map((n) => (
                <tr key={n.network_interface_id}>
                  <td>
                    <code>{n.network_interface_id}</code>
                  </td>
                  <td>{n.device_index}</td>
                  <td>
                    {(n.private_ip_addresses.length ? n.private_ip_addresses : [n.private_ip_address]).map((ip) => (
                      <div key={ip}>{ip}</div>
                    ))}
                  </td>
                  <td>{n.public_addresses.map((p) => <div key={p.public_ip}>{p.public_ip}</div>)}</td>
                  <td>
                    {n.subnet_id}
                    <div class="muted small">{n.vpc_id}</div>
                  </td>
                  <td>
                    <code>{n.mac_address}</code>
                  </td>
                  <td>
                    {n.groups.map((g) => (
                      <div key={g.group_id}>
                        <Link to={`/security-groups/${g.group_id}`}>{g.group_name}</Link> <span class="muted small">{g.group_id}</span>
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function BlockDevices({ instance }: { instance: Instance }) {
  return (
    <section class="card" aria-labelledby="h-volumes">
      <h2 id="h-volumes">Volumes</h2>
      {instance.block_devices.length === 0 ? (
        <Empty>No EBS volumes attached{instance.root_device_name ? "" : " (the root disk is instance store)"}.</Empty>
      ) : (
        <div class="scroll">
          <table aria-label="Volumes">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Volume</th>
                <th scope="col">Status</th>
                <th scope="col">Attached</th>
                <th scope="col">Deleted with the instance</th>
              </tr>
            </thead>
            <tbody>
              {instance.block_devices.map((b) => (
                <tr key={b.device_name}>
                  <td>
                    <code>{b.device_name}</code>
                    {b.device_name === instance.root_device_name && <span class="muted small"> (root)</span>}
                  </td>
                  <td>
                    <code>{b.volume_id}</code>
                  </td>
                  <td>{b.status}</td>
                  <td>{formatTime(b.attach_time)}</td>
                  <td>{b.delete_on_termination ? "yes" : "no"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Tags({ tags }: { tags: Record<string, string> }) {
  const entries = Object.entries(tags);
  return (
    <section class="card" aria-labelledby="h-tags">
      <h2 id="h-tags">Tags</h2>
      {entries.length === 0 ? <Empty>No tags.</Empty> : <Details rows={entries.map(([k, v]) => [k, v || "(empty)"])} />}
    </section>
  );
}

/** The serial console's last 64 KiB, refreshed every 5 s; kept scrolled to the end unless the
 * reader scrolled up. */
function ConsoleOutput({ id, state }: { id: string; state: string }) {
  const output = useLoad(() => api.get<Schemas["ConsoleOutput"]>(`/v1/instances/${seg(id)}/console`), [id], state === "terminated" ? undefined : CONSOLE_POLL_MS);
  const [pre, setPre] = useState<HTMLPreElement | null>(null);
  // Follow the end of the output, as a terminal does, until the reader scrolls up.
  const [follow, setFollow] = useState(true);
  const text = output.data?.instance_id === id ? output.data.output : undefined;
  useEffect(() => {
    if (pre && follow) pre.scrollTop = pre.scrollHeight;
  }, [text, pre, follow]);
  const onScroll = () => {
    if (pre) setFollow(pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40);
  };
  return (
    <section class="card" aria-labelledby="h-console">
      <h2 id="h-console">Console output</h2>
      <p class="muted small">
        The serial console's last 64 KiB{state === "terminated" ? "." : ", refreshed every 5 seconds."}
        {output.data?.timestamp && ` Last written ${formatTime(output.data.timestamp)}.`}
      </p>
      <ErrorBanner error={output.error} />
      {text === undefined ? (
        !output.error && <Loading what="Loading the console output" />
      ) : text === "" ? (
        <Empty>No console output yet{state === "pending" ? ": the instance is starting" : ""}.</Empty>
      ) : (
        <pre class="console" ref={setPre} onScroll={onScroll} tabIndex={0} aria-labelledby="h-console">
          {text}
        </pre>
      )}
    </section>
  );
}
