// One execution: header with live state and actions, then Gantt, Logs, Outputs (with the
// debug expression box), Metrics, Topology and Overview. GET /executions/{id}/follow keeps it live (polling if the stream is not
// served); the stream is closed once the execution is terminal.
import { api, follow, flowPath, isTerminal, stateOf } from "../api.js";
import { h, clear, toast } from "../dom.js";
import { stateBadge, formatDate, formatDuration, formatTime, elapsed, labelTags, STATES } from "../format.js";
import { renderGantt } from "../gantt.js";
import { LogViewer } from "../logs.js";
import { renderOutputs } from "../outputs.js";
import { renderGraph, graphBox, preferredDirection } from "../graph.js";
import { tabs, loading, confirmDialog } from "./common.js";
import { metricsView, debugExpressionBox } from "../execution_tabs.js";

const TABS = [["gantt", "Gantt"], ["logs", "Logs"], ["outputs", "Outputs"], ["metrics", "Metrics"], ["topology", "Topology"], ["overview", "Overview"]];
const SEVERITY = { SKIPPED: 0, SUCCESS: 1, CREATED: 2, QUEUED: 2, WARNING: 3, PAUSED: 4, CANCELLED: 5, RETRYING: 6, RUNNING: 7, KILLING: 7, FAILED: 8, RETRIED: 8, KILLED: 9 };

// task id -> the state to paint on its node: the most telling of its runs.
export function statesByTask(execution) {
  const out = new Map();
  for (const r of execution.taskRunList || []) {
    const st = stateOf(r);
    const prev = out.get(r.taskId);
    if (!prev || (SEVERITY[st] ?? 0) > (SEVERITY[prev] ?? 0)) out.set(r.taskId, st);
  }
  return out;
}

