import { Page } from "../components/Page";

export function SecurityGroups(_props: { params: Record<string, string> }) {
  return <Page title="SecurityGroups"><p>Not built yet.</p></Page>;
}

export function SecurityGroupDetail(_props: { params: Record<string, string> }) {
  return <Page title="SecurityGroupDetail"><p>Not built yet.</p></Page>;
}
