// The portal starts here: read the sign-in settings portal-api publishes, finish or start the OpenID Connect
// sign-in, learn who the user is, then show the pages.
import { type ComponentChild, render } from "preact";
import { Api } from "./api";
import { Auth } from "./auth";
import { App, Fatal, SignIn } from "./app";
import "./styles.css";
import type { ClientConfig } from "./types";

/** Shows the portal in place of index.html's static "Loading…" line. */
function mount(node: ComponentChild, root: HTMLElement) {
  root.replaceChildren();
  render(node, root);
}

/** The sign-in settings: embedded in index.html by portal-api (saving a round trip), else from /config.json. */
async function clientConfig(): Promise<ClientConfig> {
  const embedded = document.getElementById("sua-config")?.textContent;
  if (embedded) return JSON.parse(embedded) as ClientConfig;
  const response = await fetch("/config.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`portal-api answered ${response.status}`);
  return (await response.json()) as ClientConfig;
}

async function boot(root: HTMLElement) {
  let config: ClientConfig;
  try {
    config = await clientConfig();
  } catch (error) {
    mount(
      <Fatal title="The portal's settings could not be loaded">
        {error instanceof Error ? error.message : String(error)}. Check that portal-api is running, then reload the page.
      </Fatal>,
      root,
    );
    return;
  }
  if (!config.client_id) {
    mount(
      <Fatal title="Sign-in is not configured">
        portal-api has no client id for the portal. Its operator sets <code>portal.web.client_id</code> (environment{" "}
        <code>SUA_PORTAL__WEB__CLIENT_ID</code>) to the portal's app registration in Microsoft Entra ID, and restarts it.
      </Fatal>,
      root,
    );
    return;
  }
  const auth = new Auth(config);
  let started: Awaited<ReturnType<Auth["start"]>>;
  try {
    started = await auth.start();
  } catch (error) {
    started = { signedIn: false, error: error instanceof Error ? error.message : String(error) };
  }
  if (!started.signedIn) {
    mount(<SignIn auth={auth} error={started.error} />, root);
    return;
  }
  mount(<App auth={auth} api={new Api(config.api, auth)} />, root);
}

const root = document.getElementById("app");
if (root) void boot(root);