// A new execution is answered at once but stored a moment later (by the projector):
// a 404 right after Execute means "not yet", so look again for a few seconds.
async function firstLook(ctx, id) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await api(`/executions/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.status !== 404) throw err;
      if (attempt >= 40 || !ctx.isCurrent()) {
        if (ctx.isCurrent()) clear(ctx.main, h("div", { class: "card card-body" }, h("h1", {}, "Execution not found"), h("p", { class: "muted" }, `There is no execution ${id}. `, h("a", { href: "/ui/executions" }, "See all executions"))));
        return null;
      }
      if (attempt === 2) loading(ctx.main, "Waiting for the execution to be created…");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export async function executionPage(ctx) {
  const [id, tabParam] = ctx.params;
  const tab = TABS.some(([k]) => k === tabParam) ? tabParam : "gantt";
  let execution = await firstLook(ctx, id);
  if (!execution) return null;
  document.title = `${execution.flowId} ${id.slice(0, 8)} · Podium`;
  const base = `/ui/executions/${encodeURIComponent(id)}`;
  const badgeSlot = h("span", { "data-testid": "execution-state" });
  const actions = h("div", { class: "actions" });
  const facts = h("div", { class: "facts" });
  const body = h("section", { "aria-label": tab });
  const head = h("header", { class: "page-head" },
    h("div", { class: "titles" },
      h("div", { class: "crumb" }, h("a", { href: "/ui/executions" }, "Executions"), " / ", h("a", { href: `/ui${flowPath(execution.namespace, execution.flowId)}` }, `${execution.namespace}.${execution.flowId}`)),
      h("div", { class: "row" }, h("h1", { class: "mono", style: { fontSize: "18px" } }, id), badgeSlot)),
    actions);
  clear(ctx.main, head, facts, tabs(TABS.map(([k, label]) => [k, label, `${base}/${k}`]), tab, "Execution sections"), body);

  let stopLive = null;
  let ticker = null;
  const view = { update: () => {}, destroy: () => {} };

  function button(label, cls, handler, testid) {
    return h("button", { type: "button", class: cls, "data-testid": testid, onclick: handler }, label);
  }

  function renderHead() {
    const st = stateOf(execution);
    clear(badgeSlot, stateBadge(st));
    const terminal = isTerminal(st);
    const list = [];
    if (st === "PAUSED") list.push(button("▶ Resume", "primary", resume, "resume"));
    if (!terminal) list.push(button("■ Kill", "danger", kill, "kill"));
    if (terminal && ["FAILED", "KILLED", "WARNING", "CANCELLED"].includes(st)) list.push(button("↻ Restart", "", restart, "restart"));
    if (terminal) list.push(button("⟲ Replay", "", replay, "replay"));
    clear(actions, list);
    const labels = labelTags(execution.labels);
    const fact = (k, v, props = {}) => h("div", props, h("span", { class: "k" }, k), h("span", {}, v));
    clear(facts,
      fact("Started", formatDate(execution.state.startDate)),
      fact("Duration", formatDuration(elapsed(execution.state)), { "data-testid": "duration" }),
      fact("Revision", String(execution.flowRevision ?? "—")),
      execution.trigger ? fact("Trigger", execution.trigger.id || execution.trigger.type || "") : null,
      labels.length ? fact("Labels", labels) : null,
      execution.error ? fact("Error", typeof execution.error === "string" ? execution.error : execution.error.message || JSON.stringify(execution.error), { style: { color: "var(--danger)" } }) : null);
  }

  async function kill() {
    if (!(await confirmDialog("Kill this execution?", "Running tasks are cancelled and the execution ends KILLED.", "Kill", { danger: true }))) return;
    await api(`/executions/${encodeURIComponent(id)}/kill`, { method: "DELETE" });
    toast("Kill requested");
  }
  async function resume() {
    await api(`/executions/${encodeURIComponent(id)}/resume`, { method: "POST" });
    toast("Resumed");
    startLive();
  }
  async function restart() {
    if (!(await confirmDialog("Restart this execution?", "Failed and killed tasks run again in this execution; the tasks that succeeded keep their outputs.", "Restart"))) return;
    const before = JSON.stringify(execution.state.histories || []);
    await api(`/executions/${encodeURIComponent(id)}/restart`, { method: "POST" });
    toast("Restarted: failed tasks run again");
    // the restart goes through the executor: wait until the execution has moved on
    for (let i = 0; i < 40 && ctx.isCurrent(); i += 1) {
      const next = await api(`/executions/${encodeURIComponent(id)}`);
      if (JSON.stringify(next.state.histories || []) !== before || !isTerminal(stateOf(next))) {
        apply(next);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    startLive();
  }
  async function replay() {
    if (!(await confirmDialog("Replay this execution?", "A new execution of the same flow revision starts with the same inputs.", "Replay"))) return;
    const created = await api(`/executions/${encodeURIComponent(id)}/replay`, { method: "POST" });
    toast("Replay started");
    ctx.navigate(`/ui/executions/${encodeURIComponent(created.id)}`);
  }

  function apply(next) {
    if (!next || !ctx.isCurrent()) return;
    if (!next.taskRunList && execution.taskRunList) next = { ...next, taskRunList: execution.taskRunList };
    execution = next;
    renderHead();
    view.update(execution);
  }

  function startLive(force = false) {
    if (stopLive) stopLive();
    clearInterval(ticker);
    if (isTerminal(stateOf(execution)) && !force) return;
    if (view.setLive) view.setLive(true);
    let polling = null;
    const finish = () => {
      clearInterval(ticker);
      if (view.setLive) view.setLive(false);
    };
    const closeStream = follow(`/executions/${encodeURIComponent(id)}/follow`, {
      onData: apply,
      until: (data) => isTerminal(stateOf(data)),
      onEnd: finish,
      onFail: () => {
        polling = setInterval(async () => {
          const next = await api(`/executions/${encodeURIComponent(id)}`).catch(() => null);
          if (next) apply(next);
          if (next && isTerminal(stateOf(next))) {
            clearInterval(polling);
            finish();
          }
        }, 1000);
      },
    });
    stopLive = () => {
      closeStream();
      clearInterval(polling);
    };
    // durations and running bars move with the clock
    ticker = setInterval(() => {
      if (!isTerminal(stateOf(execution))) {
        renderHead();
        if (view.tick) view.tick(execution);
      }
    }, 1000);
  }

  const views = { gantt: ganttView, logs: logsView, outputs: outputsView, metrics: metricsView, topology: topologyView, overview: overviewView };
  Object.assign(view, await views[tab](ctx, body, execution, { base }));
  renderHead();
  startLive();
  return () => {
    if (stopLive) stopLive();
    clearInterval(ticker);
    view.destroy();
  };
}

function ganttView(ctx, body, execution, { base }) {
  const draw = (ex) => clear(body,
    h("div", { class: "legend", style: { marginBottom: "10px" } }, legendStates(ex).map((st) => h("span", {}, h("span", { class: `dot state-${st}` }), st.toLowerCase()))),
    renderGantt(ex, { emptyText: whyNothingRan(ex), onTask: (run) => ctx.navigate(`${base}/logs?taskId=${encodeURIComponent(run.taskId)}`) }));
  draw(execution);
  return { update: draw, tick: draw, destroy: () => {} };
}

// Every state the chart draws: the task runs' (their dots) and each attempt's (the bars).
export function legendStates(execution) {
  const seen = new Set();
  for (const r of execution.taskRunList || []) {
    seen.add(stateOf(r));
    for (const a of r.attempts || []) if (a.state && a.state.current) seen.add(a.state.current);
  }
  return [...STATES, "RETRIED"].filter((s) => seen.has(s)).concat([...seen].filter((s) => !STATES.includes(s) && s !== "RETRIED"));
}

// Why an ended execution has no task runs (and so no logs): its error, e.g. a
// concurrency limit that failed it before it started.
export function whyNothingRan(execution) {
  if ((execution.taskRunList || []).length || !isTerminal(stateOf(execution))) return null;
  const error = execution.error ? (typeof execution.error === "string" ? execution.error : execution.error.message || JSON.stringify(execution.error)) : null;
  return `No task ran: the execution ended ${stateOf(execution)} before it started${error ? ` (${error})` : ""}.`;
}

function taskIds(execution) {
  return [...new Set((execution.taskRunList || []).map((r) => r.taskId))];
}

function logsView(ctx, body, execution) {
  const viewer = new LogViewer(execution.id, { tasks: taskIds(execution), taskId: ctx.query.get("taskId") || "", live: !isTerminal(stateOf(execution)), emptyText: whyNothingRan(execution) });
  clear(body, viewer.el);
  return {
    update: (ex) => viewer.setTasks(taskIds(ex)),
    setLive: (live) => viewer.setLive(live),
    destroy: () => viewer.destroy(),
  };
}

function outputsView(ctx, body, execution) {
  let shown = null;
  const outputs = h("div", {});
  const debug = debugExpressionBox(execution);
  clear(body, h("div", { class: "stack" }, outputs, debug.el));
  const draw = (ex) => {
    debug.update(ex);
    // keep open previews: redraw only when outputs changed
    const key = JSON.stringify([ex.outputs, (ex.taskRunList || []).map((r) => r.outputs)]);
    if (key === shown) return;
    shown = key;
    clear(outputs, renderOutputs(ex));
  };
  draw(execution);
  return { update: draw, destroy: () => {} };
}

async function topologyView(ctx, body, execution, { base }) {
  loading(body);
  let graph;
  try {
    graph = await api(`${flowPath(execution.namespace, execution.flowId)}/graph`, { query: { revision: execution.flowRevision } });
  } catch (err) {
    if (err.status !== 404 && err.status !== 405) throw err;
    clear(body, h("div", { class: "notice" }, "The topology needs GET /flows/{namespace}/{id}/graph, which this server does not serve yet."));
    return { update: () => {}, destroy: () => {} };
  }
  let latest = execution;
  let shown = null;
  let box = null;
  const legend = h("div", { class: "legend", style: { marginBottom: "10px" } });
  const draw = (ex) => {
    latest = ex;
    const states = statesByTask(ex);
    const key = JSON.stringify([...states]);
    if (key === shown) return;
    shown = key;
    clear(legend, [...new Set(states.values())].map((st) => h("span", {}, h("span", { class: `dot state-${st}` }), st.toLowerCase())));
    if (box) box.setStates(states);
    else {
      box = graphBox(renderGraph(graph, { states, direction: preferredDirection() }), { panel: (node) => taskRunPanel(node, latest, base) });
      clear(body, legend, box);
    }
  };
  draw(execution);
  return { update: draw, destroy: () => {} };
}

// The side panel of a task in an execution: its runs and attempts, outputs, last logs.
async function taskRunPanel(node, execution, base) {
  const runs = (execution.taskRunList || []).filter((r) => r.taskId === node.id);
  if (!runs.length) return h("p", { class: "muted small", "data-testid": "panel-no-run" }, "This task has not run in this execution.");
  const rows = runs.flatMap((r) => {
    const attempts = r.attempts && r.attempts.length ? r.attempts : [{ attempt: 1, state: r.state }];
    return attempts.map((a, i) => h("tr", { "data-testid": "panel-attempt" },
      h("td", { class: "mono small" }, `${r.value !== null && r.value !== undefined ? `${r.value} · ` : ""}#${a.attempt || i + 1}`),
      h("td", {}, stateBadge((a.state && a.state.current) || stateOf(r))),
      h("td", { class: "small nowrap" }, formatDate(a.state && a.state.startDate)),
      h("td", { class: "small nowrap num" }, formatDuration(elapsed(a.state)))));
  });
  const logs = h("div", { class: "panel-logs", "data-testid": "panel-logs" }, "Loading…");
  const withOutputs = runs.filter((r) => r.outputs && Object.keys(r.outputs).length);
  const out = h("div", { class: "stack" },
    h("h3", {}, "Attempts"),
    h("table", { class: "attempts" }, h("tbody", {}, rows)),
    runs.some((r) => r.error) ? h("div", { class: "form-error small" }, runs.filter((r) => r.error).map((r) => (typeof r.error === "string" ? r.error : r.error.message || JSON.stringify(r.error))).join("\n")) : null,
    h("h3", {}, "Outputs"),
    withOutputs.length ? h("div", { "data-testid": "panel-outputs" }, renderOutputs({ id: execution.id, taskRunList: withOutputs })) : h("p", { class: "muted small" }, "No outputs."),
    h("div", { class: "row" }, h("h3", {}, "Logs"), h("span", { class: "spacer" }), h("a", { class: "small", href: `${base}/logs?taskId=${encodeURIComponent(node.id)}` }, "All logs of this task")),
    logs);
  api("/logs/search", { query: { executionId: execution.id, taskId: node.id, minLevel: "INFO", size: 50 } }).then((data) => {
    const lines = data.results || [];
    clear(logs, lines.length ? lines.map((e) => `${formatTime(e.timestamp, false)} ${e.level} ${String(e.message).split("\n")[0]}\n`) : "No log lines.");
  }).catch((err) => clear(logs, err.message));
  return out;
}

