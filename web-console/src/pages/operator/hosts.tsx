import { Page } from "../../components/Page";

export function Hosts(_props: { params: Record<string, string> }) {
  return <Page title="Hosts"><p>Not built yet.</p></Page>;
}
