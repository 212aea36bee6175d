import { Page } from "../components/Page";

export function Instances(_props: { params: Record<string, string> }) {
  return <Page title="Instances"><p>Not built yet.</p></Page>;
}

export function InstanceLaunch(_props: { params: Record<string, string> }) {
  return <Page title="InstanceLaunch"><p>Not built yet.</p></Page>;
}

export function InstanceDetail(_props: { params: Record<string, string> }) {
  return <Page title="InstanceDetail"><p>Not built yet.</p></Page>;
}