function overviewView(ctx, body, execution) {
  const draw = (ex) => {
    const histories = (ex.state && ex.state.histories) || [];
    clear(body, h("div", { class: "grid-2" },
      h("div", { class: "card card-body stack" }, h("h3", {}, "Execution"),
        h("dl", { class: "kv" },
          h("dt", {}, "Id"), h("dd", { class: "mono" }, ex.id),
          h("dt", {}, "Flow"), h("dd", {}, `${ex.namespace}.${ex.flowId} (revision ${ex.flowRevision ?? "?"})`),
          h("dt", {}, "State"), h("dd", {}, stateBadge(stateOf(ex))),
          h("dt", {}, "Created"), h("dd", {}, formatDate(histories[0] && histories[0].date)),
          h("dt", {}, "Started"), h("dd", {}, formatDate(ex.state.startDate)),
          h("dt", {}, "Ended"), h("dd", {}, formatDate(ex.state.endDate)),
          h("dt", {}, "Duration"), h("dd", {}, formatDuration(elapsed(ex.state))),
          ex.parentId ? [h("dt", {}, "Parent"), h("dd", {}, h("a", { href: `/ui/executions/${encodeURIComponent(ex.parentId)}` }, ex.parentId))] : null,
          h("dt", {}, "Trigger"), h("dd", {}, ex.trigger ? h("code", {}, ex.trigger.id || ex.trigger.type || JSON.stringify(ex.trigger).slice(0, 120)) : "manual"),
          h("dt", {}, "Labels"), h("dd", {}, labelTags(ex.labels).length ? labelTags(ex.labels) : "—"))),
      h("div", { class: "card card-body stack" }, h("h3", {}, "Inputs"),
        Object.keys(ex.inputs || {}).length
          ? h("dl", { class: "kv mono" }, Object.entries(ex.inputs).map(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "string" ? v : JSON.stringify(v))]))
          : h("p", { class: "muted" }, "No inputs."),
        h("h3", {}, "State history"),
        h("table", { class: "table" }, h("tbody", {}, histories.map((hs) => h("tr", {}, h("td", {}, stateBadge(hs.state)), h("td", { class: "small" }, formatDate(hs.date)))))))));
  };
  draw(execution);
  return { update: draw, destroy: () => {} };
}
