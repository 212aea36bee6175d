// What the network and block pages share: list calls, the tags cell, the zone field, and
// the not-found page of a typed URL.
import type { ComponentChildren } from "preact";
import { api, ApiError, withQuery } from "../../lib/api";
import type { Schemas } from "../../api/types";
import { formatTags } from "../../lib/format";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Page } from "../../components/Page";
import { Link } from "../../components/Link";

export type Vpc = Schemas["Vpc"];
export type Subnet = Schemas["Subnet"];
export type SecurityGroup = Schemas["SecurityGroup"];
export type Instance = Schemas["Instance"];

// Lists come in pages; the console asks for the largest one.
const ALL = { max_results: 1000 };

export const lists = {
  vpcs: async () => (await api.get<Schemas["VpcPage"]>(withQuery("/v1/vpcs", ALL))).vpcs,
  subnets: async (vpcId?: string) =>
    (await api.get<Schemas["SubnetPage"]>(withQuery("/v1/subnets", { ...ALL, vpc_id: vpcId }))).subnets,
  securityGroups: async () =>
    (await api.get<Schemas["SecurityGroupPage"]>(withQuery("/v1/security-groups", ALL))).security_groups,
  instances: async () => (await api.get<Schemas["InstancePage"]>(withQuery("/v1/instances", ALL))).instances,
  interfaces: async () =>
    (await api.get<Schemas["InterfacePage"]>(withQuery("/v1/network-interfaces", ALL))).network_interfaces,
  volumes: async () => (await api.get<Schemas["VolumePage"]>(withQuery("/v1/volumes", ALL))).volumes,
  snapshots: async () => (await api.get<Schemas["SnapshotPage"]>(withQuery("/v1/snapshots", ALL))).snapshots,
};

/** Instances that can still take an address or a volume (not terminated or going). */
export function liveInstances(instances: Instance[] | undefined): Instance[] {
  return (instances ?? []).filter((i) => i.state !== "terminated" && i.state !== "shutting-down");
}

export function TagsCell({ tags }: { tags: Record<string, string> | null | undefined }) {
  const text = formatTags(tags);
  return text ? <span class="small">{text}</span> : <span class="muted">—</span>;
}

/** The strings a row's tags add to the table filter. */
export function tagText(tags: Record<string, string> | null | undefined): string {
  return formatTags(tags);
}

/** The region's zone the console offers when nothing shows another. */
export const DEFAULT_ZONE = "us-east-1a";

/** The zones the account's subnets and instances are in (the API has no zone list). */
export function knownZones(subnets: Subnet[] | undefined, extra: string[] = []): string[] {
  const zones = new Set<string>([...extra, ...(subnets ?? []).map((s) => s.availability_zone)]);
  if (zones.size === 0) zones.add(DEFAULT_ZONE);
  return [...zones].sort();
}

/** A labelled text box with suggestions (an <input list>). */
export function SuggestField(props: {
  label: string;
  name: string;
  value: string;
  onInput: (v: string) => void;
  suggestions: string[];
  hint?: string;
  required?: boolean;
  placeholder?: string;
}) {
  const id = `f-${props.name}`;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        list={`${id}-list`}
        value={props.value}
        required={props.required}
        placeholder={props.placeholder}
        aria-describedby={props.hint ? `${id}-hint` : undefined}
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
      />
      <datalist id={`${id}-list`}>
        {props.suggestions.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
      {props.hint && (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      )}
    </div>
  );
}

/** The page a typed URL of a missing (or another account's) resource gets. */
export function NotFoundPage({ what, id, back, backLabel, error }: { what: string; id: string; back: string; backLabel: string; error: ApiError }) {
  return (
    <Page title={`${what} not found`}>
      <p>
        No {/^[A-Z]{2,}/.test(what) ? what : what.toLowerCase()} <code>{id}</code> was found in your account.
      </p>
      <ErrorBanner error={error} />
      <p>
        <Link to={back}>{backLabel}</Link>
      </p>
    </Page>
  );
}

/** Turns a form's input error into the Error ApiForm shows. */
export function fail(message: string): never {
  throw new Error(message);
}

// Layout without touching the shared stylesheet (inline styles are allowed by the CSP).
const ROW_STYLE = { display: "flex", gap: "12px", flexWrap: "wrap", alignItems: "flex-start" } as const;
const CELL_STYLE = { display: "flex", gap: "6px", flexWrap: "wrap", alignItems: "center" } as const;

/** Form fields side by side, wrapping on a narrow window. */
export function Row({ children }: { children: ComponentChildren }) {
  return <div style={ROW_STYLE}>{children}</div>;
}

/** The buttons of a table row. */
export function Actions({ children }: { children: ComponentChildren }) {
  return <div style={CELL_STYLE}>{children}</div>;
}

/** An id that does not break at its hyphen; `small` for secondary ids. */
export function Id({ id, small }: { id: string; small?: boolean }) {
  return (
    <code class={small ? "small" : undefined} style={{ whiteSpace: "nowrap" }}>
      {id}
    </code>
  );
}
