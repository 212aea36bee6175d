import { Page } from "../../components/Page";

export function Overview(_props: { params: Record<string, string> }) {
  return <Page title="Overview"><p>Not built yet.</p></Page>;
}
