import { Page } from "../../components/Page";

export function Accounts(_props: { params: Record<string, string> }) {
  return <Page title="Accounts"><p>Not built yet.</p></Page>;
}
