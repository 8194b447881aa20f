import { api, ApiError, flowPath, url } from "../api.js";
import { h, clear, debounce, toast } from "../dom.js";
import { stateBadge, relative, labelTags, formatDate } from "../format.js";
import { pageHead, pager, emptyRow, setQuery, every, liveRender } from "./common.js";

const SIZE = 25;

// Until /flows/search is served: the plain list, filtered here.
async function searchFallback({ q, namespace, page }) {
  const all = await api("/flows");
  const needle = (q || "").toLowerCase();
  const found = all.filter((f) => (!namespace || f.namespace === namespace || f.namespace.startsWith(`${namespace}.`)) && (!needle || `${f.namespace}.${f.id}`.toLowerCase().includes(needle)));
  return { results: found.slice((page - 1) * SIZE, page * SIZE), total: found.length };
}

export async function flowsPage(ctx) {
  document.title = "Flows · Podium";
  const q = { q: ctx.query.get("q") || "", namespace: ctx.query.get("namespace") || "", page: Number(ctx.query.get("page") || 1) };
  const search = h("input", { type: "search", id: "flow-search", placeholder: "Search flows…", value: q.q, "data-search": true, "aria-label": "Search flows" });
  const nsSelect = h("select", { id: "flow-ns", "aria-label": "Namespace" }, h("option", { value: "" }, "All namespaces"));
  const body = h("tbody", {});
  const foot = h("div", {});
  const table = h("div", { class: "card table-scroll" },
    h("table", { class: "table breakable", "data-testid": "flows-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Flow"), h("th", {}, "Namespace"), h("th", { class: "wide-only" }, "Labels"), h("th", { class: "wide-only" }, "Triggers"), h("th", {}, "Last execution"), h("th", { class: "num" }, h("span", { class: "visually-hidden" }, "Actions")))),
      body),
    foot);
  const transfer = importExport(q, () => load());
  clear(ctx.main,
    pageHead({ title: "Flows", actions: [...transfer.actions, h("a", { class: "button primary", href: "/ui/flows/new" }, "+ New flow")] }),
    transfer.errors,
    h("div", { class: "toolbar" },
      h("div", { class: "field grow" }, h("label", { for: "flow-search" }, "Search"), search),
      h("div", { class: "field" }, h("label", { for: "flow-ns" }, "Namespace"), nsSelect)),
    table);

  api("/flows/namespaces").then((names) => {
    for (const name of names || []) nsSelect.append(h("option", { value: name, selected: name === q.namespace }, name));
  }).catch(async () => {
    const all = await api("/flows").catch(() => []);
    for (const name of [...new Set(all.map((f) => f.namespace))].sort()) nsSelect.append(h("option", { value: name, selected: name === q.namespace }, name));
  });

  let controller = null;
  async function load(showLoading = true) {
    if (controller) controller.abort();
    controller = new AbortController();
    setQuery(ctx, { q: q.q, namespace: q.namespace, page: q.page > 1 ? q.page : "" });
    transfer.update();
    if (showLoading && !body.children.length) clear(body, emptyRow(6, "Loading…"));
    let data;
    try {
      data = await api("/flows/search", { query: { q: q.q, namespace: q.namespace, page: q.page, size: SIZE }, signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 405)) throw err;
      data = await searchFallback(q);
    }
    const rows = data.results || [];
    liveRender(body, [q, data], () => clear(body, rows.length ? rows.map(row) : emptyRow(6, q.q || q.namespace ? "No flow matches." : "No flows yet. Create one with “New flow”.")));
    liveRender(foot, [q, data.total, rows.length], () => clear(foot, pager({ page: q.page, size: SIZE, total: data.total, count: rows.length, onPage: (p) => { q.page = p; load(); } })));
  }

  function row(f) {
    const href = `/ui${flowPath(f.namespace, f.id)}`;
    const last = f.lastExecution;
    return h("tr", { "data-flow": `${f.namespace}/${f.id}`, "data-key": `${f.namespace}/${f.id}` },
      h("td", {}, h("a", { href, class: "mono" }, f.id), f.disabled ? h("span", { class: "label-tag" }, "disabled") : null,
        f.description ? h("div", { class: "small muted clip flow-desc", title: f.description }, f.description.split("\n")[0]) : null),
      h("td", { class: "muted" }, f.namespace),
      h("td", { class: "wide-only" }, labelTags(f.labels)),
      h("td", { class: "small muted wide-only" }, (f.triggers || []).map((t) => t.type.split(".").pop()).join(", ") || "—"),
      h("td", {}, last ? h("a", { href: `/ui/executions/${encodeURIComponent(last.id)}`, class: "row", title: formatDate(last.startDate) }, stateBadge(last.state && last.state.current ? last.state.current : last.state), h("span", { class: "small muted" }, relative(last.startDate))) : h("span", { class: "small muted" }, "never run")),
      h("td", { class: "num" }, h("a", { class: "button small", href: `${href}/execute`, "aria-label": `Execute ${f.id}` }, "▶ Execute")));
  }

  search.addEventListener("input", debounce(() => { q.q = search.value.trim(); q.page = 1; load(); }, 250));
  nsSelect.addEventListener("change", () => { q.namespace = nsSelect.value; q.page = 1; load(); });

  await load();
  return every(10000, () => load(false));
}

// Import (POST /flows/import: one YAML, several separated by ---, or a zip; all or
// nothing) and Export (a zip of the flows the filters show, GET /flows/export/by-query).
function importExport(q, reload) {
  const picker = h("input", { type: "file", accept: ".yml,.yaml,.zip", class: "visually-hidden", id: "flow-import-file", "aria-label": "Flow files to import" });
  const importButton = h("button", { type: "button", class: "button", "data-testid": "flow-import" }, "Import");
  const exportLink = h("a", { class: "button", "data-testid": "flow-export", download: "flows.zip" }, "Export");
  const errors = h("div", {});
  importButton.addEventListener("click", () => picker.click());
  picker.addEventListener("change", async () => {
    const file = picker.files && picker.files[0];
    picker.value = "";
    if (!file) return;
    clear(errors);
    const form = new FormData();
    form.append("fileUpload", file, file.name);
    importButton.disabled = true;
    try {
      await api("/flows/import", { method: "POST", body: form });
      toast(`Imported the flows of ${file.name}`);
      reload();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const problems = (err.body && err.body.problems) || [];
      clear(errors, h("div", { class: "card import-errors", role: "alert", "data-testid": "import-errors" },
        h("strong", {}, `Nothing was imported from ${file.name}`),
        problems.length
          ? h("ul", {}, problems.map((p) => h("li", { class: "mono small" },
            `${p.file}${p.document !== null && p.document !== undefined ? ` (document ${p.document})` : ""}:${p.line ?? "?"}:${p.column ?? "?"}${p.path ? ` ${p.path}` : ""}: ${p.message}`)))
          : h("div", { class: "small" }, err.message)));
    } finally {
      importButton.disabled = false;
    }
  });
  return {
    actions: [picker, importButton, exportLink],
    errors,
    update() {
      exportLink.href = url("/flows/export/by-query", { q: q.q, namespace: q.namespace });
    },
  };
}
