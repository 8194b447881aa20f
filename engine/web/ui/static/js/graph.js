// Topology: the task tree of GET /flows/{ns}/{id}/graph drawn as SVG, left to right.
// Sequences run along x with arrows; a flowable task (If, Switch, Parallel, ForEach,
// Subflow...) is a dashed group holding its branches stacked along y; tasks of a parallel
// branch are stacked too. errors / finally / afterExecution are sections below the main
// line. `states` (task id -> state) colours nodes on an execution's page.
import { h, s } from "./dom.js";

const NODE_W = 180;
const NODE_H = 50;
const GAP_X = 40;
const GAP_Y = 14;
const PAD = 12;
const HEAD = 30;
const LABEL_H = 18;
const SECTION_HEAD = 26;

const shortType = (type) => (type || "").split(".").pop();
const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
const hasBranches = (node) => node.flowable && (node.branches || []).some((b) => (b.tasks || []).length);

function measure(node) {
  if (!hasBranches(node)) return { w: NODE_W, h: NODE_H };
  const branches = node.branches.filter((b) => (b.tasks || []).length);
  let w = 0;
  let h = HEAD;
  branches.forEach((b, i) => {
    const m = measureList(b.tasks, b.parallel);
    w = Math.max(w, m.w);
    h += LABEL_H + m.h + (i ? GAP_Y : 0);
  });
  return { w: Math.max(w + 2 * PAD, NODE_W + 2 * PAD), h: h + PAD };
}

function measureList(tasks, parallel) {
  if (!tasks || !tasks.length) return { w: NODE_W * 0.6, h: 24 };
  const sizes = tasks.map(measure);
  if (parallel) return { w: Math.max(...sizes.map((m) => m.w)), h: sizes.reduce((a, m) => a + m.h, 0) + GAP_Y * (sizes.length - 1) };
  return { w: sizes.reduce((a, m) => a + m.w, 0) + GAP_X * (sizes.length - 1), h: Math.max(...sizes.map((m) => m.h)) };
}

function edge(x1, y1, x2, y2) {
  const mx = (x1 + x2) / 2;
  const d = y1 === y2 ? `M${x1},${y1} L${x2 - 2},${y2}` : `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`;
  return s("path", { class: "edge", d });
}

function stateProps(base, id, states) {
  const state = states && states.get(id);
  return { class: `${base}${state ? ` has-state state-${state}` : ""}`, "data-task-id": id, "data-state": state || null };
}

function drawNode(node, x, y, out, states) {
  if (!hasBranches(node)) {
    const state = states && states.get(node.id);
    const g = s("g", { ...stateProps("node", node.id, states), transform: `translate(${x},${y})`, tabindex: 0, role: "img", "aria-label": `${node.id}, ${shortType(node.type)}${state ? `, ${state}` : ""}` },
      s("title", {}, `${node.id}\n${node.type}${node.description ? `\n${node.description}` : ""}${state ? `\nstate: ${state}` : ""}`),
      s("rect", { class: "box", width: NODE_W, height: NODE_H, rx: 7 }),
      s("rect", { class: "stripe", width: 4, height: NODE_H - 12, x: 6, y: 6, rx: 2 }),
      s("text", { x: 18, y: 21 }, clip(node.id, 23)),
      s("text", { class: "type", x: 18, y: 38 }, clip(shortType(node.type) + (node.flowable ? " ⧉" : ""), 30) + (state ? `  ·  ${state.toLowerCase()}` : "")));
    out.append(g);
    return;
  }
  const m = measure(node);
  const g = s("g", { ...stateProps("group", node.id, states), role: "group", "aria-label": `${node.id}, ${shortType(node.type)}` },
    s("title", {}, `${node.id}\n${node.type}`),
    s("rect", { x, y, width: m.w, height: m.h, rx: 10 }),
    s("text", { class: "title", x: x + PAD, y: y + 19 }, `${clip(node.id, 28)}  ·  ${shortType(node.type)}${states && states.get(node.id) ? `  ·  ${states.get(node.id).toLowerCase()}` : ""}`));
  out.append(g);
  let cy = y + HEAD;
  node.branches.filter((b) => (b.tasks || []).length).forEach((b, i) => {
    if (i) cy += GAP_Y;
    g.append(s("text", { class: "branch-label", x: x + PAD, y: cy + 12 }, `${b.name}${b.parallel ? " · parallel" : ""}`));
    cy += LABEL_H;
    const lm = measureList(b.tasks, b.parallel);
    drawList(b.tasks, b.parallel, x + PAD, cy, lm.h, g, states);
    cy += lm.h;
  });
}

