// The portal's frame: sign-in screen, header with the tenant switcher and the user, the navigation, and the page
// of the current route. Pages other than the overview are loaded when first opened.
import type { ComponentChildren, ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { Api } from "./api";
import type { Auth } from "./auth";
import { canAdminister, prefetch, SessionContext, type Session, useSession } from "./context";
import { Overview, overviewRequests } from "./pages/Overview";
import { trendDays } from "./pages/OverviewHistory";
import { Link, navigate, parseRoute, tenantPath, useLocation } from "./router";
import type { Me, TenantSummary } from "./types";
import { describe, ErrorState, Loading } from "./ui";

export function Fatal({ title, children }: { title: string; children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · sua`;
  }, [title]);
  return (
    <main class="standalone">
      <h1>{title}</h1>
      <p role="alert">{children}</p>
    </main>
  );
}

export function SignIn({ auth, error }: { auth: Auth; error?: string }) {
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>(error);
  useEffect(() => {
    document.title = "Sign in · sua";
  }, []);
  const start = async () => {
    setBusy(true);
    setFailure(undefined);
    try {
      const here = window.location.pathname + window.location.search;
      await auth.signIn(here === "/auth/callback" ? "/" : here);
    } catch (e) {
      setBusy(false);
      setFailure(`The sign-in service could not be reached (${e instanceof Error ? e.message : String(e)}). Try again in a moment.`);
    }
  };
  return (
    <main class="standalone">
      <p class="brand-large" aria-hidden="true">
        sua
      </p>
      <h1>Microsoft 365 licences and Teams calls</h1>
      <p>Sign in with your work account to see your organisation's licence spend, savings and call usage.</p>
      {failure && (
        <p class="state error" role="alert">
          Sign-in did not complete: {failure}
        </p>
      )}
      <button type="button" class="primary large" onClick={start} disabled={busy}>
        {busy ? "Opening sign-in…" : "Sign in"}
      </button>
    </main>
  );
}

interface TenantList {
  items: TenantSummary[];
}

export function App({ auth, api }: { auth: Auth; api: Api }) {
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    setError(null);
    // The overview (where most visits start) asks for its figures at once, not after the user is known.
    const route = parseRoute(window.location.pathname);
    if (attempt === 0 && route.page === "tenant" && route.view === "overview") {
      const days = trendDays(new URLSearchParams(window.location.search));
      for (const [path, query] of Object.values(overviewRequests(route.tenant, days))) prefetch(api, path, query);
    }
    Promise.all([api.get<Me>("/me"), api.get<TenantList>("/tenants")]).then(
      ([me, tenants]) => setSession({ api, auth, me, tenants: tenants.items }),
      setError,
    );
  }, [attempt]);
  if (error) {
    const { title, advice } = describe(error);
    return (
      <main class="standalone">
        <h1>The portal could not start</h1>
        <p role="alert">
          {title} {advice}
        </p>
        <p class="row">
          <button type="button" onClick={() => setAttempt((a) => a + 1)}>
            Try again
          </button>
          <button type="button" onClick={() => auth.signOut()}>
            Sign out
          </button>
        </p>
      </main>
    );
  }
  if (!session) {
    return (
      <main class="standalone">
        <Loading what="your account" />
      </main>
    );
  }
  return (
    <SessionContext.Provider value={session}>
      <Shell />
    </SessionContext.Provider>
  );
}

const NAV: { view: string; label: string; admin?: boolean }[] = [
  { view: "overview", label: "Overview" },
  { view: "licences", label: "Licences" },
  { view: "chargeback", label: "Chargeback" },
  { view: "findings", label: "Findings" },
  { view: "users", label: "Users" },
  { view: "calls", label: "Call usage" },
  { view: "quality", label: "Call quality" },
  { view: "status", label: "Tenant status" },
  { view: "settings", label: "Settings", admin: true },
];

type PageModule = { default: ComponentType<{ tenant: string }> };
const LAZY: Record<string, () => Promise<PageModule>> = {
  licences: () => import("./pages/Licences"),
  chargeback: () => import("./pages/Chargeback"),
  findings: () => import("./pages/Findings"),
  users: () => import("./pages/Users"),
  calls: () => import("./pages/Calls"),
  quality: () => import("./pages/Quality"),
  status: () => import("./pages/Status"),
  settings: () => import("./pages/Settings"),
};

function LazyPage({ view, tenant }: { view: string; tenant: string }) {
  const [loaded, setLoaded] = useState<{ view: string; page: PageModule["default"] } | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    setError(null);
    LAZY[view]().then((module) => setLoaded({ view, page: module.default }), setError);
  }, [view]);
  if (error) return <ErrorState what="this page" error={error} onRetry={() => window.location.reload()} />;
  if (!loaded || loaded.view !== view) return <Loading what="the page" />;
  const Component = loaded.page;
  return <Component tenant={tenant} />;
}

function OperatorLazy() {
  const [page, setPage] = useState<ComponentType | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    import("./pages/Operator").then((m) => setPage(() => m.default), setError);
  }, []);
  if (error) return <ErrorState what="this page" error={error} onRetry={() => window.location.reload()} />;
  if (!page) return <Loading what="the page" />;
  const Component = page;
  return <Component />;
}

function Shell() {
  const session = useSession();
  const { me, tenants, auth } = session;
  const { path } = useLocation();
  const route = parseRoute(path);
  const [renewError, setRenewError] = useState<string | null>(auth.renewError);
  useEffect(() => auth.subscribe(() => setRenewError(auth.renewError)), [auth]);

  useEffect(() => {
    if (route.page === "home") navigate(me.operator ? "/operator" : tenantPath(me.tenant_id), true);
  }, [route.page]);

  const tenant = route.page === "tenant" ? route.tenant.toLowerCase() : me.operator ? null : me.tenant_id;
  const view = route.page === "tenant" ? route.view : null;
  const current = tenants.find((t) => t.tenant_id === tenant);
  const admin = tenant !== null && canAdminister(me, tenant);
  const role = me.operator ? "Operator" : me.roles.includes("Portal.Admin") ? "Admin" : "Reader";

  let content: ComponentChildren;
  if (route.page === "operator") {
    content = me.operator ? <OperatorLazy /> : <NotAllowed what="The all-tenants view is for the service provider's operators." />;
  } else if (route.page === "tenant") {
    if (route.view === "overview") content = <Overview tenant={route.tenant} />;
    else if (route.view === "settings" && !admin)
      content = <NotAllowed what="Settings (prices, thresholds and their audit log) are for your organisation's portal admins." />;
    else content = <LazyPage view={route.view} tenant={route.tenant} />;
  } else if (route.page === "missing") {
    content = (
      <section class="page">
        <h1 id="page-title" tabIndex={-1}>
          Page not found
        </h1>
        <p>
          There is no page at <code>{path}</code>. <Link href="/">Go to the start page</Link>.
        </p>
      </section>
    );
  } else {
    content = <Loading what="your start page" />;
  }

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="brand" aria-label="sua home">
          sua
        </Link>
        {me.operator && tenants.length > 0 ? (
          <div class="switcher">
            <label for="tenant-switcher">Tenant</label>
            <select
              id="tenant-switcher"
              value={tenant ?? ""}
              onChange={(e) => {
                const id = (e.target as HTMLSelectElement).value;
                navigate(id ? tenantPath(id, view ?? "overview") : "/operator");
              }}
            >
              <option value="">All tenants</option>
              {tenants.map((t) => (
                <option value={t.tenant_id}>{t.display_name}</option>
              ))}
            </select>
          </div>
        ) : (
          <span class="tenant-name">{current?.display_name ?? ""}</span>
        )}
        <div class="user">
          <span>
            <span class="user-name" data-testid="user-name">
              {auth.displayName || me.name}
            </span>{" "}
            <span class="role" data-testid="user-role">
              {role}
            </span>
          </span>
          <button type="button" onClick={() => auth.signOut()}>
            Sign out
          </button>
        </div>
      </header>
      {renewError && (
        <div class="banner" role="alert">
          Your sign-in could not be renewed ({renewError}). Pages may stop loading.{" "}
          <button type="button" class="primary" onClick={() => auth.signIn()}>
            Sign in again
          </button>
        </div>
      )}
      <div class="body">
        <nav class="side" aria-label="Portal">
          {me.operator && (
            <ul>
              <li>
                <Link href="/operator" aria-current={route.page === "operator" ? "page" : undefined}>
                  All tenants
                </Link>
              </li>
            </ul>
          )}
          {tenant && (
            <>
              {me.operator && <p class="nav-tenant">{current?.display_name ?? tenant}</p>}
              <ul>
                {NAV.filter((item) => !item.admin || admin).map((item) => (
                  <li>
                    <Link href={tenantPath(tenant, item.view)} aria-current={view === item.view ? "page" : undefined}>
                      {item.label}
                    </Link>
                  </li>
                ))}
              </ul>
            </>
          )}
        </nav>
        <main id="main" class="content" tabIndex={-1}>
          {content}
        </main>
      </div>
    </div>
  );
}

function NotAllowed({ what }: { what: string }) {
  return (
    <section class="page">
      <h1 id="page-title" tabIndex={-1}>
        Not available to your account
      </h1>
      <p class="state" role="status">
        {what} <Link href="/">Back to the start page</Link>.
      </p>
    </section>
  );
}
