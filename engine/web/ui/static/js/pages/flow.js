// A flow: Topology, Editor (validate as you type, save = new revision), Revisions (diff),
// Executions, Triggers (enable/disable, backfill). Also the new-flow editor.
import { api, flowPath } from "../api.js";
import { h, clear, debounce, toast } from "../dom.js";
import { createEditor } from "../editor.js";
import { renderDiff } from "../diff.js";
import { renderGraph, graphBox, preferredDirection } from "../graph.js";
import { formatDate, fromNow } from "../format.js";
import { pageHead, tabs, loading, confirmDialog, every } from "./common.js";
import { loadFlowSchema } from "../schema.js";
import { executionsTable } from "./executions.js";

const TEMPLATE = `id: hello_world
namespace: company.team
description: A first flow

inputs:
  - id: name
    type: STRING
    defaults: World

tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: Hello {{ inputs.name }}!
`;

const TABS = [["topology", "Topology"], ["editor", "Editor"], ["revisions", "Revisions"], ["executions", "Executions"], ["triggers", "Triggers"]];

function problemsOf(body) {
  if (!body) return [];
  if (Array.isArray(body)) return body.flatMap((item) => item.problems || (item.constraints ? [{ message: item.constraints }] : []));
  return body.problems || (body.message ? [{ message: body.message }] : []);
}

// Long type names and paths break after a dot or a slash, never inside a word.
function breakable(text) {
  return String(text).split(/(?<=[./])/).flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
}

