// Executions by state over time: stacked bars in SVG, one colour per state (the same
// classes as the badges), with a y grid and a few x labels.
import { h, s } from "./dom.js";
import { parseDate } from "./format.js";

const ORDER = ["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RUNNING", "PAUSED", "QUEUED", "CREATED", "RETRYING", "KILLING", "SKIPPED"];

// A y step from 1, 2, 5 x 10^k so that four steps cover n.
function niceStep(n) {
  const raw = Math.max(1, n / 4);
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= raw);
}

// The server may leave out empty buckets: one slot per hour/day from start to end.
export function fillBuckets(buckets, start, end, interval) {
  const step = interval === "day" ? 86400e3 : 3600e3;
  const floor = (t) => {
    const d = new Date(t);
    if (interval === "day") d.setHours(0, 0, 0, 0);
    else d.setMinutes(0, 0, 0);
    return d.getTime();
  };
  const known = new Map();
  for (const b of buckets) {
    const d = parseDate(b.start);
    if (d) known.set(floor(d.getTime()), b);
  }
  const out = [];
  for (let t = floor(start.getTime()); t <= end.getTime(); t += step) {
    out.push(known.get(t) || { start: new Date(t).toISOString(), counts: {} });
  }
  return out.length > 400 ? buckets : out;
}

export function stateChart(buckets, { interval = "hour" } = {}) {
  const W = 900;
  const H = 240;
  const L = 36;
  const B = 24;
  const T = 8;
  const totals = buckets.map((b) => Object.values(b.counts || {}).reduce((a, c) => a + c, 0));
  const step = niceStep(Math.max(1, ...totals));
  const max = step * 4;
  const bw = (W - L - 8) / Math.max(1, buckets.length);
  const barW = Math.min(bw * 0.7, 48);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Executions by state over time", "data-testid": "state-chart" });
  for (let i = 0; i <= 4; i += 1) {
    const v = step * i;
    svg.append(s("line", { class: "grid", x1: L, x2: W, y1: y(v), y2: y(v) }), s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, String(Math.round(v))));
  }
  const every = Math.ceil(buckets.length / 8);
  buckets.forEach((b, i) => {
    let acc = 0;
    const x = L + i * bw + (bw - barW) / 2;
    const g = s("g", {});
    const d = parseDate(b.start);
    const label = d ? (interval === "day" ? `${d.getMonth() + 1}/${d.getDate()}` : `${String(d.getHours()).padStart(2, "0")}:00`) : "";
    const parts = [];
    for (const st of ORDER) {
      const n = (b.counts || {})[st] || 0;
      if (!n) continue;
      parts.push(`${n} ${st.toLowerCase()}`);
      g.append(s("rect", { class: `fill state-${st}`, "data-state": st, x, width: Math.max(1, barW), y: y(acc + n), height: Math.max(0.5, y(acc) - y(acc + n)), rx: 1.5 }));
      acc += n;
    }
    g.append(s("title", {}, `${label}: ${parts.join(", ") || "no executions"}`));
    svg.append(g);
    if (i % every === 0) svg.append(s("text", { x: x + barW / 2, y: H - 6, "text-anchor": "middle" }, label));
  });
  const present = ORDER.filter((st) => buckets.some((b) => (b.counts || {})[st]));
  return h("div", { class: "chart" }, svg,
    h("div", { class: "legend", style: { marginTop: "8px" } }, present.map((st) => h("span", {}, h("span", { class: `dot state-${st}` }), st.toLowerCase()))));
}
