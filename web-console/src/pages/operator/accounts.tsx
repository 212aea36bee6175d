// Operator: the cloud's accounts. Create one together with its first admin, disable or
// enable it, and see or add its users.
import { useRef, useState } from "preact/hooks";
import type { Schemas } from "../../api/types";
import { ActionButton, ApiForm } from "../../components/Action";
import { ErrorBanner } from "../../components/ErrorBanner";
import { SelectField, TextField } from "../../components/Field";
import { Page } from "../../components/Page";
import { StateBadge } from "../../components/StateBadge";
import { Table } from "../../components/Table";
import { api, ApiError, seg } from "../../lib/api";
import { formatTime } from "../../lib/format";
import { useLoad } from "../../lib/poll";

type Account = Schemas["Account"];
type User = Schemas["User"];
type Role = Schemas["Role"];

const ROLES: { value: Role; label: string }[] = [
  { value: "admin", label: "admin: everything in the account, users included" },
  { value: "member", label: "member: create and change resources" },
  { value: "reader", label: "reader: look only" },
];

export function Accounts(_props: { params: Record<string, string> }) {
  const accounts = useLoad(() => api.get<Account[]>("/v1/accounts"), []);
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [shown, setShown] = useState<Account | undefined>(undefined);
  const toggle = (account: Account, enable: boolean) =>
    api.post<Account>(`/v1/accounts/${seg(account.account_id)}/${enable ? "enable" : "disable"}`);
  return (
    <Page
      title="Accounts"
      actions={
        !creating && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Create account
          </button>
        )
      }
    >
      {notice && (
        <div class="banner success" role="status">
          <p>{notice}</p>
        </div>
      )}
      {creating && (
        <CreateAccountForm
          onCancel={() => setCreating(false)}
          onCreated={(message) => {
            setCreating(false);
            setNotice(message);
            accounts.reload();
          }}
          onAccountMade={accounts.reload}
        />
      )}
      <ErrorBanner error={accounts.error} />
      <Table<Account>
        label="Accounts"
        rows={accounts.data}
        loading={accounts.error ? false : undefined}
        rowKey={(a) => a.account_id}
        text={(a) => [a.name, a.account_id, a.enabled ? "enabled" : "disabled", a.is_operator ? "operator" : ""]}
        empty="No accounts yet. Create one for each team or customer that uses this cloud."
        columns={[
          {
            header: "Name",
            cell: (a) => (
              <>
                <strong>{a.name}</strong>
                {a.is_operator && <span class="badge idle"> operators</span>}
              </>
            ),
          },
          { header: "Account id", cell: (a) => <code>{a.account_id}</code> },
          { header: "State", cell: (a) => <StateBadge state={a.enabled ? "enabled" : "disabled"} /> },
          { header: "Created", cell: (a) => formatTime(a.created_at) },
          {
            header: "Actions",
            cell: (a) => (
              <>
                <span class="action">
                  <button type="button" aria-label={`Users of ${a.name}`} aria-pressed={shown?.account_id === a.account_id} onClick={() => setShown(shown?.account_id === a.account_id ? undefined : a)}>
                    Users
                  </button>
                </span>
                {!a.is_operator &&
                  (a.enabled ? (
                    <ActionButton
                      danger
                      confirm={`Disable account ${a.name}? Its users can no longer sign in, and their tokens and access keys are refused. Its resources stay.`}
                      run={() => toggle(a, false)}
                      done={accounts.reload}
                      label={`Disable ${a.name}`}
                    >
                      Disable
                    </ActionButton>
                  ) : (
                    <ActionButton run={() => toggle(a, true)} done={accounts.reload} label={`Enable ${a.name}`}>
                      Enable
                    </ActionButton>
                  ))}
              </>
            ),
          },
        ]}
      />
      {shown && <AccountUsers key={shown.account_id} account={shown} onClose={() => setShown(undefined)} />}
    </Page>
  );
}

/** The account and, in the same form, its first admin (two API calls: the account, then
 * the user in it). */