// The editor with its problems and, beside it, the live topology of what is being
// written (POST /flows/graph, drawn by graph.js); used by the Editor tab and New flow.
// Leaving with unsaved changes asks first (in-app links, and closing the tab).
async function editorView(ctx, { source, isNew, ns, id, onSaved }) {
  const status = h("div", { "aria-live": "polite", "data-testid": "validation" });
  const saveBtn = h("button", { class: "primary", type: "button", "data-testid": "save" }, isNew ? "Create flow" : "Save");
  const dirty = h("span", { class: "small muted", "data-testid": "dirty" });
  const graphBody = h("div", { class: "live-graph", "data-testid": "live-topology" }, h("p", { class: "muted small" }, "The topology appears once the flow is valid."));
  const graphNote = h("span", { class: "small muted" });
  const showGraph = localStorage.getItem("podium.editor.topology") !== "off";
  const toggle = h("button", { type: "button", class: "small", "aria-pressed": String(showGraph), "data-testid": "toggle-topology" }, "Topology");
  const graphCard = h("div", { class: "card live-graph-card", hidden: !showGraph },
    h("div", { class: "card-head" }, h("h3", {}, "Topology"), h("span", { class: "spacer" }), graphNote), graphBody);
  let saved = source;
  let validateAvailable = true;
  let seq = 0;

  function showProblems(problems, heading, warnings = []) {
    editor.setErrors([...problems, ...warnings.map((w) => ({ ...w, severity: "warning" }))]);
    if (!problems.length) {
      clear(status, h("div", { class: "valid" }, "✓ Valid flow"),
        warnings.length ? h("div", { class: "small muted" }, `${warnings.length} deprecated form${warnings.length > 1 ? "s" : ""}: ${warnings.map((w) => w.message).join("; ")}`) : null);
      return;
    }
    clear(status, h("div", { class: "problems" },
      h("div", { class: "form-error", role: "alert" }, heading || `${problems.length} problem${problems.length > 1 ? "s" : ""}`),
      problems.map((p) => h("button", { class: "problem", type: "button", "data-line": p.line || "", onclick: () => p.line && editor.goto(p.line, p.column || 1) },
        h("span", { class: "where" }, p.line ? `Line ${p.line}${p.column ? `:${p.column}` : ""}` : "Flow"),
        h("span", {}, breakable(p.path ? `${p.path}: ${p.message}` : p.message))))));
  }

  async function drawGraph(text, mine) {
    if (graphCard.hidden) return;
    try {
      const graph = await api("/flows/graph", { method: "POST", body: text, contentType: "application/x-yaml" });
      if (mine !== seq) return;
      clear(graphBody, graphBox(renderGraph(graph)));
      graphNote.textContent = "";
    } catch (err) {
      if (mine !== seq) return;
      if (err.status === 422 || err.status === 400) graphNote.textContent = "the last valid version";
      else if (err.status === 404 || err.status === 405) clear(graphBody, h("p", { class: "muted small" }, "This server cannot draw a flow that is not saved."));
      else throw err;
    }
  }

  const validate = debounce(async () => {
    const mine = ++seq;
    const text = editor.value;
    if (!validateAvailable) {
      drawGraph(text, mine);
      return;
    }
    try {
      const result = await api("/flows/validate", { method: "POST", body: text, contentType: "application/x-yaml" });
      if (mine !== seq) return;
      const first = Array.isArray(result) ? result[0] || {} : result || {};
      const problems = problemsOf(result);
      showProblems(problems, null, first.warnings || []);
      if (!problems.length) drawGraph(text, mine);
      else graphNote.textContent = "the last valid version";
    } catch (err) {
      if (mine !== seq) return;
      if (err.status === 404 || err.status === 405) {
        validateAvailable = false;
        clear(status, h("div", { class: "muted small" }, "Live validation is not available; the flow is checked when you save."));
      } else if (err.status === 422 || err.status === 400) showProblems(problemsOf(err.body));
    }
  }, 400);

  async function save() {
    saveBtn.disabled = true;
    try {
      const flow = isNew
        ? await api("/flows", { method: "POST", body: editor.value, contentType: "application/x-yaml" })
        : await api(flowPath(ns, id), { method: "PUT", body: editor.value, contentType: "application/x-yaml" });
      saved = editor.value;
      dirty.textContent = "";
      toast(isNew ? `Flow ${flow.namespace}.${flow.id} created` : `Saved revision ${flow.revision}`);
      onSaved(flow);
    } catch (err) {
      if (err.status === 409) {
        existsAlready(err);
      } else if (err.status === 422 || err.status === 400) {
        const problems = problemsOf(err.body);
        showProblems(problems.length ? problems : [{ message: err.message }], "Not saved: the flow is invalid");
      } else throw err;
    } finally {
      saveBtn.disabled = false;
    }
  }

  // A new flow whose id is taken: say so, and offer to open the one that exists.
  function existsAlready(err) {
    const m = /^id:\s*(\S+)/m.exec(editor.value);
    const n = /^namespace:\s*(\S+)/m.exec(editor.value);
    const href = m && n ? `/ui${flowPath(n[1], m[1])}/editor` : null;
    editor.setErrors([]);
    clear(status, h("div", { class: "problems" },
      h("div", { class: "form-error", role: "alert", "data-testid": "exists" },
        m && n ? `A flow ${n[1]}.${m[1]} exists already. ` : `${err.message} `,
        href ? h("a", { href }, "Open it") : null, href ? " to change it, or change the id above to save this one as a new flow." : "")));
  }

  const editor = await createEditor({
    value: source,
    schema: loadFlowSchema(),
    onChange: (text) => {
      dirty.textContent = text === saved ? "" : "● unsaved changes";
      validate();
    },
    onSave: save,
  });
  saveBtn.addEventListener("click", save);
  validate();
  const isDirty = () => editor.value !== saved;
  ctx.setLeaveGuard(isDirty);
  const beforeUnload = (event) => {
    if (!isDirty()) return;
    event.preventDefault();
    event.returnValue = "";
  };
  window.addEventListener("beforeunload", beforeUnload);
  const layout = h("div", { class: showGraph ? "editor-layout" : "editor-layout no-topology" }, editor.el,
    h("aside", { class: "stack editor-side" },
      h("div", { class: "card card-body stack" },
        h("div", { class: "row" }, saveBtn, dirty, h("span", { class: "spacer" }), toggle),
        h("div", { class: "small muted" }, h("kbd", {}, "Ctrl"), " + ", h("kbd", {}, "S"), " saves, ", h("kbd", {}, "Ctrl"), " + ", h("kbd", {}, "Space"), " completes, ", h("kbd", {}, "Ctrl"), " + ", h("kbd", {}, "F"), " searches. ", h("kbd", {}, "Esc"), " then ", h("kbd", {}, "Tab"), " leaves the editor. ", h("a", { href: "/ui/plugins" }, "Plugin documentation")),
        status),
      graphCard));
  toggle.addEventListener("click", () => {
    const on = graphCard.hidden;
    graphCard.hidden = !on;
    toggle.setAttribute("aria-pressed", String(on));
    layout.classList.toggle("no-topology", !on);
    localStorage.setItem("podium.editor.topology", on ? "on" : "off");
    if (on) drawGraph(editor.value, seq);
  });
  // the editor fills the window below its top (at least 320 px)
  const fit = () => {
    const top = layout.getBoundingClientRect().top + window.scrollY;
    layout.style.height = `${Math.max(320, window.innerHeight - top - 24)}px`;
  };
  window.addEventListener("resize", fit);
  requestAnimationFrame(fit);
  const cleanup = () => {
    validate.cancel();
    window.removeEventListener("beforeunload", beforeUnload);
    window.removeEventListener("resize", fit);
    editor.destroy();
  };
  return { el: layout, editor, cleanup, fit };
}

