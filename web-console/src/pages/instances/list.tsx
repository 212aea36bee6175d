// The instances of the account: live states (polled fast while any is on its way), a state
// filter beside the table's text filter, tags.
import { useEffect, useState } from "preact/hooks";
import type { Schemas } from "../../api/types";
import { ErrorBanner } from "../../components/ErrorBanner";
import { SelectField } from "../../components/Field";
import { Link } from "../../components/Link";
import { Page } from "../../components/Page";
import { StateBadge } from "../../components/StateBadge";
import { Table } from "../../components/Table";
import { api, withQuery } from "../../lib/api";
import { formatTags, formatTime } from "../../lib/format";
import { FAST_POLL_MS, instanceAddresses, instanceName, pollInterval } from "../../lib/instances";
import { useLoad } from "../../lib/poll";
import { canWrite, useSession } from "../../lib/session";

type Instance = Schemas["Instance"];

const STATES: Schemas["InstanceState"][] = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"];

/** Every instance of the account, page after page. */
export async function listAllInstances(): Promise<Instance[]> {
  const all: Instance[] = [];
  let token: string | undefined;
  for (let pages = 0; pages < 50; pages++) {
    const page = await api.get<Schemas["InstancePage"]>(withQuery("/v1/instances", { max_results: 1000, next_token: token }));
    all.push(...page.instances);
    if (!page.next_token) break;
    token = page.next_token;
  }
  return all;
}

export function Instances(_props: { params: Record<string, string> }) {
  const session = useSession();
  const [interval, setPollInterval] = useState(FAST_POLL_MS);
  const [state, setState] = useState("");
  const list = useLoad(listAllInstances, [], interval);
  useEffect(() => {
    if (list.data) setPollInterval(pollInterval(list.data.map((i) => i.state)));
  }, [list.data]);
  const rows = list.data?.filter((i) => !state || i.state === state);
  return (
    <Page
      title="Instances"
      actions={
        canWrite(session.role) && (
          <Link to="/instances/launch" class="button primary">
            Launch instances
          </Link>
        )
      }
    >
      <ErrorBanner error={list.error} />
      <div class="toolbar">
        <SelectField
          label="State"
          name="state-filter"
          value={state}
          onChange={setState}
          options={[{ value: "", label: "All states" }, ...STATES.map((s) => ({ value: s, label: s }))]}
        />
      </div>
      <Table<Instance>
        label="Instances"
        rows={rows}
        loading={list.error ? false : undefined}
        rowKey={(i) => i.instance_id}
        text={(i) => [i.instance_id, i.state, i.instance_type, i.image_id, i.kind, i.private_ip, i.key_name, i.availability_zone, formatTags(i.tags), ...instanceAddresses(i.network_interfaces).public]}
        empty={
          state ? (
            <p>No instances are {state}.</p>
          ) : (
            <p>
              No instances yet.{" "}
              {canWrite(session.role) ? <Link to="/instances/launch">Launch your first instance</Link> : "An account member can launch some."}
            </p>
          )
        }
        columns={[
          { header: "Instance", cell: (i) => <Link to={`/instances/${i.instance_id}`} class="nowrap">{i.instance_id}</Link> },
          { header: "Name", cell: (i) => instanceName(i.tags) ?? "" },
          { header: "State", cell: (i) => <StateBadge state={i.state} /> },
          { header: "Type", cell: (i) => i.instance_type },
          { header: "Kind", cell: (i) => i.kind },
          { header: "Image", cell: (i) => <code class="nowrap">{i.image_id}</code> },
          { header: "Private IP", cell: (i) => i.private_ip ?? "" },
          { header: "Public IP", cell: (i) => instanceAddresses(i.network_interfaces).public.join(", ") },
          { header: "Launched", cell: (i) => <span class="nowrap">{formatTime(i.launch_time)}</span> },
          { header: "Tags", cell: (i) => <span class="small">{formatTags(i.tags)}</span> },
        ]}
      />
    </Page>
  );
}