function CreateAccountForm(props: { onCancel: () => void; onCreated: (message: string) => void; onAccountMade: () => void }) {
  const [name, setName] = useState("");
  const [adminName, setAdminName] = useState("admin");
  const [password, setPassword] = useState("");
  // The account a submit made when its admin then failed: submitting again adds the admin only.
  const made = useRef<Account | undefined>(undefined);
  const message = useRef("");
  const run = async () => {
    const wanted = name.trim();
    const admin = adminName.trim();
    // Checked first so that a short password does not leave an account without its admin.
    if (admin && (password.length < 8 || password.length > 256)) throw new Error("The admin's password must be 8 to 256 characters.");
    const account = made.current?.name === wanted ? made.current : await api.post<Account>("/v1/accounts", { name: wanted });
    if (made.current !== account) {
      made.current = account;
      props.onAccountMade();
    }
    if (!admin) {
      message.current = `Account ${account.name} (${account.account_id}) created, with no users yet.`;
      return;
    }
    try {
      await api.post<User>(`/v1/accounts/${seg(account.account_id)}/users`, { user_name: admin, role: "admin", password });
    } catch (e) {
      const why = (e instanceof Error ? e.message : String(e)).replace(/\.?$/, ".");
      const text = `Account ${account.name} was created, but its admin was not: ${why} Correct the admin and create again (only the admin is added).`;
      throw e instanceof ApiError ? new ApiError(e.status, e.code, text, e.requestId) : new Error(text);
    }
    message.current = `Account ${account.name} (${account.account_id}) created; its admin signs in with account ${account.name}, user ${admin} and the password you chose.`;
  };
  return (
    <ApiForm
      label="Create account"
      submit="Create account"
      run={run}
      done={() => props.onCreated(message.current)}
      onCancel={props.onCancel}
    >
      <TextField label="Account name" name="account-name" value={name} onInput={setName} required hint="1–64 letters, digits, - _ or .; unique in the cloud. Users type it to sign in." />
      <fieldset class="plain">
        <legend>The account's first admin</legend>
        <TextField label="Admin user name" name="admin-user-name" value={adminName} onInput={setAdminName} autoComplete="off" hint="Leave empty to add users later." />
        <TextField
          label="Admin password"
          name="admin-password"
          type="password"
          value={password}
          onInput={setPassword}
          required={adminName.trim() !== ""}
          autoComplete="new-password"
          hint="8–256 characters. Give it to the admin; they can change it after signing in."
        />
      </fieldset>
    </ApiForm>
  );
}

/** An account's users, and a form to add one (an admin the create form did not make). */
function AccountUsers({ account, onClose }: { account: Account; onClose: () => void }) {
  const users = useLoad(() => api.get<User[]>(`/v1/accounts/${seg(account.account_id)}/users`), [account.account_id]);
  const [adding, setAdding] = useState(false);
  const [userName, setUserName] = useState("admin");
  const [role, setRole] = useState<Role>("admin");
  const [password, setPassword] = useState("");
  return (
    <section class="card" aria-labelledby="account-users-title">
      <div class="page-header">
        <h2 id="account-users-title">Users of {account.name}</h2>
        <div class="actions">
          {!adding && (
            <button type="button" onClick={() => setAdding(true)}>
              Add user
            </button>
          )}
          <button type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
      {adding && (
        <ApiForm
          label={`Add a user to ${account.name}`}
          submit="Add user"
          run={() => api.post<User>(`/v1/accounts/${seg(account.account_id)}/users`, { user_name: userName.trim(), role, password: password || null })}
          done={() => {
            setAdding(false);
            setPassword("");
            users.reload();
          }}
          onCancel={() => setAdding(false)}
        >
          <TextField label="User name" name="new-user-name" value={userName} onInput={setUserName} required autoComplete="off" />
          <SelectField label="Role" name="new-user-role" value={role} onChange={(v) => setRole(v as Role)} options={ROLES} />
          <TextField label="Password" name="new-user-password" type="password" value={password} onInput={setPassword} autoComplete="new-password" hint="8–256 characters; empty: the user signs in only with access keys." />
        </ApiForm>
      )}
      <ErrorBanner error={users.error} />
      <Table<User>
        label={`Users of ${account.name}`}
        rows={users.data}
        loading={users.error ? false : undefined}
        rowKey={(u) => u.user_id}
        text={(u) => [u.user_name, u.role, u.user_id]}
        empty="No users in this account yet."
        columns={[
          { header: "User", cell: (u) => <strong>{u.user_name}</strong> },
          { header: "Role", cell: (u) => u.role },
          { header: "State", cell: (u) => <StateBadge state={u.enabled ? "enabled" : "disabled"} /> },
          { header: "Created", cell: (u) => formatTime(u.created_at) },
        ]}
      />
    </section>
  );
}