export async function newFlowPage(ctx) {
  document.title = "New flow · Podium";
  const view = await editorView(ctx, {
    source: TEMPLATE, isNew: true,
    onSaved: (flow) => ctx.navigate(`/ui${flowPath(flow.namespace, flow.id)}/editor`, { force: true }),
  });
  clear(ctx.main, pageHead({ crumb: h("a", { href: "/ui/flows" }, "Flows"), title: "New flow" }), view.el);
  view.fit();
  view.editor.focus();
  return view.cleanup;
}

export async function flowPage(ctx) {
  const [ns, id, tabParam] = ctx.params;
  const tab = TABS.some(([k]) => k === tabParam) ? tabParam : "topology";
  document.title = `${id} · Podium`;
  const base = `/ui${flowPath(ns, id)}`;
  let flow;
  try {
    flow = await api(flowPath(ns, id), { query: { source: true } });
  } catch (err) {
    if (err.status === 404) {
      clear(ctx.main, pageHead({ crumb: "Flows", title: "Flow not found" }), h("p", {}, `There is no flow ${ns}.${id}. `, h("a", { href: "/ui/flows" }, "Back to flows")));
      return null;
    }
    throw err;
  }
  const body = h("section", { "aria-label": tab });
  clear(ctx.main,
    pageHead({
      crumb: h("span", {}, h("a", { href: "/ui/flows" }, "Flows"), " / ", h("a", { href: `/ui/flows?namespace=${encodeURIComponent(ns)}` }, ns)),
      title: id,
      badge: h("span", { class: "label-tag", title: "Revision" }, `rev ${flow.revision ?? "?"}`),
      actions: [
        h("button", { type: "button", class: "danger", "data-testid": "delete", onclick: () => deleteFlow(ctx, ns, id) }, "Delete"),
        h("a", { class: "button primary", href: `${base}/execute`, "data-testid": "execute" }, "▶ Execute"),
      ],
    }),
    flow.description ? h("p", { class: "muted", style: { marginTop: "-8px" } }, flow.description) : null,
    tabs(TABS.map(([k, label]) => [k, label, `${base}/${k}`]), tab, "Flow sections"),
    body);
  const views = { topology: topologyTab, editor: editorTab, revisions: revisionsTab, executions: executionsTab, triggers: triggersTab };
  return views[tab](ctx, body, { ns, id, flow, base });
}

async function deleteFlow(ctx, ns, id) {
  if (!(await confirmDialog(`Delete ${ns}.${id}?`, "The flow stops running and its triggers stop. Its executions and revisions are kept.", "Delete", { danger: true }))) return;
  await api(flowPath(ns, id), { method: "DELETE" });
  toast(`Flow ${ns}.${id} deleted`);
  ctx.navigate(`/ui/flows?namespace=${encodeURIComponent(ns)}`);
}

async function topologyTab(ctx, body, { ns, id }) {
  loading(body);
  let graph;
  try {
    graph = await api(`${flowPath(ns, id)}/graph`);
  } catch (err) {
    if (err.status === 404 || err.status === 405) {
      clear(body, h("div", { class: "notice" }, "The topology needs GET /flows/{namespace}/{id}/graph, which this server does not serve yet."));
      return;
    }
    throw err;
  }
  clear(body, graphBox(renderGraph(graph, { direction: preferredDirection() })));
}

