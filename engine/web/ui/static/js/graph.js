// Topology: the task tree of GET /flows/{ns}/{id}/graph drawn as SVG.
//
// renderGraph(graph, {states, direction}) lays the tree out and returns an <svg> at its
// natural size: sequences run along the main axis (left to right, or top to bottom) with
// arrows; a flowable task (If, Switch, Parallel, ForEach, WorkingDirectory, Subflow...) is
// a dashed cluster holding its branches side by side on the cross axis; tasks of a
// parallel branch sit side by side too. errors / finally / afterExecution are sections
// after the main line. `states` (task id -> state) colours nodes on an execution's page.
//
// graphBox(svg, {panel}) puts that svg in a card that fits it by default (never below a
// readable scale: a big flow is then panned, not shrunk to dust), with zoom (buttons,
// wheel, pinch, + / - keys), pan (drag, arrow keys), a horizontal/vertical switch, and a
// side panel for the node clicked: its type, a link to the plugin's page, and whatever
// `panel(node)` adds (an execution adds the task's attempts, outputs and logs).
import { h, s, clear } from "./dom.js";

const NODE_W = 180;
const NODE_H = 50;
const GAP_MAIN = 40; // between tasks of a sequence
const GAP_CROSS = 14; // between parallel tasks and between branches
const PAD = 12;
const HEAD = 30; // a cluster's title band
const LABEL_H = 18; // a branch's name
const SECTION_HEAD = 26;
const MIN_FIT = 0.8; // fitting never shrinks text below this scale
const MIN_ZOOM = 0.2;
const MAX_ZOOM = 2.5;
const DIRECTION_KEY = "podium.topology.direction";

const shortType = (type) => (type || "").split(".").pop();
const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
const hasBranches = (node) => node.flowable && (node.branches || []).some((b) => (b.tasks || []).length);
const branchesOf = (node) => node.branches.filter((b) => (b.tasks || []).length);

// Where each rendered svg came from, so graphBox can redraw it in the other direction
// and find the node behind a click.
const sources = new WeakMap();

export function pluginHref(type) {
  return `/ui/plugins/${encodeURIComponent(type)}`;
}

// ---------- layout: sizes first (memoised), then positions ----------

class Layout {
  constructor(direction) {
    this.lr = direction !== "TB";
    this.sizes = new Map();
  }

  node(node) {
    let m = this.sizes.get(node);
    if (m) return m;
    if (!hasBranches(node)) m = { w: NODE_W, h: NODE_H };
    else {
      const lists = branchesOf(node).map((b) => this.list(b.tasks, b.parallel));
      if (this.lr) {
        // branches one under the other, each under its label
        const w = Math.max(...lists.map((l) => l.w));
        const h = HEAD + lists.reduce((a, l) => a + LABEL_H + l.h, 0) + GAP_CROSS * (lists.length - 1);
        m = { w: Math.max(w + 2 * PAD, NODE_W + 2 * PAD), h: h + PAD };
      } else {
        // branches side by side, each under its label
        const w = lists.reduce((a, l) => a + l.w, 0) + GAP_CROSS * (lists.length - 1);
        const h = HEAD + LABEL_H + Math.max(...lists.map((l) => l.h));
        m = { w: Math.max(w + 2 * PAD, NODE_W + 2 * PAD), h: h + PAD };
      }
    }
    this.sizes.set(node, m);
    return m;
  }

  list(tasks, parallel) {
    if (!tasks || !tasks.length) return { w: NODE_W * 0.6, h: 24 };
    const sizes = tasks.map((t) => this.node(t));
    const sum = (k, gap) => sizes.reduce((a, m) => a + m[k], 0) + gap * (sizes.length - 1);
    const max = (k) => Math.max(...sizes.map((m) => m[k]));
    const alongX = this.lr !== Boolean(parallel); // a sequence in LR, a parallel list in TB
    return alongX ? { w: sum("w", parallel ? GAP_CROSS : GAP_MAIN), h: max("h") } : { w: max("w"), h: sum("h", parallel ? GAP_CROSS : GAP_MAIN) };
  }
}

