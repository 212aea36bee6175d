// My account: who is signed in, where, the password change, and ending every session.
import { useState } from "preact/hooks";
import { ActionButton, ApiForm } from "../components/Action";
import { TextField } from "../components/Field";
import { Link } from "../components/Link";
import { Details, Page } from "../components/Page";
import { api } from "../lib/api";
import { formatTime } from "../lib/format";
import { sessions, useSession } from "../lib/session";
import { userPath } from "./users/common";

/** Why a new password cannot be sent, in plain words; undefined when it can. */
export function passwordProblem(current: string, next: string, confirm: string): string | undefined {
  if (!current) return "Enter your current password.";
  if (next.length < 8) return "The new password must have at least 8 characters.";
  if (next.length > 256) return "The new password must have at most 256 characters.";
  if (next !== confirm) return "The new password and its confirmation differ.";
  if (next === current) return "The new password is the same as the current one.";
  return undefined;
}

export function Account(_props: { params: Record<string, string> }) {
  const session = useSession();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [changed, setChanged] = useState(false);
  // The password change starts a new session (new cookies): its end is the answer's.
  const [expiresAt, setExpiresAt] = useState(session.expires_at);
  return (
    <Page title="My account">
      <Details
        rows={[
          ["User", <Link to={`/users/${encodeURIComponent(session.user_name)}`}>{session.user_name}</Link>],
          ["Role", session.role],
          ["Account", session.account_name],
          ["Account id", <code>{session.account_id}</code>],
          ["Session ends", formatTime(expiresAt)],
        ]}
      />
      <h2>Password</h2>
      {changed && (
        <p class="banner success" role="status">
          Password changed. You stay signed in here; your other sessions were signed out.
        </p>
      )}
      <ApiForm
        label="Change password"
        submit="Change password"
        run={async () => {
          setChanged(false);
          const problem = passwordProblem(current, next, confirm);
          if (problem) throw new Error(problem);
          // The answer sets fresh session cookies (the change revoked the old token).
          const fresh = await sessions.changePassword(current, next);
          setExpiresAt(fresh.expires_at);
        }}
        done={() => {
          setCurrent("");
          setNext("");
          setConfirm("");
          setChanged(true);
        }}
      >
        <TextField label="Current password" name="current-password" type="password" value={current} onInput={setCurrent} required autoComplete="current-password" />
        <TextField label="New password" name="new-password" type="password" value={next} onInput={setNext} required autoComplete="new-password" hint="8 to 256 characters." />
        <TextField label="Confirm new password" name="confirm-password" type="password" value={confirm} onInput={setConfirm} required autoComplete="new-password" />
      </ApiForm>
      <h2>Sessions</h2>
      <p>
        End every session of yours: in this browser and any other. Access keys keep working (delete or deactivate them on{" "}
        <Link to={`/users/${encodeURIComponent(session.user_name)}`}>your user page</Link>).
      </p>
      <ActionButton
        confirm="End all your sessions, this one included? You will have to sign in again."
        run={async () => {
          await api.post(`${userPath(session.account_id, session.user_name)}/sign-out`);
          // This session ended too: clear its cookies (its token is refused now, so this may
          // fail) and let the next call's 401 take the app back to sign-in.
          await sessions.signOut().catch(() => undefined);
          await api.get(userPath(session.account_id, session.user_name)).catch(() => undefined);
        }}
      >
        End all sessions
      </ActionButton>
    </Page>
  );
}