async function editorTab(ctx, body, { ns, id, flow, base }) {
  const view = await editorView(ctx, {
    source: flow.source || "", isNew: false, ns, id,
    onSaved: (saved) => {
      const badge = ctx.main.querySelector(".page-head .label-tag");
      if (badge && saved.revision) badge.textContent = `rev ${saved.revision}`;
      if (saved.namespace !== ns || saved.id !== id) ctx.navigate(`/ui${flowPath(saved.namespace, saved.id)}/editor`, { force: true });
    },
  });
  clear(body, view.el);
  view.fit();
  return view.cleanup;
}

async function revisionsTab(ctx, body, { ns, id, base }) {
  loading(body);
  let revisions;
  try {
    revisions = await api(`${flowPath(ns, id)}/revisions`);
  } catch (err) {
    if (err.status === 404 || err.status === 405) {
      clear(body, h("div", { class: "notice" }, "Revision history needs GET /flows/{namespace}/{id}/revisions, which this server does not serve yet."));
      return;
    }
    throw err;
  }
  if (!revisions.length) {
    clear(body, h("div", { class: "empty" }, "No revisions."));
    return;
  }
  const options = (selected) => revisions.map((r) => h("option", { value: r.revision, selected: r.revision === selected }, `Revision ${r.revision} · ${formatDate(r.updated)}`));
  const last = revisions[revisions.length - 1].revision;
  const prev = revisions.length > 1 ? revisions[revisions.length - 2].revision : last;
  const from = h("select", { id: "rev-from" }, options(prev));
  const to = h("select", { id: "rev-to" }, options(last));
  const out = h("div", { class: "card" });
  const restore = h("button", { type: "button", class: "small" }, "Restore the left revision");
  const show = () => {
    const a = revisions.find((r) => String(r.revision) === from.value);
    const b = revisions.find((r) => String(r.revision) === to.value);
    clear(out, h("div", { class: "card-head" }, h("h3", {}, `Revision ${a.revision} → ${b.revision}`), h("span", { class: "spacer" }), restore), renderDiff(a.source || "", b.source || ""));
  };
  restore.addEventListener("click", async () => {
    const a = revisions.find((r) => String(r.revision) === from.value);
    const saved = await api(flowPath(ns, id), { method: "PUT", body: a.source, contentType: "application/x-yaml" });
    toast(`Revision ${a.revision} restored as revision ${saved.revision}`);
    ctx.navigate(`${base}/revisions`, { replace: true });
  });
  from.addEventListener("change", show);
  to.addEventListener("change", show);
  clear(body,
    h("div", { class: "toolbar" },
      h("div", { class: "field" }, h("label", { for: "rev-from" }, "Compare"), from),
      h("div", { class: "field" }, h("label", { for: "rev-to" }, "with"), to)),
    out);
  show();
}

function executionsTab(ctx, body, { ns, id }) {
  return executionsTable(ctx, body, { fixed: { namespace: ns, flowId: id } });
}

