// The Gantt chart of an execution: one row per task run (indented under its parent), one
// bar per attempt, coloured by state; running bars grow with the clock.
import { h } from "./dom.js";
import { parseDate, formatDuration, formatTime, elapsed } from "./format.js";

const MAX_ROWS = 1000;
const LIVE = new Set(["RUNNING", "RETRYING", "KILLING", "CREATED", "QUEUED"]);

function depthOf(run, byId) {
  let depth = 0;
  let parent = run.parentTaskRunId && byId.get(run.parentTaskRunId);
  while (parent && depth < 20) {
    depth += 1;
    parent = parent.parentTaskRunId && byId.get(parent.parentTaskRunId);
  }
  return depth;
}

// Parents first, children right after their parent, siblings by start time.
function ordered(runs) {
  const byId = new Map(runs.map((r) => [r.id, r]));
  const children = new Map();
  const roots = [];
  const start = (r) => (parseDate(r.state && r.state.startDate) || parseDate(r.state && r.state.histories && r.state.histories[0] && r.state.histories[0].date) || new Date(8.64e15)).getTime();
  for (const r of runs) {
    if (r.parentTaskRunId && byId.has(r.parentTaskRunId)) {
      if (!children.has(r.parentTaskRunId)) children.set(r.parentTaskRunId, []);
      children.get(r.parentTaskRunId).push(r);
    } else roots.push(r);
  }
  const out = [];
  const walk = (list) => {
    list.sort((a, b) => start(a) - start(b));
    for (const r of list) {
      out.push(r);
      if (children.has(r.id)) walk(children.get(r.id));
    }
  };
  walk(roots);
  return { list: out, byId };
}

const errorText = (error) => (typeof error === "string" ? error : error.message || JSON.stringify(error));

export function renderGantt(execution, { onTask = null, emptyText = null } = {}) {
  const runs = execution.taskRunList || [];
  const execStart = parseDate(execution.state && execution.state.startDate);
  const now = Date.now();
  let min = execStart ? execStart.getTime() : Infinity;
  let max = 0;
  const spans = (r) => {
    const attempts = (r.attempts && r.attempts.length ? r.attempts : [{ attempt: 1, state: r.state }]);
    return attempts.map((a) => {
      const st = a.state || {};
      const s = parseDate(st.startDate) || parseDate(r.state && r.state.startDate);
      const e = parseDate(st.endDate) || (LIVE.has(st.current) || !st.current ? null : parseDate(r.state && r.state.endDate));
      return { attempt: a.attempt || 1, state: st.current || (r.state && r.state.current) || "CREATED", start: s ? s.getTime() : null, end: e ? e.getTime() : null };
    });
  };
  const { list, byId } = ordered(runs);
  const rows = list.slice(0, MAX_ROWS).map((r) => ({ run: r, spans: spans(r), depth: depthOf(r, byId) }));
  for (const row of rows) {
    for (const sp of row.spans) {
      if (sp.start !== null) min = Math.min(min, sp.start);
      const end = sp.end ?? (sp.start !== null ? now : null);
      if (end !== null) max = Math.max(max, end);
    }
  }
  const execEnd = parseDate(execution.state && execution.state.endDate);
  if (execEnd) max = Math.max(max, execEnd.getTime());
  if (!Number.isFinite(min)) min = now;
  if (max <= min) max = min + 1000;
  const total = max - min;
  const pct = (t) => ((t - min) / total) * 100;

  if (!runs.length) return h("div", { class: "gantt empty", "data-testid": "gantt" }, emptyText || "No task has started yet.");
  const axis = h("div", { class: "gantt-axis" }, [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", { style: { left: `${f * 100}%` } }, `+${formatDuration((total * f) / 1000)}`)));
  const body = rows.map(({ run, spans: sps, depth }) => {
    const state = (run.state && run.state.current) || "CREATED";
    const bars = sps.filter((sp) => sp.start !== null).map((sp, i) => {
      const end = sp.end ?? now;
      const live = sp.end === null && LIVE.has(sp.state);
      const retried = i < sps.length - 1;
      return h("div", {
        class: `bar state-${sp.state}${live ? " live" : ""}${retried ? " retry" : ""}`,
        "data-attempt": sp.attempt, "data-state": sp.state,
        style: { left: `${pct(sp.start)}%`, width: `${Math.max(0.3, pct(end) - pct(sp.start))}%` },
        title: `${run.taskId}${run.value ? ` [${run.value}]` : ""} · attempt ${sp.attempt} · ${sp.state}\n${formatTime(sp.start)} → ${sp.end ? formatTime(sp.end) : "running"} (${formatDuration((end - sp.start) / 1000)})`,
      });
    });
    const label = onTask
      ? h("button", { type: "button", class: "link", onclick: () => onTask(run), title: `Logs of ${run.taskId}` }, run.taskId)
      : h("span", { class: "mono" }, run.taskId);
    return h("div", { class: "gantt-row", "data-task-id": run.taskId, "data-task-run-id": run.id, "data-state": state },
      h("div", { class: "gantt-label", style: { paddingLeft: `${12 + depth * 16}px` } },
        h("span", { class: `dot state-${state}`, title: state }), label,
        run.value !== null && run.value !== undefined ? h("span", { class: "value" }, String(run.value)) : null,
        sps.length > 1 ? h("span", { class: "value" }, `×${sps.length}`) : null),
      h("div", { class: "gantt-track" }, bars),
      h("div", { class: "gantt-dur" }, formatDuration(elapsed(run.state))),
      run.error ? h("div", { class: "gantt-error", style: { paddingLeft: `${30 + depth * 16}px` } }, errorText(run.error)) : null);
  });
  const more = list.length > MAX_ROWS ? h("div", { class: "empty" }, `${list.length - MAX_ROWS} more task runs not shown`) : null;
  return h("div", { class: "gantt", "data-testid": "gantt" },
    h("div", { class: "gantt-head" }, h("div", {}, "Task"), axis, h("div", { style: { textAlign: "right" } }, "Duration")),
    body, more);
}
