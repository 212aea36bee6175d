import { Page } from "../components/Page";

export function Addresses(_props: { params: Record<string, string> }) {
  return <Page title="Addresses"><p>Not built yet.</p></Page>;
}