async function triggersTab(ctx, body, { ns, id, flow }) {
  loading(body);
  let triggers;
  try {
    triggers = (await api("/triggers/search", { query: { namespace: ns, flowId: id, size: 100 } })).results || [];
  } catch (err) {
    if (err.status !== 404 && err.status !== 405) throw err;
    clear(body, h("div", { class: "notice" }, "Trigger controls need GET /triggers/search, which this server does not serve yet."),
      h("ul", {}, (flow.triggers || []).map((t) => h("li", {}, h("code", {}, t.id), " ", h("span", { class: "muted" }, t.type)))));
    return;
  }
  if (!triggers.length) {
    clear(body, h("div", { class: "card empty" }, "This flow has no triggers."));
    return;
  }
  const tbody = h("tbody", {});
  const render = () => clear(tbody, triggers.map((t, i) => triggerRow(t, i)));
  function triggerRow(t, i) {
    const toggle = h("button", { type: "button", class: "small", "aria-pressed": t.disabled ? "false" : "true", "data-testid": `toggle-${t.triggerId}` }, t.disabled ? "Enable" : "Disable");
    toggle.addEventListener("click", async () => {
      const updated = await api(`/triggers/${encodeURIComponent(ns)}/${encodeURIComponent(id)}/${encodeURIComponent(t.triggerId)}`, { method: "PUT", json: { disabled: !t.disabled } });
      triggers[i] = { ...t, ...updated };
      toast(`Trigger ${t.triggerId} ${triggers[i].disabled ? "disabled" : "enabled"}`);
      render();
    });
    const isSchedule = /Schedule/i.test(t.type || "");
    const backfill = isSchedule ? h("button", { type: "button", class: "small", onclick: () => backfillForm(t, i) }, "Backfill…") : null;
    const bf = t.backfill;
    return h("tr", { "data-trigger": t.triggerId },
      h("td", { class: "mono" }, t.triggerId),
      h("td", { class: "small muted" }, (t.type || "").split(".").pop()),
      h("td", {}, t.disabled ? h("span", { class: "state state-CANCELLED" }, "DISABLED") : h("span", { class: "state state-SUCCESS" }, "ENABLED")),
      h("td", { class: "small", "data-testid": "cron" }, t.cron ? [h("code", {}, t.cron), t.timezone ? h("div", { class: "muted" }, t.timezone) : null] : "—"),
      h("td", { class: "small nowrap", "data-testid": "next-run", title: t.nextExecutionDate || "" }, t.nextExecutionDate && !t.disabled ? [formatDate(t.nextExecutionDate), h("div", { class: "muted" }, fromNow(t.nextExecutionDate))] : "—"),
      h("td", { class: "small", "data-testid": "backfill" }, bf ? backfillText(bf) : "—"),
      h("td", { class: "num" }, h("div", { class: "row", style: { justifyContent: "flex-end" } }, backfill, toggle)));
  }
  function backfillForm(t, i) {
    const start = h("input", { type: "datetime-local", id: "bf-start", required: true, step: 1 });
    const end = h("input", { type: "datetime-local", id: "bf-end", step: 1 });
    const error = h("div", { class: "form-error", hidden: true, role: "alert" });
    const dialog = h("dialog", { "aria-label": `Backfill ${t.triggerId}` });
    const form = h("form", { class: "card-body stack", method: "dialog", novalidate: true },
      h("h2", {}, `Backfill ${t.triggerId}`),
      h("p", { class: "muted small" }, "Runs the schedule for every slot between the two dates, as if the server had been up."),
      error,
      h("div", { class: "field" }, h("label", { for: "bf-start" }, "Start"), start),
      h("div", { class: "field" }, h("label", { for: "bf-end" }, "End ", h("span", { class: "hint" }, "(empty: now)")), end),
      h("div", { class: "row" }, h("span", { class: "spacer" }), h("button", { type: "button", onclick: () => dialog.close() }, "Cancel"), h("button", { type: "submit", class: "primary" }, "Start backfill")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!start.value) {
        error.textContent = "Choose a start date.";
        error.hidden = false;
        return;
      }
      try {
        const updated = await api(`/triggers/${encodeURIComponent(ns)}/${encodeURIComponent(id)}/${encodeURIComponent(t.triggerId)}/backfill`, {
          method: "POST", json: { start: new Date(start.value).toISOString(), end: end.value ? new Date(end.value).toISOString() : null, inputs: {}, labels: {} },
        });
        triggers[i] = { ...t, ...updated };
        render();
        dialog.close();
        toast("Backfill started");
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    });
    dialog.append(form);
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }
  // while a backfill runs, its progress is re-read every two seconds
  const stop = every(2000, async () => {
    if (!triggers.some((t) => t.backfill && t.backfill.running)) return;
    const fresh = (await api("/triggers/search", { query: { namespace: ns, flowId: id, size: 100 } })).results || [];
    if (JSON.stringify(fresh) !== JSON.stringify(triggers)) {
      triggers = fresh;
      render();
    }
  });
  clear(body, h("div", { class: "card" }, h("table", { class: "table", "data-testid": "triggers-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Trigger"), h("th", {}, "Type"), h("th", {}, "Status"), h("th", {}, "Schedule"), h("th", {}, "Next run"), h("th", {}, "Backfill"), h("th", { class: "num" }, h("span", { class: "visually-hidden" }, "Actions")))),
    tbody)));
  render();
  return stop;
}

function backfillText(bf) {
  const status = bf.error ? `Failed: ${bf.error}` : bf.running ? "Running" : "Done";
  const range = `${formatDate(bf.start)} → ${bf.end ? formatDate(bf.end) : "now"}`;
  return `${status} · ${bf.done ?? 0} / ${bf.total ?? "?"} slots · ${range}`;
}
