// Two pieces of the execution page: the Metrics tab (the counters and timers its task runs
// emitted, GET /metrics/{id}) and the "debug expression" box of the Outputs tab, which
// evaluates an expression against an ended task run's context (POST
// /executions/{id}/eval/{taskRunId}; the server gives no secrets to it).
import { api, isTerminal, stateOf } from "./api.js";
import { h, clear } from "./dom.js";
import { formatDate } from "./format.js";

const METRICS_PAGE = 200;

function metricValue(m) {
  if (m.type === "timer") return `${Number(m.value).toLocaleString()} ms`;
  return Number(m.value).toLocaleString();
}

// The Metrics tab: a table of every metric, by task; refreshed while the execution runs.
export function metricsView(ctx, body, execution) {
  const tbody = h("tbody", {});
  const note = h("div", { class: "small muted", style: { padding: "6px 12px" } });
  let shown = null;
  let pending = null;
  async function load(ex) {
    const key = JSON.stringify((ex.taskRunList || []).map((r) => [r.id, stateOf(r)]));
    if (key === shown) return;
    shown = key;
    if (pending) pending.abort();
    pending = new AbortController();
    let data;
    try {
      data = await api(`/metrics/${encodeURIComponent(ex.id)}`, { query: { size: METRICS_PAGE }, signal: pending.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      clear(tbody, h("tr", {}, h("td", { colspan: 6, class: "empty" }, err.message)));
      return;
    }
    const rows = data.results || [];
    clear(tbody, rows.length
      ? rows.map((m) => h("tr", { "data-metric": m.name, "data-key": `${m.taskRunId}/${m.name}/${m.timestamp}` },
        h("td", {}, m.taskId || "—"),
        h("td", { class: "mono" }, m.name),
        h("td", { class: "small" }, m.type),
        h("td", { class: "num", "data-testid": "metric-value" }, metricValue(m)),
        h("td", { class: "small" }, Object.entries(m.tags || {}).map(([k, v]) => h("span", { class: "label-tag" }, `${k}: ${v}`))),
        h("td", { class: "small nowrap" }, formatDate(m.timestamp))))
      : h("tr", {}, h("td", { colspan: 6, class: "empty" }, isTerminal(stateOf(ex)) ? "No task emitted metrics." : "No metrics yet.")));
    clear(note, data.total > rows.length ? `The first ${rows.length} of ${data.total.toLocaleString()} metrics.` : "");
  }
  clear(body, h("div", { class: "card" },
    h("table", { class: "table", "data-testid": "metrics-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Task"), h("th", {}, "Metric"), h("th", {}, "Type"), h("th", { class: "num" }, "Value"), h("th", {}, "Tags"), h("th", {}, "Time"))),
      tbody),
    note));
  clear(tbody, h("tr", {}, h("td", { colspan: 6, class: "empty" }, "Loading…")));
  load(execution);
  return { update: load, destroy: () => pending && pending.abort() };
}

// The debug expression box: pick an ended task run, write an expression, see what it
// renders to in that task run's context (or why it cannot).
export function debugExpressionBox(execution) {
  const select = h("select", { id: "debug-task-run", "data-testid": "debug-task-run" });
  const input = h("textarea", { id: "debug-expression", spellcheck: "false", placeholder: "{{ outputs }}", "data-testid": "debug-input" });
  const output = h("pre", { class: "result", "data-testid": "debug-result", hidden: true });
  const run = h("button", { type: "submit", class: "primary small", "data-testid": "debug-run" }, "Evaluate");
  const form = h("form", { class: "card card-body stack debug-expression", "aria-label": "Debug expression" },
    h("h3", {}, "Debug expression"),
    h("p", { class: "small muted" }, "Render an expression in the context of an ended task run (its outputs, inputs, labels…). Secrets are not available here."),
    h("div", { class: "row" }, h("div", { class: "field grow" }, h("label", { for: "debug-task-run" }, "Task run"), select)),
    h("div", { class: "field" }, h("label", { for: "debug-expression" }, "Expression"), input),
    h("div", { class: "row" }, run),
    output);
  function fill(ex) {
    const chosen = select.value;
    const runs = (ex.taskRunList || []).filter((r) => isTerminal(stateOf(r)));
    clear(select, runs.length
      ? runs.map((r) => h("option", { value: r.id, selected: r.id === chosen }, `${r.taskId}${r.value ? ` [${r.value}]` : ""} · ${stateOf(r).toLowerCase()}`))
      : h("option", { value: "" }, "No task run has ended yet"));
    run.disabled = !runs.length;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!select.value || !input.value.trim()) return;
    run.disabled = true;
    output.hidden = false;
    output.classList.remove("error");
    clear(output, "Evaluating…");
    try {
      const answer = await api(`/executions/${encodeURIComponent(execution.id)}/eval/${encodeURIComponent(select.value)}`, { method: "POST", body: input.value, contentType: "text/plain" });
      if (answer.error) {
        output.classList.add("error");
        clear(output, answer.error);
      } else {
        clear(output, answer.result ?? "");
      }
    } catch (err) {
      output.classList.add("error");
      clear(output, err.message);
    } finally {
      run.disabled = false;
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  fill(execution);
  return { el: form, update: fill };
}
