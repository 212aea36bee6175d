import { useEffect, useState } from "preact/hooks";
import { ApiError, csrfToken, onSessionLost } from "./lib/api";
import { match, navigate, useRoute } from "./lib/router";
import { isOperator, Session, SessionContext, sessions } from "./lib/session";
import { ROUTES, RouteDef, Section } from "./routes";
import { SignIn } from "./pages/sign-in";
import { Link } from "./components/Link";
import { Loading, Page } from "./components/Page";
import { ErrorBanner } from "./components/ErrorBanner";

const SECTIONS: Section[] = ["Compute", "Network", "Storage", "Identity", "Operator"];

export const SESSION_LOST_MESSAGE = "Your session has expired or was signed out. Sign in again.";

type Boot = { state: "loading" } | { state: "signed-out"; message?: string } | { state: "signed-in"; session: Session };

export function App() {
  const [boot, setBoot] = useState<Boot>({ state: "loading" });
  const [bootError, setBootError] = useState<ApiError | undefined>(undefined);
  useEffect(() => {
    onSessionLost(() => setBoot({ state: "signed-out", message: SESSION_LOST_MESSAGE }));
    // No CSRF cookie, no session: sign in without asking (and without a 401 in the console).
    if (!csrfToken()) {
      setBoot({ state: "signed-out" });
      return () => onSessionLost(undefined);
    }
    sessions.current().then(
      (session) => setBoot({ state: "signed-in", session }),
      (e: ApiError) => {
        // A CSRF cookie whose session is refused: it ended (revoked, or expired in flight).
        if (e.status !== 401) setBootError(e);
        setBoot({ state: "signed-out", message: e.status === 401 ? SESSION_LOST_MESSAGE : undefined });
      },
    );
    return () => onSessionLost(undefined);
  }, []);
  if (boot.state === "loading") return <Loading what="Starting the console" />;
  if (boot.state === "signed-out") {
    return (
      <>
        <ErrorBanner error={bootError} />
        <SignIn message={boot.message} onSignedIn={(session) => setBoot({ state: "signed-in", session })} />
      </>
    );
  }
  return (
    <SessionContext.Provider value={boot.session}>
      <Shell
        session={boot.session}
        onSignedOut={() => setBoot({ state: "signed-out", message: "You are signed out." })}
        onSessionChanged={(session) => setBoot({ state: "signed-in", session })}
      />
    </SessionContext.Provider>
  );
}

function Shell({ session, onSignedOut }: { session: Session; onSignedOut: () => void; onSessionChanged: (s: Session) => void }) {
  const { path } = useRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  const allowed = ROUTES.filter((r) => !r.operatorOnly || isOperator(session.role));
  let page: { route: RouteDef; params: Record<string, string> } | undefined;
  for (const route of allowed) {
    const params = match(route.path, path);
    if (params) {
      page = { route, params };
      break;
    }
  }
  const signOut = async () => {
    try {
      await sessions.signOut();
    } finally {
      onSignedOut();
      navigate("/", true);
    }
  };
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <button type="button" class="menu-toggle" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <Link to="/" class="brand">
          <svg class="logo" viewBox="0 0 24 16" width="24" height="16" aria-hidden="true" focusable="false">
            <path d="M6 15h12a5 5 0 0 0 .6-9.96A6.5 6.5 0 0 0 6.1 6.2 4.4 4.4 0 0 0 6 15z" fill="currentColor" />
          </svg>
          Kumo
        </Link>
        <span class="who" aria-label="Signed in as">
          {session.user_name} @ {session.account_name ?? session.account_id} <span class="badge idle">{session.role}</span>
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <nav id="nav" class={menuOpen ? "open" : ""} aria-label="Main" onClick={() => setMenuOpen(false)}>
        {SECTIONS.map((section) => {
          const entries = allowed.filter((r) => r.nav?.section === section);
          if (entries.length === 0) return null;
          return (
            <div key={section} class="nav-section">
              <h2>{section}</h2>
              <ul>
                {entries.map((r) => (
                  <li key={r.path}>
                    <Link to={r.path} class={path === r.path || path.startsWith(`${r.path}/`) ? "current" : ""}>
                      {r.nav?.label}
                    </Link>
                  </li>
                ))}
              </ul>
            </div>
          );
        })}
      </nav>
      <main id="main" tabIndex={-1}>
        {page ? (
          <page.route.page key={path} params={page.params} />
        ) : (
          <Page title="Not found">
            <p>There is no page at this address.</p>
            <Link to="/">Go to the start page</Link>
          </Page>
        )}
      </main>
    </div>
  );
}
