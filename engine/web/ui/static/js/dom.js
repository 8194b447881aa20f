// A tiny hyperscript: h("a", {href, class, onclick}, "text", child). Strings become text
// nodes, never HTML, so nothing a user or a flow wrote can inject markup.
const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" && "value" in el && !(el instanceof SVGElement)) {
      el.value = value;
    } else if (key === "checked" || key === "selected" || key === "multiple") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key === "className" ? "class" : key, value === true ? "" : String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  append(el, children);
  return el;
}

export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, props);
  append(el, children);
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

let toastBox = null;
export function toast(message, { error = false, ms = 4000 } = {}) {
  if (!toastBox) {
    toastBox = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastBox);
  }
  const el = h("div", { class: error ? "toast error" : "toast" }, message);
  toastBox.append(el);
  setTimeout(() => el.remove(), ms);
}

// Icons: small inline SVGs, stroke = currentColor.
const ICONS = {
  dashboard: "M3 13h8V3H3zM13 21h8V11h-8zM3 21h8v-6H3zM13 3v6h8V3z",
  flows: "M4 6h6M4 12h10M4 18h7M16 6h4M18 12h2M15 18h5",
  executions: "M5 3l14 9-14 9z",
  files: "M3 6a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z",
  play: "M6 4l14 8-14 8z",
  logout: "M15 12H3M11 8l-4 4 4 4M14 4h5v16h-5",
  kv: "M4 5h16v14H4zM4 10h16M9 5v14",
  namespaces: "M3 7l9-4 9 4-9 4zM3 12l9 4 9-4M3 17l9 4 9-4",
  logs: "M5 4h14v16H5zM8 8h8M8 12h8M8 16h5",
  theme: "M12 3a9 9 0 1 0 9 9 7 7 0 0 1-9-9z",
  plugins: "M9 3v4M15 3v4M6 7h12v5a6 6 0 0 1-12 0zM12 18v3",
};
export function icon(name) {
  return s("svg", { viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", "stroke-width": 1.8, "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true" },
    s("path", { d: ICONS[name] || "" }));
}
