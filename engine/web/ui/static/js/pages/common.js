// Pieces several pages share: page header, tabs, pager, empty states, query-string sync.
import { h, clear } from "../dom.js";

export function pageHead({ crumb, title, badge, actions = [] }) {
  return h("header", { class: "page-head" },
    h("div", { class: "titles" },
      crumb ? h("div", { class: "crumb" }, crumb) : null,
      h("div", { class: "row" }, h("h1", {}, title), badge || null)),
    h("div", { class: "actions" }, actions));
}

// Tabs are links (each tab has its own address); arrow keys move between them, and only
// the selected one is in the Tab order (the ARIA tabs pattern).
export function tabs(items, active, label = "Sections") {
  const links = items.map(([key, text, href]) => h("a", { href, role: "tab", "aria-selected": key === active ? "true" : "false", tabindex: key === active ? "0" : "-1", "data-tab": key }, text));
  const nav = h("nav", { class: "tabs", role: "tablist", "aria-label": label }, links);
  nav.addEventListener("keydown", (event) => {
    const i = links.indexOf(document.activeElement);
    if (i < 0) return;
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: links.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    links[(next + links.length) % links.length].focus();
  });
  return nav;
}

export function pager({ page, size, total, count, onPage }) {
  const pages = total === null || total === undefined ? null : Math.max(1, Math.ceil(total / size));
  const first = total === 0 ? 0 : (page - 1) * size + 1;
  const last = (page - 1) * size + count;
  return h("div", { class: "pager", "data-key": "pager" },
    h("span", {}, total === null || total === undefined ? `${first}–${last}` : `${first}–${last} of ${total.toLocaleString()}`),
    h("span", { class: "spacer" }),
    h("button", { class: "small", type: "button", disabled: page <= 1, onclick: () => onPage(page - 1), title: "Previous page" }, "‹ Prev"),
    h("span", {}, pages ? `Page ${page} of ${pages}` : `Page ${page}`),
    h("button", { class: "small", type: "button", disabled: pages ? page >= pages : count < size, onclick: () => onPage(page + 1), title: "Next page" }, "Next ›"));
}

export function emptyRow(colspan, text) {
  return h("tr", {}, h("td", { colspan, class: "empty" }, text));
}

export function setQuery(ctx, values) {
  const params = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(values)) {
    params.delete(k);
    if (Array.isArray(v)) v.forEach((x) => params.append(k, x));
    else if (v !== undefined && v !== null && v !== "") params.set(k, v);
  }
  const text = params.toString();
  history.replaceState(null, "", `${location.pathname}${text ? `?${text}` : ""}`);
}

export function loading(el, text = "Loading…") {
  clear(el, h("div", { class: "loading", role: "status" }, text));
}

// Runs fn every `ms` while the tab is visible; returns a stop function.
export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await fn();
      } catch (err) {
        if (err && err.name !== "AbortError") console.warn(err);
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// Re-render a live list without losing the keyboard user's place: the focused link or
// button (found again by its row's data-key and its position in the row) keeps focus.
// Nothing is touched when the data did not change.
export function liveRender(container, data, render) {
  const key = JSON.stringify(data);
  if (container.dataset.rendered === key) return;
  const active = document.activeElement;
  let place = null;
  if (active && container.contains(active)) {
    const row = active.closest("[data-key]");
    if (row) place = { key: row.dataset.key, index: [...row.querySelectorAll("a, button")].indexOf(active) };
  }
  render();
  container.dataset.rendered = key;
  if (place) {
    const row = [...container.querySelectorAll("[data-key]")].find((r) => r.dataset.key === place.key);
    const target = row && row.querySelectorAll("a, button")[place.index];
    if (target) target.focus();
  }
}

// A modal yes/no question; resolves true when the action button is pressed.
export function confirmDialog(title, text, action, { danger = false } = {}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-label": title });
    const ok = h("button", { type: "button", class: danger ? "danger" : "primary", "data-testid": "confirm" }, action);
    dialog.append(h("div", { class: "card-body stack" }, h("h2", {}, title), h("p", { class: "muted" }, text),
      h("div", { class: "row" }, h("span", { class: "spacer" }), h("button", { type: "button", onclick: () => dialog.close() }, "Cancel"), ok)));
    let result = false;
    ok.addEventListener("click", () => { result = true; dialog.close(); });
    dialog.addEventListener("close", () => { dialog.remove(); resolve(result); });
    document.body.append(dialog);
    dialog.showModal();
    ok.focus();
  });
}
