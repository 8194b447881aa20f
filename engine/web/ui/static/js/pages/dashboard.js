import { api, flowPath, stateOf } from "../api.js";
import { h, clear } from "../dom.js";
import { stateBadge, formatDuration, elapsed, relative, shortId } from "../format.js";
import { stateChart, fillBuckets } from "../chart.js";
import { pageHead, every } from "./common.js";

const RANGES = { "24h": ["Last 24 hours", 86400e3, "hour"], "7d": ["Last 7 days", 7 * 86400e3, "day"], "30d": ["Last 30 days", 30 * 86400e3, "day"] };

function stat(label, value, cls = "") {
  return h("div", { class: `card stat ${cls}` }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
}

function executionList(rows, empty) {
  if (!rows.length) return h("div", { class: "empty" }, empty);
  // fixed columns: a long flow name is clipped (whole in its title), never the state
  return h("table", { class: "table fixed" },
    h("colgroup", {}, h("col", { style: { width: "88px" } }), h("col", {}), h("col", { style: { width: "124px" } }), h("col", { style: { width: "84px" } })),
    h("tbody", {}, rows.map((e) => h("tr", { "data-execution": e.id },
      h("td", {}, h("a", { class: "mono", href: `/ui/executions/${encodeURIComponent(e.id)}`, title: e.id }, shortId(e.id))),
      h("td", {}, h("a", { class: "clip", href: `/ui${flowPath(e.namespace, e.flowId)}`, title: `${e.namespace}.${e.flowId}` }, e.flowId), h("div", { class: "small muted clip" }, e.namespace)),
      h("td", {}, stateBadge(stateOf(e))),
      h("td", { class: "num small", "data-testid": "duration" }, formatDuration(elapsed(e.state)))))));
}

export async function dashboardPage(ctx) {
  document.title = "Dashboard · Podium";
  let range = ctx.query.get("range") || "24h";
  if (!RANGES[range]) range = "24h";
  const select = h("select", { id: "dash-range", "aria-label": "Time range" }, Object.entries(RANGES).map(([k, [label]]) => h("option", { value: k, selected: k === range }, label)));
  const stats = h("div", { class: "grid-4", style: { marginBottom: "16px" } });
  const chart = h("div", { class: "card-body" });
  const failing = h("div", {});
  const running = h("div", {});
  const queued = h("div", {});
  clear(ctx.main,
    pageHead({ title: "Dashboard", actions: [select] }),
    stats,
    h("div", { class: "card", style: { marginBottom: "16px" } }, h("div", { class: "card-head" }, h("h2", {}, "Executions by state")), chart),
    h("div", { class: "grid-2 dash-lists" },
      h("div", { class: "card", "data-testid": "running-now" }, h("div", { class: "card-head" }, h("h2", {}, "Running now")), running),
      h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Queued")), queued),
      h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Failing flows")), failing)));

  async function load() {
    const [label, span, interval] = RANGES[range];
    const end = new Date();
    const start = new Date(end.getTime() - span);
    const [data, run, que] = await Promise.all([
      api("/stats/executions", { query: { startDate: start.toISOString(), endDate: end.toISOString(), interval } }).catch((err) => (err.status === 404 || err.status === 405 ? null : Promise.reject(err))),
      api("/executions/search", { query: { state: ["RUNNING", "RETRYING", "KILLING"], size: 10, sort: "startDate:desc" } }),
      api("/executions/search", { query: { state: ["QUEUED", "CREATED"], size: 10, sort: "startDate:desc" } }),
    ]);
    if (!ctx.isCurrent()) return;
    clear(running, executionList(run.results || [], "Nothing is running."));
    clear(queued, executionList(que.results || [], "Nothing is waiting."));
    if (!data) {
      clear(stats, stat("Running", String(run.total ?? (run.results || []).length)), stat("Queued", String(que.total ?? (que.results || []).length)));
      clear(chart, h("div", { class: "notice" }, "The chart needs GET /stats/executions, which this server does not serve yet."));
      clear(failing, h("div", { class: "empty" }, "—"));
      return;
    }
    const buckets = fillBuckets(data.buckets || [], start, end, interval);
    const sum = (st) => buckets.reduce((a, b) => a + ((b.counts || {})[st] || 0), 0);
    const total = buckets.reduce((a, b) => a + Object.values(b.counts || {}).reduce((x, y) => x + y, 0), 0);
    const ended = sum("SUCCESS") + sum("WARNING") + sum("FAILED") + sum("KILLED") + sum("CANCELLED");
    clear(stats,
      stat(`Executions · ${label.toLowerCase()}`, total.toLocaleString()),
      stat("Success rate", ended ? `${Math.round(((sum("SUCCESS") + sum("WARNING")) / ended) * 100)}%` : "—"),
      stat("Failed", sum("FAILED").toLocaleString()),
      stat("Running", String(data.running ?? run.total ?? 0)),
      stat("Queued", String(data.queued ?? que.total ?? 0)));
    clear(chart, stateChart(buckets, { interval }));
    const flows = data.failingFlows || [];
    clear(failing, flows.length
      ? h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, "Flow"), h("th", { class: "num" }, "Failed"), h("th", {}, "Last failure"))),
        h("tbody", {}, flows.map((f) => h("tr", {},
          h("td", {}, h("a", { href: `/ui${flowPath(f.namespace, f.flowId)}/executions?state=FAILED` }, f.flowId), h("div", { class: "small muted" }, f.namespace)),
          h("td", { class: "num" }, h("span", { class: "state state-FAILED" }, String(f.failed))),
          h("td", { class: "small" }, relative(f.lastFailure))))))
      : h("div", { class: "empty" }, "No failures in this period."));
  }
  select.addEventListener("change", () => {
    range = select.value;
    history.replaceState(null, "", `/ui/dashboard?range=${range}`);
    load();
  });
  await load();
  return every(10000, load);
}
