import { Page } from "../components/Page";

export function KeyPairs(_props: { params: Record<string, string> }) {
  return <Page title="KeyPairs"><p>Not built yet.</p></Page>;
}
