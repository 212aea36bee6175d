// Users of the signed-in account: list, create (admins), delete; a user's page (role,
// enable/disable, access keys) is pages/users/detail.tsx.
import { useState } from "preact/hooks";
import { ActionButton, ApiForm } from "../components/Action";
import { ErrorBanner } from "../components/ErrorBanner";
import { SelectField, TextField } from "../components/Field";
import { Link } from "../components/Link";
import { Page } from "../components/Page";
import { StateBadge } from "../components/StateBadge";
import { Table } from "../components/Table";
import type { Schemas } from "../api/types";
import { api, seg } from "../lib/api";
import { TENANT_ROLES, userPath, usersPath, type Role, type User } from "./users/common";
import { formatTime } from "../lib/format";
import { useLoad } from "../lib/poll";
import { canAdminister, useSession } from "../lib/session";

export { UserDetail } from "./users/detail";

export function Users(_props: { params: Record<string, string> }) {
  const session = useSession();
  const admin = canAdminister(session.role);
  const users = useLoad(() => api.get<User[]>(usersPath(session.account_id)), [session.account_id]);
  const [creating, setCreating] = useState(false);
  return (
    <Page
      title="Users and keys"
      actions={
        admin &&
        !creating && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Create user
          </button>
        )
      }
    >
      <p class="muted small">
        Each user has one role: admin, member or reader. Kumo has no separate IAM roles or policies; open a user to see its access keys
        {admin ? ", change its role or disable it." : "."}
      </p>
      {creating && (
        <CreateUserForm
          accountId={session.account_id}
          done={() => {
            setCreating(false);
            users.reload();
          }}
          cancel={() => setCreating(false)}
        />
      )}
      <ErrorBanner error={users.error} />
      <Table
        label="Users"
        rows={users.data}
        loading={users.loading}
        rowKey={(u) => u.user_name}
        text={(u) => [u.user_name, u.role, u.user_id, u.enabled ? "enabled" : "disabled"]}
        empty={<p>No users in this account.</p>}
        columns={[
          { header: "Name", cell: (u) => <Link to={`/users/${seg(u.user_name)}`}>{u.user_name}</Link> },
          { header: "Role", cell: (u) => u.role },
          { header: "Status", cell: (u) => <StateBadge state={u.enabled ? "enabled" : "disabled"} /> },
          { header: "User id", cell: (u) => <code>{u.user_id}</code> },
          { header: "Created", cell: (u) => formatTime(u.created_at) },
          ...(admin
            ? [
                {
                  header: "Actions",
                  cell: (u: User) =>
                    u.user_name !== session.user_name && (
                      <ActionButton
                        danger
                        label={`Delete user ${u.user_name}`}
                        confirm={`Delete user ${u.user_name}? Its access keys are deleted with it.`}
                        run={() => api.del(userPath(session.account_id, u.user_name))}
                        done={users.reload}
                      >
                        Delete
                      </ActionButton>
                    ),
                },
              ]
            : []),
        ]}
      />
    </Page>
  );
}

function CreateUserForm({ accountId, done, cancel }: { accountId: string; done: () => void; cancel: () => void }) {
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [password, setPassword] = useState("");
  return (
    <ApiForm
      label="Create user"
      submit="Create user"
      run={async () => {
        if (password && password.length < 8) throw new Error("The initial password must have at least 8 characters.");
        const body: Schemas["CreateUser"] = { user_name: name.trim(), role, password: password || null };
        await api.post<User>(usersPath(accountId), body);
      }}
      done={done}
      onCancel={cancel}
    >
      <TextField label="User name" name="user-name" value={name} onInput={setName} required autoComplete="off" hint="Letters, digits and +=,.@_- ; up to 64 characters." />
      <SelectField label="Role" name="user-role" value={role} onChange={(v) => setRole(v as Role)} options={TENANT_ROLES} />
      <TextField
        label="Initial password"
        name="user-password"
        type="password"
        value={password}
        onInput={setPassword}
        autoComplete="new-password"
        hint="8 to 256 characters; tell it to the user. Leave empty for a user that only uses access keys."
      />
    </ApiForm>
  );
}