// Draws tasks at (x, y) within a band of height `band`; returns the list's width.
function drawList(tasks, parallel, x, y, band, out, states) {
  if (!tasks || !tasks.length) {
    out.append(s("text", { class: "branch-label", x: x + 4, y: y + 16 }, "(empty)"));
    return NODE_W * 0.6;
  }
  const sizes = tasks.map(measure);
  if (parallel) {
    let cy = y;
    tasks.forEach((t, i) => {
      drawNode(t, x, cy, out, states);
      cy += sizes[i].h + GAP_Y;
    });
    return Math.max(...sizes.map((m) => m.w));
  }
  let cx = x;
  const mid = y + band / 2;
  tasks.forEach((t, i) => {
    const top = mid - sizes[i].h / 2;
    if (i) out.append(edge(cx - GAP_X, mid, cx, mid));
    drawNode(t, cx, top, out, states);
    cx += sizes[i].w + GAP_X;
  });
  return cx - GAP_X - x;
}

export function renderGraph(graph, { states = null } = {}) {
  const svg = s("svg", { class: states ? "graph with-states" : "graph", role: "group", "aria-label": "Flow topology", "data-testid": "topology" });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa3b2" }))));
  const root = s("g", {});
  svg.append(root);
  const triggers = graph.triggers || [];
  const main = measureList(graph.tasks || [], false);
  const trigH = triggers.length * (NODE_H + GAP_Y) - GAP_Y;
  const band = Math.max(main.h, trigH, 40);
  let x = 10;
  const mid = 10 + band / 2;
  if (triggers.length) {
    let ty = mid - trigH / 2;
    triggers.forEach((t) => {
      drawNode({ id: t.id, type: t.type, flowable: false }, x, ty, root, null);
      root.lastChild.classList.add("trigger");
      root.append(edge(x + NODE_W, ty + NODE_H / 2, x + NODE_W + GAP_X - 10, mid));
      ty += NODE_H + GAP_Y;
    });
    x += NODE_W + GAP_X - 10;
  }
  root.append(s("g", { class: "terminal" }, s("circle", { cx: x + 8, cy: mid, r: 8 }), s("title", {}, "start")));
  x += 16;
  root.append(edge(x, mid, x + GAP_X / 1.5, mid));
  x += GAP_X / 1.5;
  const width = drawList(graph.tasks || [], false, x, 10, band, root, states);
  x += width;
  root.append(edge(x, mid, x + GAP_X / 1.5, mid));
  x += GAP_X / 1.5;
  root.append(s("g", { class: "terminal" }, s("circle", { cx: x + 8, cy: mid, r: 8 }), s("circle", { cx: x + 8, cy: mid, r: 4, style: "fill:#9aa3b2;stroke:none" }), s("title", {}, "end")));
  let maxX = x + 20;
  let y = 10 + band + 24;
  for (const [key, label] of [["errors", "ERRORS"], ["finally", "FINALLY"], ["afterExecution", "AFTER EXECUTION"]]) {
    const tasks = graph[key] || [];
    if (!tasks.length) continue;
    const m = measureList(tasks, false);
    const sec = s("g", { class: `section ${key}`, "data-section": key });
    sec.append(s("rect", { x: 10, y, width: m.w + 2 * PAD, height: m.h + SECTION_HEAD + PAD, rx: 10 }), s("text", { x: 10 + PAD, y: y + 17 }, label));
    drawList(tasks, false, 10 + PAD, y + SECTION_HEAD, m.h, sec, states);
    root.append(sec);
    maxX = Math.max(maxX, m.w + 2 * PAD + 20);
    y += m.h + SECTION_HEAD + PAD + 18;
  }
  svg.setAttribute("width", Math.ceil(maxX));
  svg.setAttribute("height", Math.ceil(y));
  svg.setAttribute("viewBox", `0 0 ${Math.ceil(maxX)} ${Math.ceil(y)}`);
  return svg;
}

// The SVG in a scrolling box, with a toggle between actual size and fit-to-width.
export function graphBox(svg) {
  const wrap = h("div", { class: "graph-wrap" }, svg);
  const fit = h("button", { type: "button", class: "small", "aria-pressed": "false" }, "Fit to width");
  fit.addEventListener("click", () => {
    const on = wrap.classList.toggle("fit");
    fit.setAttribute("aria-pressed", on ? "true" : "false");
    fit.textContent = on ? "Actual size" : "Fit to width";
  });
  return h("div", {}, h("div", { class: "graph-tools" }, fit, h("span", { class: "small muted" }, "Hover a task for its type and description.")), wrap);
}
