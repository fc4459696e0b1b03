// Sign-in with OpenID Connect (authorization code + PKCE) through oidc-client-ts, against the authority portal-api
// names in /config.json (Entra ID in production, the simulator in the demo and tests).
//
// Tokens live in sessionStorage only (gone with the tab; never in localStorage or a URL). They are renewed
// silently with the refresh token before they expire; when that fails the portal says so and offers to sign in
// again.
import { UserManager, WebStorageStateStore, type User } from "oidc-client-ts";
import type { ClientConfig } from "./types";

export const CALLBACK_PATH = "/auth/callback";

export class SessionEnded extends Error {
  constructor(message = "Your session has ended.") {
    super(message);
  }
}

type Listener = () => void;

export class Auth {
  private readonly manager: UserManager;
  private user: User | null = null;
  private listeners = new Set<Listener>();
  /** Why the last silent renewal failed, shown until the user signs in again. */
  renewError: string | null = null;

  constructor(config: ClientConfig) {
    const origin = window.location.origin;
    const store = new WebStorageStateStore({ store: window.sessionStorage });
    this.manager = new UserManager({
      authority: config.authority,
      client_id: config.client_id,
      redirect_uri: origin + CALLBACK_PATH,
      post_logout_redirect_uri: origin + "/",
      response_type: "code",
      scope: `openid profile offline_access ${config.scope}`,
      userStore: store,
      stateStore: store,
      loadUserInfo: false,
      monitorSession: false,
      automaticSilentRenew: true,
      // Entra ID's multi-tenant discovery names `{tenantid}` as issuer; each token carries its own tenant.
      filterProtocolClaims: true,
    });
    this.manager.events.addUserLoaded((user) => {
      this.user = user;
      this.renewError = null;
      this.emit();
    });
    this.manager.events.addSilentRenewError((error) => {
      this.renewError = error.message;
      this.emit();
    });
    this.manager.events.addUserUnloaded(() => {
      this.user = null;
      this.emit();
    });
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit() {
    for (const listener of this.listeners) listener();
  }

  /** Completes a sign-in redirect when the page is the callback; returns where the user was going. */
  async start(): Promise<{ signedIn: boolean; returnTo?: string; error?: string }> {
    if (window.location.pathname === CALLBACK_PATH) {
      const params = new URLSearchParams(window.location.search);
      if (params.has("error")) {
        const error = params.get("error_description") ?? params.get("error") ?? "sign-in failed";
        window.history.replaceState(null, "", "/");
        await this.manager.clearStaleState();
        return { signedIn: false, error };
      }
      try {
        const user = await this.manager.signinRedirectCallback();
        this.user = user;
        const state = user.state as { returnTo?: string } | undefined;
        const returnTo = state?.returnTo && state.returnTo.startsWith("/") ? state.returnTo : "/";
        // The code leaves the address bar (and the history) at once.
        window.history.replaceState(null, "", returnTo);
        return { signedIn: true, returnTo };
      } catch (error) {
        window.history.replaceState(null, "", "/");
        return { signedIn: false, error: error instanceof Error ? error.message : String(error) };
      }
    }
    this.user = await this.manager.getUser();
    if (this.user?.expired) {
      try {
        this.user = await this.manager.signinSilent();
      } catch {
        await this.manager.removeUser();
        this.user = null;
      }
    }
    return { signedIn: this.user !== null };
  }

  get signedIn(): boolean {
    return this.user !== null;
  }

  get displayName(): string {
    const profile = this.user?.profile;
    return (profile?.name as string | undefined) ?? (profile?.preferred_username as string | undefined) ?? "";
  }

  get username(): string {
    return (this.user?.profile?.preferred_username as string | undefined) ?? "";
  }

  /** A valid access token, renewed first when it is about to expire. */
  async token(): Promise<string> {
    if (!this.user) throw new SessionEnded("You are not signed in.");
    if (this.user.expires_in !== undefined && this.user.expires_in < 30) {
      await this.renew();
    }
    if (!this.user) throw new SessionEnded();
    return this.user.access_token;
  }

  /** Renews the tokens now (after a 401); throws SessionEnded when that is not possible. */
  async renew(): Promise<void> {
    try {
      this.user = await this.manager.signinSilent();
    } catch (error) {
      this.renewError = error instanceof Error ? error.message : String(error);
      this.emit();
      throw new SessionEnded("Your session has ended and could not be renewed.");
    }
  }

  signIn(returnTo: string = window.location.pathname + window.location.search): Promise<void> {
    return this.manager.signinRedirect({ state: { returnTo } });
  }

  async signOut(): Promise<void> {
    const idToken = this.user?.id_token;
    await this.manager.removeUser();
    try {
      await this.manager.signoutRedirect({ id_token_hint: idToken });
    } catch {
      // The identity provider offers no sign-out page: the local session is gone, which is what matters.
      window.location.assign("/");
    }
  }
}
