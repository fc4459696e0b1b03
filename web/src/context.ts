import { createContext } from "preact";
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks";
import type { Api, Query } from "./api";
import type { Auth } from "./auth";
import type { Me, TenantSummary } from "./types";

export interface Session {
  api: Api;
  auth: Auth;
  me: Me;
  tenants: TenantSummary[];
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("no session");
  return session;
}

/** Whether the signed-in user may change `tenant`'s prices and thresholds (what the API also enforces). */
export function canAdminister(me: Me, tenant: string): boolean {
  return me.operator || (me.tenant_id === tenant.toLowerCase() && me.roles.includes("Portal.Admin"));
}

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Answers asked for before the page that shows them was rendered (see `prefetch`), taken once. */
const prefetched = new Map<string, Promise<unknown>>();

/** Starts a GET now that a page about to render will ask for (the overview, while the user is looked up). */
export function prefetch(api: Api, path: string, query?: Query): void {
  const key = JSON.stringify([path, query ?? {}]);
  const pending = api.get(path, query);
  // A failure is reported by the page that takes the answer.
  pending.catch(() => undefined);
  prefetched.set(key, pending);
}

/** GETs `path` (null: nothing yet) and re-fetches when it or the query changes; the latest answer wins. */
export function useApi<T>(path: string | null, query?: Query): Loaded<T> {
  const { api } = useSession();
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({
    data: null,
    error: null,
    loading: path !== null,
  });
  const [generation, setGeneration] = useState(0);
  const key = path === null ? null : JSON.stringify([path, query ?? {}]);
  const latest = useRef(0);
  useEffect(() => {
    if (path === null) return;
    const ticket = ++latest.current;
    setState((s) => ({ data: s.data, error: null, loading: true }));
    const early = generation === 0 && key !== null ? prefetched.get(key) : undefined;
    if (key !== null) prefetched.delete(key);
    ((early as Promise<T> | undefined) ?? api.get<T>(path, query)).then(
      (data) => ticket === latest.current && setState({ data, error: null, loading: false }),
      (error) => ticket === latest.current && setState({ data: null, error, loading: false }),
    );
    // `key` stands for path and query.
  }, [key, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { ...state, reload };
}
