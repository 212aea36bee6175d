import { Page } from "../components/Page";

export function Snapshots(_props: { params: Record<string, string> }) {
  return <Page title="Snapshots"><p>Not built yet.</p></Page>;
}
