import { Page } from "../components/Page";

export function InstanceTypes(_props: { params: Record<string, string> }) {
  return <Page title="InstanceTypes"><p>Not built yet.</p></Page>;
}
