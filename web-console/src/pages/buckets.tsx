import { Page } from "../components/Page";

export function Buckets(_props: { params: Record<string, string> }) {
  return <Page title="Buckets"><p>Not built yet.</p></Page>;
}

export function BucketObjects(_props: { params: Record<string, string> }) {
  return <Page title="BucketObjects"><p>Not built yet.</p></Page>;
}
