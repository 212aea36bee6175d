import { Link } from "../components/Link";
import { Page } from "../components/Page";
import { isOperator, useSession } from "../lib/session";

export function Home(_props: { params: Record<string, string> }) {
  const session = useSession();
  return (
    <Page title="Welcome">
      <p>
        Signed in to account <strong>{session.account_name ?? session.account_id}</strong> ({session.account_id}) as <strong>{session.user_name}</strong>, role {session.role}.
      </p>
      <ul class="cards">
        <li><Link to="/instances">Instances</Link>: virtual machines and containers.</li>
        <li><Link to="/buckets">Buckets</Link>: object storage, S3-compatible.</li>
        <li><Link to="/volumes">Volumes</Link>: block storage for instances.</li>
        <li><Link to="/users">Users and keys</Link>: who may use this account.</li>
        {isOperator(session.role) && <li><Link to="/operator/overview">Operator overview</Link>: the cloud at a glance.</li>}
      </ul>
    </Page>
  );
}
