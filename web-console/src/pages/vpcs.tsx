import { Page } from "../components/Page";

export function Vpcs(_props: { params: Record<string, string> }) {
  return <Page title="Vpcs"><p>Not built yet.</p></Page>;
}

export function Subnets(_props: { params: Record<string, string> }) {
  return <Page title="Subnets"><p>Not built yet.</p></Page>;
}
