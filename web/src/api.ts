// The REST API client: bearer token on every request, problem documents (RFC 9457) turned into errors that say
// what happened, one retry after a silent token renewal on 401, and downloads of exports as files (the token
// goes in a header, never in a URL).
import { type Auth, SessionEnded } from "./auth";
import type { Problem } from "./types";

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  readonly retryAfter: number | null;

  constructor(status: number, problem: Problem, retryAfter: number | null) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** The API could not be reached at all. */
export class NetworkError extends Error {}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export class Api {
  constructor(
    private readonly base: string,
    private readonly auth: Auth,
  ) {}

  private async send(path: string, init: RequestInit, retried = false): Promise<Response> {
    const token = await this.auth.token();
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${token}`);
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    let response: Response;
    try {
      response = await fetch(this.base + path, { ...init, headers, cache: "no-cache" });
    } catch (error) {
      throw new NetworkError(error instanceof Error ? error.message : String(error));
    }
    if (response.status === 401 && !retried) {
      await this.auth.renew();
      return this.send(path, init, true);
    }
    if (response.status === 401) throw new SessionEnded("The API no longer accepts your sign-in.");
    if (!response.ok) {
      let problem: Problem = { status: response.status, title: response.statusText };
      try {
        problem = (await response.json()) as Problem;
      } catch {
        // Not a problem document (a proxy's error page): keep the status line.
      }
      const retry = Number(response.headers.get("Retry-After"));
      throw new ApiError(response.status, problem, Number.isFinite(retry) && retry > 0 ? retry : null);
    }
    return response;
  }

  async get<T>(path: string, query?: Query): Promise<T> {
    const response = await this.send(withQuery(path, query), { method: "GET" });
    return (await response.json()) as T;
  }

  async put<T>(path: string, body: unknown): Promise<T> {
    const response = await this.send(path, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return (await response.json()) as T;
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    const response = await this.send(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return (await response.json()) as T;
  }

  async delete<T>(path: string): Promise<T> {
    const response = await this.send(path, { method: "DELETE" });
    return (await response.json()) as T;
  }

  /** Fetches a report with the token and saves it as a file; returns the file name. */
  async download(path: string, query: Query | undefined, fallbackName: string): Promise<string> {
    const response = await this.send(withQuery(path, query), { method: "GET", headers: { Accept: "*/*" } });
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") ?? "";
    const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
    const name = match ? decodeURIComponent(match[1]) : fallbackName;
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return name;
  }
}
