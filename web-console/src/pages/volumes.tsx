import { Page } from "../components/Page";

export function Volumes(_props: { params: Record<string, string> }) {
  return <Page title="Volumes"><p>Not built yet.</p></Page>;
}
