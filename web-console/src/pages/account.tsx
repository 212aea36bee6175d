import { Page } from "../components/Page";

export function Account(_props: { params: Record<string, string> }) {
  return <Page title="Account"><p>Not built yet.</p></Page>;
}
