import { Page } from "../../components/Page";

export function JoinTokens(_props: { params: Record<string, string> }) {
  return <Page title="JoinTokens"><p>Not built yet.</p></Page>;
}
