// Shared pieces of every page: headings, loading / empty / error states that say what is happening and what to
// do, figure cards, export buttons and pagers.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, NetworkError, type Query } from "./api";
import { SessionEnded } from "./auth";
import { useSession } from "./context";
import { Link } from "./router";

/** Whether a page has been shown since the document loaded (the first one keeps the browser's own focus). */
let shown = false;

export function Page(props: { title: string; subtitle?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.title} · sua`;
  }, [props.title]);
  useEffect(() => {
    // After a client-side navigation, screen readers and keyboards start at the new page's heading; on the first
    // page the skip link stays the first stop.
    if (shown && (document.activeElement === document.body || document.activeElement?.closest("nav"))) {
      heading.current?.focus({ preventScroll: true });
    }
    shown = true;
  }, []);
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-head">
        <div>
          <h1 id="page-title" tabIndex={-1} ref={heading}>
            {props.title}
          </h1>
          {props.subtitle && <p class="subtitle">{props.subtitle}</p>}
        </div>
        {props.actions && <div class="actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  );
}

/** A form control with its visible label, tied by `id` (the label's text alone names the control). */
export function Field({ id, label, children }: { id: string; label: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="state loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="state empty" role="status">
      <p class="state-title">{title}</p>
      {children && <p>{children}</p>}
    </div>
  );
}

/** What went wrong, and what the reader can do about it. */
export function describe(error: unknown): { title: string; advice: string } {
  if (error instanceof SessionEnded) {
    return { title: error.message, advice: "Sign in again to continue." };
  }
  if (error instanceof NetworkError) {
    return {
      title: "The portal API cannot be reached.",
      advice: "Check your network connection and that portal-api is running, then try again.",
    };
  }
  if (error instanceof ApiError) {
    const detail = error.problem.detail ?? error.message;
    switch (error.status) {
      case 400:
        return { title: `The request was not accepted: ${detail}.`, advice: "Change the filters or values and try again." };
      case 403:
        return { title: `You may not do this: ${detail}.`, advice: "Ask an administrator of your organisation for the role it needs." };
      case 404:
        return {
          title: "Not found: this tenant does not exist, or your account may not see it.",
          advice: "Open your own organisation's overview from the menu, or sign in with an account of that tenant.",
        };
      case 429:
        return {
          title: "Too many requests in a short time.",
          advice: `Wait ${error.retryAfter ?? "a few"} seconds, then try again.`,
        };
      case 503:
        return {
          title: `The service is busy or starting: ${detail}.`,
          advice: `Try again in ${error.retryAfter ?? "a few"} seconds.`,
        };
      default:
        return {
          title: `The portal API answered ${error.status}: ${detail}.`,
          advice: "Try again; if it keeps failing, your operator can find the cause in portal-api's log.",
        };
    }
  }
  return { title: error instanceof Error ? error.message : String(error), advice: "Reload the page and try again." };
}

export function ErrorState({ error, what, onRetry }: { error: unknown; what: string; onRetry?: () => void }) {
  const { auth } = useSession();
  const { title, advice } = describe(error);
  const session = error instanceof SessionEnded;
  return (
    <div class="state error" role="alert">
      <p class="state-title">
        Could not load {what}. {title}
      </p>
      <p>{advice}</p>
      <p class="row">
        {session ? (
          <button type="button" class="primary" onClick={() => auth.signIn()}>
            Sign in again
          </button>
        ) : (
          onRetry && (
            <button type="button" onClick={onRetry}>
              Try again
            </button>
          )
        )}
        {error instanceof ApiError && error.status === 404 && <Link href="/">Go to my overview</Link>}
      </p>
    </div>
  );
}

export function Card(props: { label: string; testid: string; children: ComponentChildren; hint?: ComponentChildren; tone?: "good" | "warn" }) {
  return (
    <div class={`card ${props.tone ?? ""}`}>
      <p class="card-label" id={`${props.testid}-label`}>
        {props.label}
      </p>
      <p class="card-value" data-testid={props.testid} aria-labelledby={`${props.testid}-label`}>
        {props.children}
      </p>
      {props.hint && <p class="card-hint">{props.hint}</p>}
    </div>
  );
}

/** CSV and XLSX of a report with the list's filters, fetched with the token and saved as a file. */
export function ExportButtons({ tenant, report, query }: { tenant: string; report: string; query?: Query }) {
  const { api } = useSession();
  const [status, setStatus] = useState<string>("");
  const [busy, setBusy] = useState(false);
  const save = async (format: "csv" | "xlsx") => {
    setBusy(true);
    setStatus(`Preparing ${format.toUpperCase()}…`);
    try {
      const name = await api.download(`/tenants/${encodeURIComponent(tenant)}/reports/${report}.${format}`, query, `${report}.${format}`);
      setStatus(`Saved ${name}.`);
    } catch (error) {
      const { title, advice } = describe(error);
      setStatus(`Export failed. ${title} ${advice}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="exports">
      <button type="button" disabled={busy} onClick={() => save("csv")} data-testid={`export-${report}-csv`}>
        Export CSV
      </button>
      <button type="button" disabled={busy} onClick={() => save("xlsx")} data-testid={`export-${report}-xlsx`}>
        Export XLSX
      </button>
      <span class="export-status" role="status" aria-live="polite">
        {status}
      </span>
    </div>
  );
}

/** Cursor paging: the API gives the next cursor; earlier ones are remembered for "Previous". A change of
 * `reset` (the filters) starts again at page 1. */
export function usePager(reset: unknown) {
  const key = JSON.stringify(reset);
  const [state, setState] = useState<{ key: string; stack: string[] }>({ key, stack: [] });
  const stack = state.key === key ? state.stack : [];
  return {
    cursor: stack.length ? stack[stack.length - 1] : undefined,
    page: stack.length + 1,
    next: (cursor: string) => setState({ key, stack: [...stack, cursor] }),
    previous: () => setState({ key, stack: stack.slice(0, -1) }),
  };
}

export function Pager(props: { page: number; size: number; shown: number; total?: number; next: string | null; onNext: (c: string) => void; onPrevious: () => void }) {
  const first = (props.page - 1) * props.size + 1;
  const last = first + props.shown - 1;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" onClick={props.onPrevious} disabled={props.page === 1}>
        Previous page
      </button>
      <span aria-live="polite">
        {props.shown === 0
          ? "No rows"
          : `Rows ${first.toLocaleString()}–${last.toLocaleString()}${props.total !== undefined ? ` of ${props.total.toLocaleString()}` : ""}`}
      </span>
      <button type="button" onClick={() => props.next && props.onNext(props.next)} disabled={!props.next}>
        Next page
      </button>
    </nav>
  );
}
