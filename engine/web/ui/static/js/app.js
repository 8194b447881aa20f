// The shell: navigation, the client-side router and keyboard shortcuts. Each page is a
// function (ctx) => cleanup?, rendering into ctx.main; the router calls the cleanup (close
// live streams, stop timers) before the next page.
import { api, ApiError, setUnauthorizedHandler } from "./api.js";
import { h, clear, icon, toast } from "./dom.js";
import { loginPage } from "./pages/login.js";
import { dashboardPage } from "./pages/dashboard.js";
import { flowsPage } from "./pages/flows.js";
import { flowPage, newFlowPage } from "./pages/flow.js";
import { executePage } from "./pages/execute.js";
import { executionsPage } from "./pages/executions.js";
import { executionPage } from "./pages/execution.js";
import { kvPage } from "./pages/kv.js";
import { filesIndexPage, filesPage } from "./pages/files.js";
import { namespacesPage, namespacePage } from "./pages/namespaces.js";
import { logsPage } from "./pages/logs.js";
import { themeToggle } from "./theme.js";
import { pluginsPage, pluginPage } from "./pages/plugins.js";
import { confirmDialog } from "./pages/common.js";

const ROUTES = [
  { re: /^\/ui\/login$/, page: loginPage, bare: true },
  { re: /^\/ui\/?$/, page: dashboardPage, nav: "dashboard" },
  { re: /^\/ui\/dashboard$/, page: dashboardPage, nav: "dashboard" },
  { re: /^\/ui\/flows$/, page: flowsPage, nav: "flows" },
  { re: /^\/ui\/flows\/new$/, page: newFlowPage, nav: "flows" },
  { re: /^\/ui\/flows\/([^/]+)\/([^/]+)\/execute$/, page: executePage, nav: "flows" },
  { re: /^\/ui\/flows\/([^/]+)\/([^/]+)(?:\/([a-z]+))?$/, page: flowPage, nav: "flows" },
  { re: /^\/ui\/executions$/, page: executionsPage, nav: "executions" },
  { re: /^\/ui\/executions\/([^/]+)(?:\/([a-z]+))?$/, page: executionPage, nav: "executions" },
  { re: /^\/ui\/kv$/, page: kvPage, nav: "kv" },
  { re: /^\/ui\/namespaces\/([^/]+)\/kv$/, page: kvPage, nav: "kv" },
  { re: /^\/ui\/files$/, page: filesIndexPage, nav: "files" },
  { re: /^\/ui\/files\/([^/]+)$/, page: filesPage, nav: "files" },
  { re: /^\/ui\/namespaces$/, page: namespacesPage, nav: "namespaces" },
  { re: /^\/ui\/namespaces\/([^/]+)$/, page: namespacePage, nav: "namespaces" },
  { re: /^\/ui\/logs$/, page: logsPage, nav: "logs" },
  { re: /^\/ui\/plugins$/, page: pluginsPage, nav: "plugins" },
  { re: /^\/ui\/plugins\/([^/]+)$/, page: pluginPage, nav: "plugins" },
];

const state = { user: null, authEnabled: true, cleanup: null, renderId: 0, leaveGuard: null, path: null };
const root = document.getElementById("app");

// A page with unsaved work sets a guard (() => true while there is some): leaving it
// through the app (links, shortcuts, back) asks first. Closing the tab is the page's
// own `beforeunload`.
async function mayLeave() {
  if (!state.leaveGuard || !state.leaveGuard()) return true;
  const leave = await confirmDialog("Leave without saving?", "Your changes to this flow are not saved; they are lost if you leave.", "Leave without saving", { danger: true });
  if (leave) state.leaveGuard = null;
  return leave;
}

