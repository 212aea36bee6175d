import { Page } from "../../components/Page";

export function StorageNodes(_props: { params: Record<string, string> }) {
  return <Page title="StorageNodes"><p>Not built yet.</p></Page>;
}
