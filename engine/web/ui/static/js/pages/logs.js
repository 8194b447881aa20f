// Logs across executions (/ui/logs): newest first, filtered by minimum level, namespace
// (and the namespaces under it), flow, text and time, server-paged through
// GET /logs/search; the filters live in the address so a search can be shared.
import { api, flowPath } from "../api.js";
import { h, clear, debounce } from "../dom.js";
import { formatDate, shortId } from "../format.js";
import { pageHead, pager, emptyRow, setQuery } from "./common.js";

const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
const RANGES = [["1h", "Last hour", 3600e3], ["24h", "Last 24 hours", 86400e3], ["7d", "Last 7 days", 7 * 86400e3], ["30d", "Last 30 days", 30 * 86400e3], ["", "Any time", 0]];
const SIZE = 50;
const LONG = 240;

// the address says range=any for "Any time"; no range is the last 24 hours
const rangeOf = (value) => (value === "any" ? "" : RANGES.some(([k]) => k && k === value) ? value : "24h");

function messageCell(message) {
  const text = String(message);
  const first = text.split("\n")[0];
  if (first === text && text.length <= LONG) return h("td", { class: "log-msg" }, text);
  const full = h("pre", { class: "log-full", hidden: true }, text);
  const more = h("button", { type: "button", class: "link small", "aria-expanded": "false" }, "more");
  more.addEventListener("click", () => {
    full.hidden = !full.hidden;
    more.setAttribute("aria-expanded", full.hidden ? "false" : "true");
    more.textContent = full.hidden ? "more" : "less";
  });
  return h("td", { class: "log-msg" }, first.length > LONG ? `${first.slice(0, LONG)}…` : first, " ", more, full);
}

export async function logsPage(ctx) {
  document.title = "Logs · Podium";
  const q = ctx.query;
  const f = {
    minLevel: LEVELS.includes(q.get("minLevel")) ? q.get("minLevel") : "INFO",
    namespace: q.get("namespace") || "",
    flowId: q.get("flowId") || "",
    q: q.get("q") || "",
    range: rangeOf(q.get("range")),
    page: Number(q.get("page") || 1),
  };
  const level = h("select", { id: "logs-level" }, LEVELS.map((l) => h("option", { value: l, selected: l === f.minLevel }, l)));
  const ns = h("input", { id: "logs-ns", value: f.namespace, placeholder: "company.team", list: "logs-ns-list", autocomplete: "off" });
  const nsList = h("datalist", { id: "logs-ns-list" });
  const flow = h("input", { id: "logs-flow", value: f.flowId, placeholder: "flow id", autocomplete: "off" });
  const text = h("input", { type: "search", id: "logs-q", value: f.q, placeholder: "Text in the message…", "data-search": true });
  const range = h("select", { id: "logs-range" }, RANGES.map(([k, label]) => h("option", { value: k, selected: k === f.range }, label)));
  const refresh = h("button", { type: "button", "data-testid": "logs-refresh" }, "Refresh");
  const body = h("tbody", {});
  const foot = h("div", {});
  const count = h("span", { class: "small muted", "data-testid": "logs-total", "aria-live": "polite" });
  clear(ctx.main,
    pageHead({ title: "Logs", actions: [count, refresh] }),
    h("div", { class: "toolbar" },
      h("div", { class: "field" }, h("label", { for: "logs-level" }, "Minimum level"), level),
      h("div", { class: "field" }, h("label", { for: "logs-ns" }, "Namespace"), ns, nsList),
      h("div", { class: "field" }, h("label", { for: "logs-flow" }, "Flow"), flow),
      h("div", { class: "field grow" }, h("label", { for: "logs-q" }, "Search"), text),
      h("div", { class: "field" }, h("label", { for: "logs-range" }, "Time"), range)),
    h("div", { class: "card table-scroll" },
      h("table", { class: "table logs-table", "data-testid": "logs-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Level"), h("th", {}, "Execution"), h("th", {}, "Task"), h("th", {}, "Message"))),
        body),
      foot));
  api("/flows/namespaces").then((names) => nsList.replaceChildren(...(names || []).map((n) => h("option", { value: n })))).catch(() => {});

  let controller = null;
  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    setQuery(ctx, { minLevel: f.minLevel === "INFO" ? "" : f.minLevel, namespace: f.namespace, flowId: f.flowId, q: f.q, range: f.range === "24h" ? "" : f.range || "any", page: f.page > 1 ? f.page : "" });
    if (!body.children.length) clear(body, emptyRow(5, "Loading…"));
    const span = (RANGES.find(([k]) => k === f.range) || [])[2];
    let data;
    try {
      data = await api("/logs/search", {
        query: { minLevel: f.minLevel, namespace: f.namespace, flowId: f.flowId, q: f.q, startDate: span ? new Date(Date.now() - span).toISOString() : "", sort: "timestamp:desc", page: f.page, size: SIZE },
        signal: controller.signal,
      });
    } catch (err) {
      if (err.name === "AbortError") return;
      throw err;
    }
    const rows = data.results || [];
    count.textContent = `${(data.total ?? rows.length).toLocaleString()} line${data.total === 1 ? "" : "s"}`;
    clear(body, rows.length ? rows.map(row) : emptyRow(5, "No log line matches these filters."));
    clear(foot, pager({ page: f.page, size: SIZE, total: data.total, count: rows.length, onPage: (p) => { f.page = p; load(); } }));
  }

  function row(e) {
    const lvl = e.level === "WARNING" ? "WARN" : e.level;
    return h("tr", { class: `level-${lvl}`, "data-level": lvl },
      h("td", { class: "small nowrap", title: e.timestamp }, formatDate(e.timestamp)),
      h("td", {}, h("span", { class: `lvl lvl-${lvl}` }, lvl)),
      h("td", { class: "nowrap" },
        h("a", { href: `/ui${flowPath(e.namespace, e.flowId)}`, class: "small" }, `${e.namespace}.${e.flowId}`), " ",
        h("a", { class: "mono small", href: `/ui/executions/${encodeURIComponent(e.executionId)}/logs${e.taskId ? `?taskId=${encodeURIComponent(e.taskId)}` : ""}`, title: `Execution ${e.executionId}`, "data-testid": "log-execution" }, shortId(e.executionId))),
      h("td", { class: "mono small" }, e.taskId || ""),
      messageCell(e.message));
  }

  const reload = debounce(() => { f.page = 1; load(); }, 300);
  level.addEventListener("change", () => { f.minLevel = level.value; f.page = 1; load(); });
  range.addEventListener("change", () => { f.range = range.value; f.page = 1; load(); });
  ns.addEventListener("input", () => { f.namespace = ns.value.trim(); reload(); });
  flow.addEventListener("input", () => { f.flowId = flow.value.trim(); reload(); });
  text.addEventListener("input", () => { f.q = text.value.trim(); reload(); });
  refresh.addEventListener("click", () => load());
  await load();
  return () => {
    reload.cancel();
    if (controller) controller.abort();
  };
}
