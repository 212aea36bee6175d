import { useState } from "preact/hooks";
import { ApiForm } from "../components/Action";
import { TextField } from "../components/Field";
import { Session, sessions } from "../lib/session";

export function SignIn({ message, onSignedIn }: { message?: string; onSignedIn: (session: Session) => void }) {
  const [account, setAccount] = useState("");
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  let session: Session | undefined;
  return (
    <main class="sign-in" id="main">
      <h1>Sign in to Kumo</h1>
      {message && (
        <p class="banner info" role="status">
          {message}
        </p>
      )}
      <ApiForm
        label="Sign in"
        submit="Sign in"
        run={async () => {
          session = await sessions.signIn(account.trim(), user.trim(), password);
        }}
        done={() => session && onSignedIn(session)}
      >
        <TextField label="Account" name="account" value={account} onInput={setAccount} required autoComplete="organization" hint="The 12-digit account id or the account's name." />
        <TextField label="User name" name="user_name" value={user} onInput={setUser} required autoComplete="username" />
        <TextField label="Password" name="password" type="password" value={password} onInput={setPassword} required autoComplete="current-password" />
      </ApiForm>
    </main>
  );
}
