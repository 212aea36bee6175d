// One user: who it is, its role (admins change it), enable/disable, sign-out everywhere,
// delete, and its access keys.
import { useState } from "preact/hooks";
import { ActionButton } from "../../components/Action";
import { ErrorBanner } from "../../components/ErrorBanner";
import { SelectField } from "../../components/Field";
import { Link } from "../../components/Link";
import { Details, Loading, Page } from "../../components/Page";
import { StateBadge } from "../../components/StateBadge";
import type { Schemas } from "../../api/types";
import { api } from "../../lib/api";
import { formatTime } from "../../lib/format";
import { useLoad } from "../../lib/poll";
import { navigate } from "../../lib/router";
import { canAdminister, canWrite, useSession } from "../../lib/session";
import { AccessKeys } from "./access-keys";
import { TENANT_ROLES, userPath, type Role, type User } from "./common";

export function UserDetail({ params }: { params: Record<string, string> }) {
  const name = params.name ?? "";
  const session = useSession();
  const user = useLoad(() => api.get<User>(userPath(session.account_id, name)), [session.account_id, name]);
  const self = name === session.user_name;
  const admin = canAdminister(session.role);

  if (user.error?.status === 404) {
    return (
      <Page title="User not found">
        <ErrorBanner error={user.error} />
        <p>There is no user {name} in this account.</p>
        <Link to="/users">Back to users</Link>
      </Page>
    );
  }
  const u = user.data;
  return (
    <Page title={`User ${name}`}>
      <ErrorBanner error={user.error} />
      {!u ? (
        !user.error && <Loading what="Loading the user" />
      ) : (
        <>
          <Details
            rows={[
              ["User name", u.user_name],
              ["Role", u.role],
              ["Status", <StateBadge state={u.enabled ? "enabled" : "disabled"} />],
              ["User id", <code>{u.user_id}</code>],
              ["ARN", <code>{u.arn}</code>],
              ["Created", formatTime(u.created_at)],
            ]}
          />
          {admin && !self && <ManageUser user={u} accountId={session.account_id} reload={user.reload} />}
          {self && (
            <p class="muted small">
              This is you. Change your password and end your sessions on <Link to="/account">My account</Link>.
            </p>
          )}
          {admin || self ? (
            <AccessKeys accountId={session.account_id} userName={u.user_name} mayManage={admin || (self && canWrite(session.role))} />
          ) : (
            <p class="muted">Only the account's admins see another user's access keys.</p>
          )}
        </>
      )}
    </Page>
  );
}

function ManageUser({ user, accountId, reload }: { user: User; accountId: string; reload: () => void }) {
  const [role, setRole] = useState<Role>(user.role);
  const path = userPath(accountId, user.user_name);
  const update = (body: Schemas["UpdateUser"]) => api.patch<User>(path, body);
  return (
    <section class="card" aria-label="Manage user">
      <h2>Manage</h2>
      <div class="inline-form">
        <SelectField label="Role" name="change-role" value={role} onChange={(v) => setRole(v as Role)} options={TENANT_ROLES} />
        <ActionButton disabled={role === user.role} run={() => update({ role })} done={reload}>
          Change role
        </ActionButton>
      </div>
      <p class="hint">Changing the role or disabling the user signs it out everywhere.</p>
      <div class="form-actions">
        {user.enabled ? (
          <ActionButton danger confirm={`Disable ${user.user_name}? Its sessions and access keys are refused until it is enabled again.`} run={() => update({ enabled: false })} done={reload}>
            Disable user
          </ActionButton>
        ) : (
          <ActionButton run={() => update({ enabled: true })} done={reload}>
            Enable user
          </ActionButton>
        )}
        <ActionButton confirm={`End every session of ${user.user_name}? It must sign in again.`} run={() => api.post(`${path}/sign-out`)}>
          End all sessions
        </ActionButton>
        <ActionButton
          danger
          confirm={`Delete user ${user.user_name}? Its access keys are deleted with it.`}
          run={() => api.del(path)}
          done={() => navigate("/users")}
        >
          Delete user
        </ActionButton>
      </div>
    </section>
  );
}
