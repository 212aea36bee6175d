import { Page } from "../components/Page";

export function Users(_props: { params: Record<string, string> }) {
  return <Page title="Users"><p>Not built yet.</p></Page>;
}

export function UserDetail(_props: { params: Record<string, string> }) {
  return <Page title="UserDetail"><p>Not built yet.</p></Page>;
}
