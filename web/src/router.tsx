// Client-side routes on the History API: portal-api answers every non-file path with index.html, so each page has
// a real URL (bookmarks, reload, back and forward work).
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";

const CHANGE = "sua:navigate";

export function navigate(to: string, replace = false): void {
  if (to === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(CHANGE));
}

export function useLocation(): { path: string; search: URLSearchParams } {
  const [location, setLocation] = useState(() => window.location.pathname + window.location.search);
  useEffect(() => {
    const update = () => setLocation(window.location.pathname + window.location.search);
    window.addEventListener("popstate", update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  const url = new URL(location, window.location.origin);
  return { path: url.pathname, search: url.searchParams };
}

interface LinkProps {
  href: string;
  children: ComponentChildren;
  class?: string;
  "aria-current"?: "page";
  "aria-label"?: string;
}

export function Link({ href, children, ...rest }: LinkProps) {
  const onClick = (event: MouseEvent) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}

export type Route =
  | { page: "home" }
  | { page: "operator" }
  | { page: "tenant"; tenant: string; view: string }
  | { page: "missing" };

export const TENANT_VIEWS = ["overview", "licences", "chargeback", "findings", "users", "calls", "quality", "status", "settings"];

export function parseRoute(path: string): Route {
  const parts = path.split("/").filter(Boolean);
  if (parts.length === 0) return { page: "home" };
  if (parts[0] === "operator" && parts.length === 1) return { page: "operator" };
  if (parts[0] === "t" && parts.length >= 2 && parts.length <= 3) {
    const view = parts[2] ?? "overview";
    if (TENANT_VIEWS.includes(view)) return { page: "tenant", tenant: decodeURIComponent(parts[1]), view };
  }
  return { page: "missing" };
}

export function tenantPath(tenant: string, view = "overview"): string {
  return view === "overview" ? `/t/${encodeURIComponent(tenant)}` : `/t/${encodeURIComponent(tenant)}/${view}`;
}
