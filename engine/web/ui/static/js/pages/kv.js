// The KV store of one namespace (/ui/namespaces/{ns}/kv; /ui/kv picks a namespace):
// list with a filter, expiry shown, create and edit a typed value, delete.
import { api } from "../api.js";
import { h, clear, debounce, toast } from "../dom.js";
import { formatDate, parseDate } from "../format.js";
import { pageHead, emptyRow, setQuery, confirmDialog } from "./common.js";

const TYPES = ["STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON"];
const DURATION = /^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;
const kvPath = (ns, key) => `/namespaces/${encodeURIComponent(ns)}/kv${key === undefined ? "" : `/${encodeURIComponent(key)}`}`;

// "in 3 h", "expired 2 min ago": what a list row says about its TTL.
export function expiryText(value, now = Date.now()) {
  const d = parseDate(value);
  if (!d) return "never";
  const secs = (d.getTime() - now) / 1000;
  const span = (s) => (s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : s < 129600 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`);
  return secs > 0 ? `in ${span(secs)}` : `expired ${span(-secs)} ago`;
}

async function namespaces() {
  const [fromFlows, fromKv] = await Promise.all([
    api("/flows/namespaces").catch(() => []),
    api("/kv", { query: { size: 1000 } }).then((page) => (page.results || []).map((e) => e.namespace)).catch(() => []),
  ]);
  return [...new Set([...(fromFlows || []), ...fromKv])].sort();
}

export async function kvPage(ctx) {
  const namespace = ctx.params[0] || ctx.query.get("namespace") || "";
  document.title = namespace ? `KV store · ${namespace} · Podium` : "KV store · Podium";
  const nsInput = h("input", { id: "kv-ns", list: "kv-ns-list", value: namespace, placeholder: "company.team", "aria-label": "Namespace", autocomplete: "off" });
  const nsList = h("datalist", { id: "kv-ns-list" });
  const open = h("button", { type: "submit" }, "Open");
  const nsForm = h("form", { class: "row", onsubmit: (event) => { event.preventDefault(); const ns = nsInput.value.trim(); if (ns) ctx.navigate(`/ui${kvPath(ns)}`); } }, nsInput, nsList, open);
  namespaces().then((names) => nsList.replaceChildren(...names.map((n) => h("option", { value: n }))));

  if (!namespace) {
    clear(ctx.main,
      pageHead({ title: "KV store" }),
      h("div", { class: "card card-body stack" },
        h("p", { class: "muted" }, "Typed key/value pairs per namespace, read by flows with kv('key') and the kv tasks. Choose a namespace:"),
        h("div", { class: "field" }, h("label", { for: "kv-ns" }, "Namespace"), nsForm)));
    nsInput.focus();
    return undefined;
  }

  const filter = h("input", { type: "search", id: "kv-filter", placeholder: "Filter keys…", value: ctx.query.get("q") || "", "data-search": true, "aria-label": "Filter keys" });
  const body = h("tbody", {});
  const count = h("span", { class: "small muted", "data-testid": "kv-count" });
  let entries = [];

  function row(e) {
    const expired = e.expirationDate && parseDate(e.expirationDate) <= new Date();
    return h("tr", { "data-key": e.key },
      h("td", { class: "mono" }, e.key),
      h("td", {}, h("span", { class: "label-tag" }, e.type || "")),
      h("td", { class: "small muted" }, e.description || ""),
      h("td", { class: "small muted nowrap", title: e.updateDate || "" }, formatDate(e.updateDate)),
      h("td", { class: `small nowrap${expired ? " error" : ""}`, title: e.expirationDate || "no expiry", "data-testid": "kv-expiry" }, expiryText(e.expirationDate)),
      h("td", { class: "num nowrap" },
        h("button", { class: "small", type: "button", "aria-label": `Edit ${e.key}`, onclick: () => edit(e.key) }, "Edit"), " ",
        h("button", { class: "small danger", type: "button", "aria-label": `Delete ${e.key}`, onclick: () => remove(e.key) }, "Delete")));
  }

  function show() {
    const needle = filter.value.trim().toLowerCase();
    setQuery(ctx, { q: needle });
    const shown = entries.filter((e) => !needle || e.key.toLowerCase().includes(needle) || (e.description || "").toLowerCase().includes(needle));
    count.textContent = `${shown.length} of ${entries.length} keys`;
    clear(body, shown.length ? shown.map(row) : emptyRow(6, entries.length ? "No key matches the filter." : "No keys in this namespace yet. Add one with “New key”."));
  }

  async function load() {
    entries = await api(kvPath(namespace));
    show();
  }

  async function edit(key) {
    const current = key === undefined ? null : await api(kvPath(namespace, key));
    const saved = await editDialog(namespace, key, current);
    if (saved) {
      toast(`Saved ${saved}`);
      await load();
    }
  }

  async function remove(key) {
    if (!(await confirmDialog(`Delete ${key}?`, `The key ${key} is removed from ${namespace}. Flows reading it with kv() will fail.`, "Delete", { danger: true }))) return;
    await api(kvPath(namespace, key), { method: "DELETE" });
    toast(`Deleted ${key}`);
    await load();
  }

  clear(ctx.main,
    pageHead({ crumb: "KV store", title: namespace, actions: [h("button", { class: "primary", type: "button", onclick: () => edit(undefined) }, "+ New key")] }),
    h("div", { class: "toolbar" },
      h("div", { class: "field grow" }, h("label", { for: "kv-filter" }, "Filter"), filter),
      h("div", { class: "field" }, h("label", { for: "kv-ns" }, "Namespace"), nsForm)),
    h("div", { class: "card" },
      h("table", { class: "table", "data-testid": "kv-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Type"), h("th", {}, "Description"), h("th", {}, "Updated"), h("th", {}, "Expires"), h("th", { class: "num" }, h("span", { class: "visually-hidden" }, "Actions")))),
        body),
      h("div", { class: "pager" }, count)));
  filter.addEventListener("input", debounce(show, 150));
  await load();
  return undefined;
}

// The value input for a type: a checkbox, a date picker, a number, or text.
function valueInput(type, value) {
  if (type === "BOOLEAN") return h("select", { id: "kv-value" }, h("option", { value: "true", selected: value === true }, "true"), h("option", { value: "false", selected: value === false }, "false"));
  if (type === "JSON") return h("textarea", { id: "kv-value", class: "mono", rows: 8, spellcheck: "false" }, value === undefined ? "" : JSON.stringify(value, null, 2));
  if (type === "DATE") return h("input", { id: "kv-value", type: "date", value: value || "" });
  if (type === "DATETIME") return h("input", { id: "kv-value", type: "datetime-local", step: "1", value: value ? localInput(value) : "" });
  if (type === "NUMBER") return h("input", { id: "kv-value", type: "number", step: "any", value: value === undefined ? "" : String(value) });
  return h("input", { id: "kv-value", type: "text", class: type === "DURATION" ? "mono" : "", placeholder: type === "DURATION" ? "PT1H30M" : "", value: value === undefined ? "" : String(value) });
}

function localInput(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// The PUT body as Kestra reads it: a quoted JSON string stays a STRING; dates and
// durations unquoted keep their type; numbers, booleans and JSON as JSON. Throws a
// message for a value that does not fit its type.
export function bodyFor(type, raw) {
  if (type === "STRING") return JSON.stringify(raw);
  if (type === "NUMBER") {
    if (raw.trim() === "" || !Number.isFinite(Number(raw))) throw new Error("Enter a number.");
    return String(Number(raw));
  }
  if (type === "BOOLEAN") return raw === "true" ? "true" : "false";
  if (type === "DATETIME") {
    const d = new Date(raw);
    if (!raw || Number.isNaN(d.getTime())) throw new Error("Choose a date and time.");
    return d.toISOString().replace(".000Z", "Z");
  }
  if (type === "DATE") {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(raw)) throw new Error("Choose a date.");
    return raw;
  }
  if (type === "DURATION") {
    if (!DURATION.test(raw.trim())) throw new Error("Enter an ISO-8601 duration such as PT1H30M.");
    return raw.trim();
  }
  try {
    return JSON.stringify(JSON.parse(raw));
  } catch (err) {
    throw new Error(`Not valid JSON: ${err.message}`);
  }
}

function editDialog(namespace, key, current) {
  return new Promise((resolve) => {
    const isNew = key === undefined;
    const keyInput = h("input", { id: "kv-key", class: "mono", value: key || "", readonly: !isNew, required: true, pattern: "[a-zA-Z0-9][a-zA-Z0-9._\\-]*", maxlength: 255, autocomplete: "off" });
    const typeSelect = h("select", { id: "kv-type" }, TYPES.map((t) => h("option", { value: t, selected: t === ((current && current.type) || "STRING") }, t)));
    const valueBox = h("div", { class: "field" });
    const description = h("input", { id: "kv-description", value: (current && current.description) || "" });
    const ttl = h("input", { id: "kv-ttl", class: "mono", placeholder: "PT24H" });
    const error = h("div", { class: "form-error", role: "alert", hidden: true });
    let input;
    const setValueInput = (value) => {
      input = valueInput(typeSelect.value, value);
      clear(valueBox, h("label", { for: "kv-value" }, "Value"), input);
    };
    setValueInput(current ? current.value : undefined);
    typeSelect.addEventListener("change", () => setValueInput(undefined));
    const expiry = current && current.expirationDate ? `Now expires ${formatDate(current.expirationDate)}; saving without a TTL removes the expiry.` : "Leave empty to keep the key until deleted.";
    const save = h("button", { class: "primary", type: "submit" }, "Save");
    const dialog = h("dialog", { "aria-label": isNew ? "New key" : `Edit ${key}`, class: "kv-dialog" });
    const form = h("form", { class: "card-body stack", method: "dialog" },
      h("h2", {}, isNew ? `New key in ${namespace}` : `Edit ${key}`),
      h("div", { class: "field" }, h("label", { for: "kv-key" }, "Key"), keyInput),
      h("div", { class: "field" }, h("label", { for: "kv-type" }, "Type"), typeSelect),
      valueBox,
      h("div", { class: "field" }, h("label", { for: "kv-description" }, "Description"), description),
      h("div", { class: "field" }, h("label", { for: "kv-ttl" }, "Time to live"), ttl, h("span", { class: "hint" }, `ISO-8601 duration. ${expiry}`)),
      error,
      h("div", { class: "row" }, h("span", { class: "spacer" }), h("button", { type: "button", onclick: () => dialog.close() }, "Cancel"), save));
    let saved = null;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      const name = keyInput.value.trim();
      let body;
      try {
        if (!/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/.test(name)) throw new Error("A key uses letters, digits, '.', '_' and '-', starting with a letter or digit.");
        if (ttl.value.trim() && !DURATION.test(ttl.value.trim())) throw new Error("The time to live is an ISO-8601 duration such as PT24H.");
        body = bodyFor(typeSelect.value, input.value);
      } catch (err) {
        clear(error, err.message);
        error.hidden = false;
        return;
      }
      const headers = {};
      if (description.value.trim()) headers.description = description.value.trim();
      if (ttl.value.trim()) headers.ttl = ttl.value.trim();
      save.disabled = true;
      try {
        await putValue(namespace, name, body, headers);
        saved = name;
        dialog.close();
      } catch (err) {
        clear(error, err.message);
        error.hidden = false;
      } finally {
        save.disabled = false;
      }
    });
    dialog.append(form);
    dialog.addEventListener("close", () => { dialog.remove(); resolve(saved); });
    document.body.append(dialog);
    dialog.showModal();
    (isNew ? keyInput : input).focus();
  });
}

function putValue(namespace, key, body, headers) {
  return api(kvPath(namespace, key), { method: "PUT", body, contentType: "text/plain", headers });
}
