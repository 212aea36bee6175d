import { Page } from "../components/Page";

export function Images(_props: { params: Record<string, string> }) {
  return <Page title="Images"><p>Not built yet.</p></Page>;
}