function edge(x1, y1, x2, y2, lr) {
  const straight = lr ? y1 === y2 : x1 === x2;
  if (straight) return s("path", { class: "edge", d: lr ? `M${x1},${y1} L${x2 - 2},${y2}` : `M${x1},${y1} L${x2},${y2 - 2}` });
  if (lr) {
    const mx = (x1 + x2) / 2;
    return s("path", { class: "edge", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}` });
  }
  const my = (y1 + y2) / 2;
  return s("path", { class: "edge", d: `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2 - 2}` });
}

class Drawing {
  constructor(layout, states) {
    this.layout = layout;
    this.states = states;
    this.nodes = new Map(); // task id -> node (the first one with that id)
  }

  stateOf(id) {
    return (this.states && this.states.get(id)) || null;
  }

  props(base, node) {
    const state = this.stateOf(node.id);
    return { class: `${base}${state ? ` has-state state-${state}` : ""}${node.disabled ? " disabled" : ""}`, "data-task-id": node.id, "data-state": state };
  }

  remember(node) {
    if (!this.nodes.has(node.id)) this.nodes.set(node.id, node);
  }

  leaf(node, x, y, out, extra = "") {
    this.remember(node);
    const state = this.stateOf(node.id);
    const kind = shortType(node.type) + (node.subflow ? " ↗" : "");
    const name = clip(node.id, 23);
    const detail = clip(kind, 30) + (state ? ` · ${state.toLowerCase()}` : "");
    // the name said to a screen reader is the text shown (the full type is in the panel)
    out.append(s("g", { ...this.props(`node${extra}`, node), transform: `translate(${x},${y})`, tabindex: 0, role: "button", "aria-label": `${name} ${detail}` },
      s("title", {}, `${node.id}\n${node.type}${node.description ? `\n${node.description}` : ""}${state ? `\nstate: ${state}` : ""}`),
      s("rect", { class: "box", width: NODE_W, height: NODE_H, rx: 7 }),
      s("rect", { class: "stripe", width: 4, height: NODE_H - 12, x: 6, y: 6, rx: 2 }),
      // one text, two lines: its text content reads "name detail", as the label does
      s("text", {}, s("tspan", { x: 18, y: 21 }, `${name} `), s("tspan", { class: "type", x: 18, y: 38 }, detail))));
  }

  node(node, x, y, out) {
    if (!hasBranches(node)) {
      this.leaf(node, x, y, out);
      return;
    }
    this.remember(node);
    const m = this.layout.node(node);
    const state = this.stateOf(node.id);
    const title = `${clip(node.id, 28)} · ${shortType(node.type)}${state ? ` · ${state.toLowerCase()}` : ""}`;
    const g = s("g", { ...this.props("group", node), role: "group", "aria-label": title },
      s("rect", { class: "frame", x, y, width: m.w, height: m.h, rx: 10 }),
      // the title band is the cluster's handle: click or Enter opens its panel
      s("g", { class: "group-head", "data-task-id": node.id, tabindex: 0, role: "button", "aria-label": title },
        s("title", {}, `${node.id}\n${node.type}${node.description ? `\n${node.description}` : ""}`),
        s("rect", { x, y, width: m.w, height: HEAD - 4, rx: 10 }),
        s("text", { class: "title", x: x + PAD, y: y + 19 }, title)));
    out.append(g);
    const lr = this.layout.lr;
    let cx = x + PAD;
    let cy = y + HEAD;
    const branches = branchesOf(node);
    const rowH = lr ? 0 : Math.max(...branches.map((b) => this.layout.list(b.tasks, b.parallel).h));
    branches.forEach((b, i) => {
      const lm = this.layout.list(b.tasks, b.parallel);
      const label = `${b.name}${b.parallel ? " · parallel" : ""}`;
      if (lr) {
        if (i) cy += GAP_CROSS;
        g.append(s("text", { class: "branch-label", x: cx, y: cy + 12 }, label));
        cy += LABEL_H;
        this.list(b.tasks, b.parallel, cx, cy, lm.w, lm.h, g);
        cy += lm.h;
      } else {
        if (i) cx += GAP_CROSS;
        g.append(s("text", { class: "branch-label", x: cx, y: cy + 12 }, clip(label, Math.max(8, Math.floor(lm.w / 7)))));
        this.list(b.tasks, b.parallel, cx, cy + LABEL_H, lm.w, rowH, g);
        cx += lm.w;
      }
    });
  }

  // Draws tasks in the box (x, y, w, h), centred on the cross axis.
  list(tasks, parallel, x, y, w, h, out) {
    if (!tasks || !tasks.length) {
      out.append(s("text", { class: "branch-label", x: x + 4, y: y + 16 }, "(empty)"));
      return;
    }
    const lr = this.layout.lr;
    const sizes = tasks.map((t) => this.layout.node(t));
    const alongX = lr !== Boolean(parallel);
    let cx = x;
    let cy = y;
    tasks.forEach((t, i) => {
      const m = sizes[i];
      if (alongX) {
        const top = parallel ? y : y + (h - m.h) / 2;
        if (i && !parallel) out.append(edge(cx - GAP_MAIN, y + h / 2, cx, y + h / 2, true));
        this.node(t, cx, top, out);
        cx += m.w + (parallel ? GAP_CROSS : GAP_MAIN);
      } else {
        const left = parallel ? x : x + (w - m.w) / 2;
        if (i && !parallel) out.append(edge(x + w / 2, cy - GAP_MAIN, x + w / 2, cy, false));
        this.node(t, left, cy, out);
        cy += m.h + (parallel ? GAP_CROSS : GAP_MAIN);
      }
    });
  }
}

function terminal(cx, cy, end) {
  return s("g", { class: "terminal" }, s("circle", { cx, cy, r: 8 }), end ? s("circle", { class: "end", cx, cy, r: 4 }) : null, s("title", {}, end ? "end" : "start"));
}

// The svg of a flow's graph, at its natural size (width/height/viewBox set).
export function renderGraph(graph, { states = null, direction = "LR" } = {}) {
  const lr = direction !== "TB";
  const layout = new Layout(direction);
  const drawing = new Drawing(layout, states);
  const svg = s("svg", { class: `graph ${lr ? "lr" : "tb"}${states ? " with-states" : ""}`, role: "group", "aria-label": "Flow topology", "data-testid": "topology", "data-direction": lr ? "LR" : "TB" });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { class: "arrow-head", d: "M0,0 L10,5 L0,10 z" }))));
  const root = s("g", { class: "graph-root" });
  svg.append(root);
  const triggers = graph.triggers || [];
  const main = layout.list(graph.tasks || [], false);
  let maxX;
  let y;
  if (lr) {
    const trigH = triggers.length * (NODE_H + GAP_CROSS) - GAP_CROSS;
    const band = Math.max(main.h, trigH, 40);
    let x = 10;
    const mid = 10 + band / 2;
    if (triggers.length) {
      let ty = mid - trigH / 2;
      for (const t of triggers) {
        drawing.leaf({ id: t.id, type: t.type, disabled: t.disabled, trigger: true }, x, ty, root, " trigger");
        root.append(edge(x + NODE_W, ty + NODE_H / 2, x + NODE_W + GAP_MAIN - 10, mid, true));
        ty += NODE_H + GAP_CROSS;
      }
      x += NODE_W + GAP_MAIN - 10;
    }
    root.append(terminal(x + 8, mid, false));
    x += 16;
    root.append(edge(x, mid, x + GAP_MAIN / 1.5, mid, true));
    x += GAP_MAIN / 1.5;
    drawing.list(graph.tasks || [], false, x, 10, main.w, band, root);
    x += main.w;
    root.append(edge(x, mid, x + GAP_MAIN / 1.5, mid, true));
    x += GAP_MAIN / 1.5;
    root.append(terminal(x + 8, mid, true));
    maxX = x + 20;
    y = 10 + band + 24;
  } else {
    const trigW = triggers.length * (NODE_W + GAP_CROSS) - GAP_CROSS;
    const band = Math.max(main.w, trigW, 40);
    const mid = 10 + band / 2;
    y = 10;
    if (triggers.length) {
      let tx = mid - trigW / 2;
      for (const t of triggers) {
        drawing.leaf({ id: t.id, type: t.type, disabled: t.disabled, trigger: true }, tx, y, root, " trigger");
        root.append(edge(tx + NODE_W / 2, y + NODE_H, mid, y + NODE_H + GAP_MAIN - 10, false));
        tx += NODE_W + GAP_CROSS;
      }
      y += NODE_H + GAP_MAIN - 10;
    }
    root.append(terminal(mid, y + 8, false));
    y += 16;
    root.append(edge(mid, y, mid, y + GAP_MAIN / 1.5, false));
    y += GAP_MAIN / 1.5;
    drawing.list(graph.tasks || [], false, 10, y, band, main.h, root);
    y += main.h;
    root.append(edge(mid, y, mid, y + GAP_MAIN / 1.5, false));
    y += GAP_MAIN / 1.5;
    root.append(terminal(mid, y + 8, true));
    maxX = 10 + band + 10;
    y += 16 + 24;
  }
  // errors / finally / afterExecution: boxes after the main line, each a sequence
  for (const [key, label] of [["errors", "ERRORS"], ["finally", "FINALLY"], ["afterExecution", "AFTER EXECUTION"]]) {
    const tasks = graph[key] || [];
    if (!tasks.length) continue;
    const m = layout.list(tasks, false);
    const sec = s("g", { class: `section ${key}`, "data-section": key });
    sec.append(s("rect", { x: 10, y, width: m.w + 2 * PAD, height: m.h + SECTION_HEAD + PAD, rx: 10 }), s("text", { x: 10 + PAD, y: y + 17 }, label));
    drawing.list(tasks, false, 10 + PAD, y + SECTION_HEAD, m.w, m.h, sec);
    root.append(sec);
    maxX = Math.max(maxX, m.w + 2 * PAD + 20);
    y += m.h + SECTION_HEAD + PAD + 18;
  }
  const width = Math.ceil(maxX);
  const height = Math.ceil(y);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  sources.set(svg, { graph, states, direction: lr ? "LR" : "TB", width, height, nodes: drawing.nodes });
  return svg;
}

// ---------- the box: fit, zoom, pan, direction, side panel ----------

function savedDirection() {
  try {
    return localStorage.getItem(DIRECTION_KEY) === "TB" ? "TB" : "LR";
  } catch {
    return "LR";
  }
}

function iconButton(label, text, onclick, testid) {
  return h("button", { type: "button", class: "small", "aria-label": label, title: label, "data-testid": testid, onclick }, text);
}

// The default panel: what the graph knows of a task (its id, type, description).
function taskFacts(node) {
  const doc = node.type ? h("a", { href: pluginHref(node.type), "data-testid": "plugin-doc" }, "Plugin documentation") : null;
  return h("div", { class: "stack" },
    h("dl", { class: "kv" },
      h("dt", {}, "Type"), h("dd", { class: "mono", "data-testid": "panel-type" }, node.type || "—"),
      node.description ? [h("dt", {}, "Description"), h("dd", {}, node.description)] : null,
      node.disabled ? [h("dt", {}, "Status"), h("dd", {}, "disabled")] : null,
      node.subflow ? [h("dt", {}, "Subflow"), h("dd", {}, h("a", { href: `/ui/flows/${encodeURIComponent(node.subflow.namespace)}/${encodeURIComponent(node.subflow.flowId)}` }, `${node.subflow.namespace}.${node.subflow.flowId}`))] : null,
      node.trigger ? [h("dt", {}, "Kind"), h("dd", {}, "trigger")] : null),
    doc);
}

export function graphBox(svg, { panel = null } = {}) {
  const source = sources.get(svg) || null;
  const viewport = h("div", { class: "graph-viewport", tabindex: "0", role: "region", "aria-label": "Topology: drag or use the arrow keys to move, + and - to zoom", "data-testid": "graph-viewport" });
  const zoomText = h("span", { class: "small muted zoom-level", "data-testid": "zoom-level", "aria-live": "polite" });
  const side = h("aside", { class: "graph-panel card", hidden: true, "aria-label": "Task details", "data-testid": "graph-panel" });
  const layoutButton = source
    ? h("button", { type: "button", class: "small", "data-testid": "graph-direction", title: "Switch between a horizontal and a vertical layout" })
    : null;
  const box = h("div", { class: "graph-box" },
    h("div", { class: "graph-tools" },
      iconButton("Zoom out", "−", () => zoomBy(1 / 1.25), "zoom-out"),
      zoomText,
      iconButton("Zoom in", "+", () => zoomBy(1.25), "zoom-in"),
      iconButton("Fit to the card", "Fit", () => fit(), "zoom-fit"),
      iconButton("Zoom to 100%", "100%", () => setView(1, null, null), "zoom-reset"),
      layoutButton,
      h("span", { class: "small muted hint" }, "Drag to move, wheel or pinch to zoom, click a task for details.")),
    h("div", { class: "graph-body" }, viewport, side));

  let current = svg;
  let view = { k: 1, x: 0, y: 0 };
  let touched = false; // the user zoomed or panned: a resize no longer refits
  let selected = null;

  function size() {
    const meta = sources.get(current);
    return meta ? { w: meta.width, h: meta.height } : { w: Number(current.getAttribute("width")) || 600, h: Number(current.getAttribute("height")) || 300 };
  }

  function mount(next) {
    current = next;
    current.removeAttribute("width");
    current.removeAttribute("height");
    current.removeAttribute("viewBox");
    current.classList.add("graph-live");
    clear(viewport, current);
    const meta = sources.get(current);
    if (layoutButton && meta) layoutButton.textContent = meta.direction === "TB" ? "⇆ Horizontal" : "⇅ Vertical";
    if (selected) {
      const el = current.querySelector(`[data-task-id="${CSS.escape(selected)}"]`);
      if (el) el.classList.add("selected");
    }
  }

  function apply() {
    const root = current.querySelector(".graph-root");
    if (root) root.setAttribute("transform", `translate(${view.x.toFixed(1)},${view.y.toFixed(1)}) scale(${view.k.toFixed(4)})`);
    zoomText.textContent = `${Math.round(view.k * 100)}%`;
  }

  // Keeps at least a corner of the drawing in sight.
  function clamp() {
    const { w, h: hh } = size();
    const vw = viewport.clientWidth || 600;
    const vh = viewport.clientHeight || 300;
    const margin = 60;
    view.x = Math.min(vw - margin, Math.max(view.x, margin - w * view.k));
    view.y = Math.min(vh - margin, Math.max(view.y, margin - hh * view.k));
  }

  function setView(k, cx, cy) {
    const vw = viewport.clientWidth || 600;
    const vh = viewport.clientHeight || 300;
    const px = cx ?? vw / 2;
    const py = cy ?? vh / 2;
    const next = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, k));
    // the point under (px, py) stays where it is
    view.x = px - ((px - view.x) / view.k) * next;
    view.y = py - ((py - view.y) / view.k) * next;
    view.k = next;
    touched = true;
    clamp();
    apply();
  }

  function zoomBy(factor, cx, cy) {
    setView(view.k * factor, cx, cy);
  }

  // Fit: the whole drawing if it stays readable, else readable from its start.
  function fit() {
    const { w, h: hh } = size();
    const vw = viewport.clientWidth;
    if (!vw) return;
    const maxH = Math.max(220, Math.round(window.innerHeight * 0.7));
    const k = Math.max(MIN_FIT, Math.min(1, (vw - 24) / w, (maxH - 24) / hh));
    const height = Math.min(maxH, Math.max(160, Math.ceil(hh * k) + 24));
    viewport.style.height = `${height}px`;
    view = { k, x: Math.max(12, (vw - w * k) / 2), y: Math.max(12, (height - hh * k) / 2) };
    touched = false;
    apply();
  }

  // ---- pointer: drag to pan, two fingers to pinch ----
  const pointers = new Map();
  let pinch = null;
  viewport.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 && event.pointerType === "mouse") return;
    if (event.target.closest && event.target.closest(".node, .group-head") && event.pointerType === "mouse") return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    viewport.setPointerCapture(event.pointerId);
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = { d: Math.hypot(a.x - b.x, a.y - b.y), k: view.k };
    }
    viewport.classList.add("dragging");
  });
  viewport.addEventListener("pointermove", (event) => {
    const last = pointers.get(event.pointerId);
    if (!last) return;
    const now = { x: event.clientX, y: event.clientY };
    pointers.set(event.pointerId, now);
    if (pointers.size === 2 && pinch) {
      const [a, b] = [...pointers.values()];
      const rect = viewport.getBoundingClientRect();
      const d = Math.hypot(a.x - b.x, a.y - b.y);
      setView(pinch.k * (d / Math.max(1, pinch.d)), (a.x + b.x) / 2 - rect.left, (a.y + b.y) / 2 - rect.top);
      return;
    }
    view.x += now.x - last.x;
    view.y += now.y - last.y;
    touched = true;
    clamp();
    apply();
  });
  const release = (event) => {
    pointers.delete(event.pointerId);
    if (pointers.size < 2) pinch = null;
    if (!pointers.size) viewport.classList.remove("dragging");
  };
  viewport.addEventListener("pointerup", release);
  viewport.addEventListener("pointercancel", release);
  // wheel (and a touchpad's pinch, which the browser sends as a wheel with ctrlKey)
  viewport.addEventListener("wheel", (event) => {
    event.preventDefault();
    const rect = viewport.getBoundingClientRect();
    const step = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    zoomBy(Math.exp(-step * (event.ctrlKey ? 0.01 : 0.0015)), event.clientX - rect.left, event.clientY - rect.top);
  }, { passive: false });
  viewport.addEventListener("keydown", (event) => {
    if (event.target !== viewport) return;
    const pan = { ArrowLeft: [40, 0], ArrowRight: [-40, 0], ArrowUp: [0, 40], ArrowDown: [0, -40] }[event.key];
    if (pan) {
      view.x += pan[0];
      view.y += pan[1];
      touched = true;
      clamp();
      apply();
    } else if (event.key === "+" || event.key === "=") zoomBy(1.25);
    else if (event.key === "-") zoomBy(1 / 1.25);
    else if (event.key === "0") fit();
    else return;
    event.preventDefault();
  });

  // ---- selection: click or Enter on a task opens the side panel ----
  async function select(id) {
    const meta = sources.get(current);
    const node = meta && meta.nodes.get(id);
    if (!node) return;
    selected = id;
    current.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
    current.querySelectorAll(`[data-task-id="${CSS.escape(id)}"]`).forEach((el) => el.classList.add("selected"));
    const close = h("button", { type: "button", class: "small ghost", "aria-label": "Close the details", "data-testid": "panel-close", onclick: closePanel }, "✕");
    const extra = h("div", { class: "stack" });
    clear(side,
      h("div", { class: "card-head" }, h("h2", { class: "mono", "data-testid": "panel-title" }, node.id), h("span", { class: "spacer" }), close),
      h("div", { class: "card-body stack" }, taskFacts(node), extra));
    side.hidden = false;
    box.classList.add("with-panel");
    if (panel && !node.trigger) {
      const content = await panel(node);
      if (selected === id && content) clear(extra, content);
    }
  }
  function closePanel() {
    selected = null;
    side.hidden = true;
    box.classList.remove("with-panel");
    current.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
    viewport.focus();
  }
  viewport.addEventListener("click", (event) => {
    const target = event.target.closest && event.target.closest(".node, .group-head");
    if (target) select(target.dataset.taskId);
  });
  viewport.addEventListener("keydown", (event) => {
    const target = event.target.closest && event.target.closest(".node, .group-head");
    if (target && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(target.dataset.taskId);
    }
  });

  if (layoutButton) {
    layoutButton.addEventListener("click", () => {
      const meta = sources.get(current);
      const direction = meta.direction === "TB" ? "LR" : "TB";
      try {
        localStorage.setItem(DIRECTION_KEY, direction);
      } catch {
        // private mode: the choice lasts this page only
      }
      mount(renderGraph(meta.graph, { states: meta.states, direction }));
      fit();
    });
  }

  // An execution's page repaints the states as they change, keeping the view and the panel.
  box.setStates = (states) => {
    const meta = sources.get(current);
    if (!meta) return;
    mount(renderGraph(meta.graph, { states, direction: meta.direction }));
    apply();
    if (selected) select(selected);
  };

  mount(svg);
  apply();
  // fit once the box has a width, and again when it changes (unless the user moved)
  let width = 0;
  const observer = new ResizeObserver(() => {
    if (!viewport.isConnected) {
      observer.disconnect();
      return;
    }
    if (viewport.clientWidth === width) return;
    width = viewport.clientWidth;
    if (!touched) fit();
  });
  observer.observe(viewport);
  return box;
}

// The direction a page should draw in: the one chosen last.
export function preferredDirection() {
  return savedDirection();
}