export async function navigate(path, { replace = false, force = false } = {}) {
  if (!force && !(await mayLeave())) return;
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

function currentPath() {
  return location.pathname + location.search;
}

function navLink(href, name, label, active) {
  // the label is hidden on narrow screens: the link keeps its name through aria-label
  return h("a", { href, "aria-current": active === name ? "page" : null, "aria-label": label, title: label }, icon(name), h("span", { class: "label" }, label));
}

function shell(active) {
  const main = h("main", { id: "main", class: "main", tabindex: "-1" });
  const foot = h("div", { class: "nav-foot" },
    h("div", {}, h("kbd", {}, "?"), " shortcuts"));
  if (state.user) {
    foot.prepend(
      h("div", { class: "muted", style: { color: "var(--nav-text)" } }, "Signed in as ", h("strong", {}, state.user)),
      h("button", { class: "small", type: "button", onclick: logout }, icon("logout"), "Sign out"),
    );
  }
  const nav = h("nav", { class: "nav", "aria-label": "Main" },
    h("a", { class: "brand", href: "/ui/" }, h("img", { src: new URL("../img/logo.svg", import.meta.url).href, alt: "" }), h("span", {}, "Podium")),
    navLink("/ui/dashboard", "dashboard", "Dashboard", active),
    navLink("/ui/flows", "flows", "Flows", active),
    navLink("/ui/executions", "executions", "Executions", active),
    navLink("/ui/kv", "kv", "KV store", active),
    navLink("/ui/files", "files", "Files", active),
    navLink("/ui/plugins", "plugins", "Plugins", active),
    navLink("/ui/namespaces", "namespaces", "Namespaces", active),
    navLink("/ui/logs", "logs", "Logs", active),
    themeToggle(),
    foot,
  );
  root.className = "app";
  clear(root, nav, main);
  return main;
}

async function logout() {
  try {
    await api("/auth/logout", { method: "POST" });
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
  }
  state.user = null;
  navigate("/ui/login");
}

// GET /auth/session answers 200 signed in or not, so a signed-out visit logs no 401.
async function whoAmI() {
  let session;
  try {
    session = await api("/auth/session");
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return true; // the server cannot say: show the page, whose own calls will tell
  }
  state.authEnabled = session.authEnabled !== false;
  state.user = session.username || null;
  return !state.authEnabled || Boolean(state.user);
}

async function render() {
  const renderId = ++state.renderId;
  if (state.cleanup) {
    try {
      state.cleanup();
    } catch (err) {
      console.error(err);
    }
    state.cleanup = null;
  }
  state.leaveGuard = null;
  state.path = currentPath();
  const path = location.pathname;
  let route = ROUTES.find((r) => r.re.test(path));
  if (!route) route = { page: notFound, nav: null };
  const params = (path.match(route.re || /$/) || []).slice(1).map((p) => (p === undefined ? p : decodeURIComponent(p)));
  const query = new URLSearchParams(location.search);
  let main;
  if (route.bare) {
    root.className = "app bare";
    main = h("div", { id: "main" });
    clear(root, main);
  } else {
    main = shell(route.nav);
  }
  const setLeaveGuard = (guard) => {
    if (renderId === state.renderId) state.leaveGuard = guard;
  };
  const ctx = { main, params, query, navigate, setLeaveGuard, user: state.user, isCurrent: () => renderId === state.renderId, onLogin };
  try {
    const cleanup = await route.page(ctx);
    if (renderId === state.renderId) state.cleanup = typeof cleanup === "function" ? cleanup : null;
    else if (typeof cleanup === "function") cleanup();
  } catch (err) {
    if (renderId !== state.renderId) return;
    if (err instanceof ApiError && err.status === 401) return;
    console.error(err);
    clear(main, h("div", { class: "card card-body" }, h("h2", {}, "Something went wrong"), h("p", { class: "muted" }, err.message || String(err))));
  }
}

async function onLogin(username) {
  state.user = username;
  await whoAmI();
}

function notFound(ctx) {
  document.title = "Not found · Podium";
  clear(ctx.main, h("div", { class: "card card-body" }, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "/ui/flows" }, "Go to flows"))));
}

// Links under /ui/ are handled here; modified clicks (new tab) are left to the browser.
document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest("a[href]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const href = a.getAttribute("href");
  if (!href.startsWith("/ui/") && href !== "/ui" || a.target || a.hasAttribute("download")) return;
  event.preventDefault();
  if (href !== currentPath()) navigate(href);
});
window.addEventListener("popstate", async () => {
  if (state.leaveGuard && state.leaveGuard()) {
    // the address changed already: put it back while asking
    const target = currentPath();
    history.pushState(null, "", state.path);
    if (!(await mayLeave())) return;
    history.replaceState(null, "", target);
  }
  render();
});

// Keyboard: "/" search, "g d|f|e" go to a page, "n" new flow, "?" this help.
let pendingG = 0;
function isTyping(target) {
  return target.closest && target.closest("input, textarea, select, [contenteditable]");
}
function showHelp() {
  const rows = [["/", "Focus the search box"], ["g d", "Dashboard"], ["g f", "Flows"], ["g e", "Executions"], ["n", "New flow"], ["Ctrl/⌘ S", "Save (in the editor)"], ["Ctrl Space", "Complete (in the editor)"], ["Ctrl/⌘ F", "Search (in the editor)"], ["Tab / Shift Tab", "Indent / outdent (in the editor)"], ["Esc, then Tab", "Leave the editor"], ["?", "This help"]];
  const dialog = h("dialog", { "aria-label": "Keyboard shortcuts" },
    h("div", { class: "card-head" }, h("h2", {}, "Keyboard shortcuts")),
    h("div", { class: "card-body" }, h("table", { class: "help-table" }, h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("td", {}, h("kbd", {}, k)), h("td", {}, v)))))),
    h("div", { class: "card-body row" }, h("span", { class: "spacer" }), h("button", { type: "button", onclick: () => dialog.close() }, "Close")));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey || isTyping(event.target)) return;
  if (document.querySelector("dialog[open]")) return;
  const now = Date.now();
  if (pendingG && now - pendingG < 1200) {
    pendingG = 0;
    const target = { d: "/ui/dashboard", f: "/ui/flows", e: "/ui/executions" }[event.key];
    if (target) {
      event.preventDefault();
      navigate(target);
    }
    return;
  }
  if (event.key === "g") pendingG = now;
  else if (event.key === "/") {
    const search = document.querySelector("[data-search]");
    if (search) {
      event.preventDefault();
      search.focus();
    }
  } else if (event.key === "n") navigate("/ui/flows/new");
  else if (event.key === "?") showHelp();
});

setUnauthorizedHandler(() => {
  if (location.pathname !== "/ui/login") {
    navigate(`/ui/login?next=${encodeURIComponent(currentPath())}`, { replace: true, force: true });
  }
});

window.addEventListener("unhandledrejection", (event) => {
  const err = event.reason;
  if (err instanceof ApiError) {
    event.preventDefault();
    if (err.status !== 401) toast(err.message, { error: true });
  }
});

(async () => {
  const signedIn = await whoAmI();
  if (!signedIn && location.pathname !== "/ui/login") {
    history.replaceState(null, "", `/ui/login?next=${encodeURIComponent(currentPath())}`);
  }
  render();
})();
