// Executions: server-paged search with filters in the URL, refreshed every few seconds so
// states stay live without loading more than one page. Rows can be selected for bulk
// actions (kill, restart, replay, label, delete: ../bulk.js).
import { api, flowPath, stateOf } from "../api.js";
import { h, clear, debounce } from "../dom.js";
import { stateBadge, formatDate, formatDuration, elapsed, labelTags, shortId } from "../format.js";
import { pageHead, pager, emptyRow, setQuery, every, liveRender } from "./common.js";
import { BulkSelection } from "../bulk.js";

const RANGES = [["", "Any time"], ["1h", "Last hour"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];
const RANGE_MS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const SIZE = 25;

export function executionsPage(ctx) {
  document.title = "Executions · Podium";
  const body = h("div", {});
  clear(ctx.main, pageHead({ title: "Executions" }), body);
  return executionsTable(ctx, body, { fixed: null });
}

export function executionsTable(ctx, container, { fixed }) {
  const q = ctx.query;
  const f = {
    namespace: fixed ? fixed.namespace : q.get("namespace") || "",
    flowId: fixed ? fixed.flowId : q.get("flowId") || "",
    states: q.getAll("state"),
    range: q.get("range") || "",
    q: q.get("q") || "",
    page: Number(q.get("page") || 1),
  };
  const tbody = h("tbody", {});
  const foot = h("div", {});
  const search = h("input", { type: "search", id: "ex-q", placeholder: "Id, label…", value: f.q, "data-search": true });
  const range = h("select", { id: "ex-range" }, RANGES.map(([v, t]) => h("option", { value: v, selected: v === f.range }, t)));
  const chips = h("div", { class: "chips", role: "group", "aria-label": "States" },
    ["RUNNING", "QUEUED", "PAUSED", "SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"].map((st) => {
      const chip = h("button", { type: "button", class: `chip state-${st}`, "aria-pressed": f.states.includes(st) ? "true" : "false", "data-state-filter": st }, h("span", { class: "dot" }), st.toLowerCase());
      chip.addEventListener("click", () => {
        f.states = f.states.includes(st) ? f.states.filter((x) => x !== st) : [...f.states, st];
        chip.setAttribute("aria-pressed", f.states.includes(st) ? "true" : "false");
        f.page = 1;
        load();
      });
      return chip;
    }));
  const tools = [h("div", { class: "field grow" }, h("label", { for: "ex-q" }, "Search"), search)];
  let nsInput = null;
  let flowInput = null;
  if (!fixed) {
    nsInput = h("input", { id: "ex-ns", value: f.namespace, placeholder: "company.team", list: "ex-ns-list" });
    flowInput = h("input", { id: "ex-flow", value: f.flowId, placeholder: "flow id" });
    const list = h("datalist", { id: "ex-ns-list" });
    api("/flows/namespaces").then((names) => names.forEach((n) => list.append(h("option", { value: n })))).catch(() => {});
    tools.push(h("div", { class: "field" }, h("label", { for: "ex-ns" }, "Namespace"), nsInput, list), h("div", { class: "field" }, h("label", { for: "ex-flow" }, "Flow"), flowInput));
  }
  tools.push(h("div", { class: "field" }, h("label", { for: "ex-range" }, "Started"), range));
  const cols = fixed ? 6 : 7;
  const selection = new BulkSelection({ onDone: () => load(true) });
  clear(container,
    h("div", { class: "toolbar" }, tools),
    h("div", { class: "toolbar" }, h("span", { class: "small muted" }, "State"), chips),
    selection.bar,
    h("div", { class: "card" },
      h("table", { class: "table", "data-testid": "executions-table" },
        h("thead", {}, h("tr", {}, h("th", { class: "select" }, selection.all), h("th", {}, "Execution"), fixed ? null : h("th", {}, "Flow"), h("th", {}, "State"), h("th", {}, "Started"), h("th", { class: "num" }, "Duration"), h("th", {}, "Labels"))),
        tbody),
      foot));

  let controller = null;
  async function load(quiet = false) {
    if (controller) controller.abort();
    controller = new AbortController();
    if (!fixed) setQuery(ctx, { namespace: f.namespace, flowId: f.flowId, state: f.states, range: f.range, q: f.q, page: f.page > 1 ? f.page : "" });
    if (!quiet && !tbody.children.length) clear(tbody, emptyRow(cols, "Loading…"));
    const query = { namespace: f.namespace, flowId: f.flowId, state: f.states, q: f.q, page: f.page, size: SIZE, sort: "startDate:desc" };
    if (f.range) query.startDate = new Date(Date.now() - RANGE_MS[f.range]).toISOString();
    let data;
    try {
      data = await api("/executions/search", { query, signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      throw err;
    }
    const rows = data.results || [];
    liveRender(tbody, [f, data], () => clear(tbody, rows.length ? rows.map(row) : emptyRow(cols, "No executions match these filters.")));
    selection.show(rows.map((e) => e.id));
    liveRender(foot, [f, data.total, rows.length], () => clear(foot, pager({ page: f.page, size: SIZE, total: data.total, count: rows.length, onPage: (p) => { f.page = p; load(); } })));
  }

  function row(e) {
    const st = stateOf(e);
    return h("tr", { "data-execution": e.id, "data-key": e.id, "data-state": st },
      h("td", { class: "select" }, selection.box(e.id)),
      h("td", {}, h("a", { class: "mono", href: `/ui/executions/${encodeURIComponent(e.id)}`, title: e.id }, shortId(e.id))),
      fixed ? null : h("td", {}, h("a", { href: `/ui${flowPath(e.namespace, e.flowId)}` }, e.flowId), h("div", { class: "small muted" }, e.namespace)),
      h("td", {}, stateBadge(st)),
      h("td", { class: "small nowrap" }, formatDate(e.state && e.state.startDate)),
      h("td", { class: "num small" }, formatDuration(elapsed(e.state))),
      h("td", {}, labelTags(e.labels)));
  }

  const reload = debounce(() => { f.page = 1; load(); }, 300);
  search.addEventListener("input", () => { f.q = search.value.trim(); reload(); });
  range.addEventListener("change", () => { f.range = range.value; f.page = 1; load(); });
  if (nsInput) nsInput.addEventListener("input", () => { f.namespace = nsInput.value.trim(); reload(); });
  if (flowInput) flowInput.addEventListener("input", () => { f.flowId = flowInput.value.trim(); reload(); });
  load();
  const stop = every(4000, () => load(true));
  return () => {
    stop();
    if (controller) controller.abort();
  };
}
