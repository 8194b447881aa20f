// Execute: a form generated from the flow's inputs, checked here first, then by the
// server (a 422 answer maps input ids to messages, shown under each field).
import { api, flowPath } from "../api.js";
import { h, clear } from "../dom.js";
import { pageHead } from "./common.js";

const isTemplate = (v) => typeof v === "string" && /\{\{|\{%/.test(v);
const pad = (n) => String(n).padStart(2, "0");

function localDateTime(value) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function choicesOf(input) {
  const list = Array.isArray(input.values) ? input.values : Array.isArray(input.options) ? input.options : [];
  return list.map(String);
}

// One field: {el, read() -> {value, error}} where value undefined means "not given".
function field(input) {
  const id = `in-${input.id}`;
  const type = (input.type || "STRING").toUpperCase();
  const initial = input.defaults ?? input.prefill;
  const usable = initial !== undefined && initial !== null && !isTemplate(initial);
  const required = input.required !== false && (input.defaults === undefined || input.defaults === null);
  let control;
  let read;
  const text = (props) => {
    control = h("input", { id, name: input.id, ...props, value: usable ? String(initial) : "", placeholder: isTemplate(initial) ? `default: ${initial}` : props.placeholder || "" });
    read = () => (control.value === "" ? { value: undefined } : { value: control.value });
  };
  switch (type) {
    case "INT":
    case "FLOAT": {
      text({ type: "number", step: type === "INT" ? "1" : "any", min: input.min ?? null, max: input.max ?? null, inputmode: type === "INT" ? "numeric" : "decimal" });
      read = () => {
        if (control.value === "") return control.validity.badInput ? { error: "Enter a number" } : { value: undefined };
        const n = Number(control.value);
        if (!Number.isFinite(n) || (type === "INT" && !Number.isInteger(n))) return { error: type === "INT" ? "Enter a whole number" : "Enter a number" };
        if (input.min !== undefined && input.min !== null && n < Number(input.min)) return { error: `At least ${input.min}` };
        if (input.max !== undefined && input.max !== null && n > Number(input.max)) return { error: `At most ${input.max}` };
        return { value: n };
      };
      break;
    }
    case "BOOLEAN":
    case "BOOL": {
      control = h("input", { id, name: input.id, type: "checkbox", checked: initial === true || initial === "true" });
      read = () => ({ value: control.checked });
      break;
    }
    case "SELECT": {
      const choices = choicesOf(input);
      if (input.allowCustomValue) {
        const list = h("datalist", { id: `${id}-list` }, choices.map((c) => h("option", { value: c })));
        text({ list: `${id}-list` });
        control = h("span", {}, control, list);
        const inner = control.firstChild;
        read = () => (inner.value === "" ? { value: undefined } : { value: inner.value });
      } else {
        const selected = usable ? String(initial) : input.autoSelectFirst ? choices[0] : "";
        control = h("select", { id, name: input.id }, h("option", { value: "" }, required ? "Choose…" : "—"), choices.map((c) => h("option", { value: c, selected: c === selected }, c)));
        read = () => (control.value === "" ? { value: undefined } : { value: control.value });
      }
      break;
    }
    case "MULTISELECT": {
      const chosen = new Set(Array.isArray(initial) ? initial.map(String) : []);
      const boxes = choicesOf(input).map((c, i) => {
        const box = h("input", { type: "checkbox", id: `${id}-${i}`, value: c, checked: chosen.has(c) });
        return [box, h("label", { for: `${id}-${i}`, class: "chip", style: { fontWeight: 400 } }, box, c)];
      });
      control = h("div", { class: "chips", role: "group", id, "aria-label": input.id }, boxes.map(([, label]) => label));
      read = () => {
        const values = boxes.filter(([b]) => b.checked).map(([b]) => b.value);
        return values.length ? { value: values } : { value: undefined };
      };
      break;
    }
    case "DATE":
      text({ type: "date" });
      break;
    case "TIME":
      text({ type: "time", step: 1 });
      break;
    case "DATETIME": {
      text({ type: "datetime-local", step: 1 });
      if (usable) control.value = localDateTime(initial);
      read = () => (control.value === "" ? { value: undefined } : { value: new Date(control.value).toISOString() });
      break;
    }
    case "FILE": {
      control = h("input", { id, name: input.id, type: "file" });
      read = () => (control.files.length ? { value: undefined, file: control.files[0] } : { value: undefined });
      break;
    }
    case "JSON":
    case "YAML":
    case "ARRAY": {
      const shown = usable ? (typeof initial === "string" ? initial : JSON.stringify(initial, null, 2)) : "";
      control = h("textarea", { id, name: input.id, class: "mono", rows: 5, placeholder: type === "ARRAY" ? '["a", "b"]' : type === "JSON" ? '{"key": "value"}' : "key: value" });
      control.value = shown;
      read = () => {
        if (control.value.trim() === "") return { value: undefined };
        if (type === "YAML") return { value: control.value };
        try {
          const parsed = JSON.parse(control.value);
          if (type === "ARRAY" && !Array.isArray(parsed)) return { error: "Enter a JSON array, like [1, 2]" };
          return { value: parsed };
        } catch (err) {
          if (type === "ARRAY") return { value: control.value.split("\n").map((l) => l.trim()).filter(Boolean) };
          return { error: `Not valid JSON: ${err.message}` };
        }
      };
      break;
    }
    case "SECRET":
      text({ type: "password", autocomplete: "off" });
      break;
    case "EMAIL":
      text({ type: "email" });
      break;
    case "URI":
      text({ type: "url" });
      break;
    case "DURATION":
      text({ placeholder: "PT1H30M" });
      break;
    default:
      text({ type: "text" });
  }
  const error = h("div", { class: "error", id: `${id}-error`, role: "alert" });
  const label = input.displayName || input.id;
  const el = h("div", { class: "field", "data-input": input.id },
    h("label", { for: id }, label, required ? h("span", { class: "req", "aria-hidden": "true" }, "*") : null, h("span", { class: "hint" }, `  ${type.toLowerCase()}${input.itemType ? ` of ${input.itemType.toLowerCase()}` : ""}`)),
    control,
    input.description ? h("div", { class: "hint" }, input.description) : null,
    error);
  const focusable = el.querySelector("input, select, textarea");
  if (focusable) {
    focusable.setAttribute("aria-describedby", `${id}-error`);
    if (required && type !== "BOOLEAN" && type !== "BOOL") focusable.setAttribute("aria-required", "true");
  }
  const setError = (message) => {
    error.textContent = message || "";
    el.classList.toggle("invalid", Boolean(message));
    if (focusable) focusable.setAttribute("aria-invalid", message ? "true" : "false");
  };
  return {
    el, setError, focus: () => focusable && focusable.focus(),
    read: () => {
      const result = read();
      if (!result.error && required && result.value === undefined && !result.file && type !== "BOOLEAN" && type !== "BOOL") return { error: "Required" };
      return result;
    },
  };
}

export async function executePage(ctx) {
  const [ns, id] = ctx.params;
  document.title = `Execute ${id} · Podium`;
  const flow = await api(flowPath(ns, id));
  const inputs = flow.inputs || [];
  const fields = new Map(inputs.map((input) => [input.id, field(input)]));
  const labels = h("input", { id: "ex-labels", placeholder: "team:data, env:dev" });
  const formError = h("div", { class: "form-error", role: "alert", hidden: true, "data-testid": "form-error" });
  const submit = h("button", { type: "submit", class: "primary" }, "▶ Execute");
  const form = h("form", { class: "card card-body stack", novalidate: true, style: { maxWidth: "720px" }, "data-testid": "execute-form" },
    formError,
    inputs.length ? [...fields.values()].map((f) => f.el) : h("p", { class: "muted" }, "This flow has no inputs."),
    h("div", { class: "field" }, h("label", { for: "ex-labels" }, "Labels ", h("span", { class: "hint" }, "optional, key:value separated by commas")), labels),
    h("div", { class: "row" }, submit, h("a", { class: "button", href: `/ui${flowPath(ns, id)}` }, "Cancel")));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.hidden = true;
    const values = {};
    const files = {};
    let firstBad = null;
    for (const [key, f] of fields) {
      const result = f.read();
      f.setError(result.error);
      if (result.error && !firstBad) firstBad = f;
      if (result.file) files[key] = result.file;
      else if (result.value !== undefined) values[key] = result.value;
    }
    if (firstBad) {
      firstBad.focus();
      return;
    }
    const labelList = labels.value.split(",").map((l) => l.trim()).filter((l) => l.includes(":"));
    submit.disabled = true;
    try {
      let created;
      const path = `/executions/${encodeURIComponent(ns)}/${encodeURIComponent(id)}`;
      if (Object.keys(files).length) {
        const data = new FormData();
        for (const [k, v] of Object.entries(values)) data.append(k, typeof v === "string" ? v : JSON.stringify(v));
        for (const [k, file] of Object.entries(files)) data.append(k, file, file.name);
        created = await api(path, { method: "POST", body: data, query: { labels: labelList } });
      } else {
        created = await api(path, { method: "POST", json: values, query: { labels: labelList } });
      }
      ctx.navigate(`/ui/executions/${encodeURIComponent(created.id)}`);
    } catch (err) {
      if (err.status === 422 && err.body && err.body.inputs) {
        let focused = false;
        for (const [key, message] of Object.entries(err.body.inputs)) {
          const f = fields.get(key);
          if (f) {
            f.setError(message);
            if (!focused) { f.focus(); focused = true; }
          }
        }
        formError.textContent = "Some inputs are not valid.";
      } else formError.textContent = err.message;
      formError.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  clear(ctx.main,
    pageHead({ crumb: h("span", {}, h("a", { href: "/ui/flows" }, "Flows"), " / ", h("a", { href: `/ui${flowPath(ns, id)}` }, `${ns}.${id}`)), title: `Execute ${id}` }),
    form);
  const first = [...fields.values()][0];
  if (first) first.focus();
  else submit.focus();
}
