import { h } from "./dom.js";

export const STATES = ["CREATED", "QUEUED", "RUNNING", "PAUSED", "RETRYING", "SUCCESS", "WARNING", "FAILED", "KILLING", "KILLED", "CANCELLED", "SKIPPED"];
const LIVE = new Set(["RUNNING", "RETRYING", "KILLING", "CREATED", "QUEUED"]);

export function stateBadge(state) {
  state = state || "CREATED";
  return h("span", { class: `state state-${state}${LIVE.has(state) ? " live" : ""}`, "data-state": state }, state);
}

export function parseDate(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

export function formatDate(value) {
  const d = parseDate(value);
  if (!d) return "—";
  const today = new Date();
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

export function formatTime(value, withMs = true) {
  const d = parseDate(value);
  if (!d) return "";
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${withMs ? "." + pad(d.getMilliseconds(), 3) : ""}`;
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 0.01) return `${Math.max(0, seconds * 1000).toFixed(1).replace(/\.0$/, "")} ms`;
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m}m ${pad(s)}s`;
  return `${Math.floor(m / 60)}h ${pad(m % 60)}m`;
}

export function relative(value) {
  const d = parseDate(value);
  if (!d) return "never";
  const secs = (Date.now() - d.getTime()) / 1000;
  if (secs < 45) return "just now";
  if (secs < 3600) return `${Math.round(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.round(secs / 3600)} h ago`;
  return `${Math.round(secs / 86400)} d ago`;
}

// "in 5 min" / "3 h ago": a date near now, either side.
export function fromNow(value, now = Date.now()) {
  const d = parseDate(value);
  if (!d) return "";
  const secs = (d.getTime() - now) / 1000;
  const a = Math.abs(secs);
  const span = a < 45 ? "a few seconds" : a < 5400 ? `${Math.round(a / 60)} min` : a < 129600 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return secs >= 0 ? `in ${span}` : `${span} ago`;
}

// Seconds between start and end (or now while running).
export function elapsed(stateObj) {
  if (!stateObj) return null;
  const start = parseDate(stateObj.startDate);
  if (!start) return typeof stateObj.duration === "number" ? stateObj.duration : null;
  const end = parseDate(stateObj.endDate);
  if (end) return (end - start) / 1000;
  if (typeof stateObj.duration === "number" && stateObj.current && !LIVE.has(stateObj.current)) return stateObj.duration;
  return (Date.now() - start) / 1000;
}

export function labelsOf(labels) {
  if (!labels) return [];
  if (Array.isArray(labels)) return labels;
  return Object.entries(labels).map(([key, value]) => ({ key, value }));
}

export function labelTags(labels) {
  return labelsOf(labels)
    .filter((l) => !String(l.key).startsWith("system."))
    .map((l) => h("span", { class: "label-tag" }, `${l.key}:${l.value}`));
}

export const shortId = (id) => (id ? String(id).slice(0, 8) : "");
