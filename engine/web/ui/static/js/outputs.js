// Outputs as a tree: the flow's outputs, then each task run's. Internal-storage files
// (kestra:///...) get Preview (first rows, via /file/preview) and Download.
import { api, url } from "./api.js";
import { h, clear } from "./dom.js";

const isFile = (v) => typeof v === "string" && v.startsWith("kestra://");

function fileLeaf(executionId, path) {
  const preview = h("div", { class: "preview", hidden: true, "data-testid": "file-preview" });
  const name = path.split("/").pop();
  const show = h("button", { type: "button", class: "small", "data-testid": "preview-button" }, "Preview");
  show.addEventListener("click", async () => {
    if (!preview.hidden) {
      preview.hidden = true;
      show.textContent = "Preview";
      return;
    }
    preview.hidden = false;
    show.textContent = "Hide preview";
    clear(preview, h("div", { class: "loading" }, "Loading…"));
    try {
      const data = await api(`/executions/${encodeURIComponent(executionId)}/file/preview`, { query: { path } });
      clear(preview, renderPreview(data));
    } catch (err) {
      clear(preview, h("div", { class: "loading" }, err.status === 404 ? "No preview for this file." : err.message));
    }
  });
  const href = url(`/executions/${encodeURIComponent(executionId)}/file`, { path });
  return h("span", { class: "file" },
    h("span", { class: "v", title: path }, name),
    show,
    h("a", { class: "button small", href, download: name }, "Download"),
    preview);
}

export function renderPreview(data) {
  if (data.type === "csv" && Array.isArray(data.rows)) {
    const [head, ...rows] = data.rows;
    return h("div", {},
      h("table", {}, h("thead", {}, h("tr", {}, (head || []).map((c) => h("th", {}, String(c))))),
        h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c === null ? "" : String(c))))))),
      data.truncated ? h("div", { class: "small muted", style: { padding: "6px 8px" } }, "First rows only") : null);
  }
  if (data.type === "json" && Array.isArray(data.rows)) {
    return h("pre", {}, data.rows.map((r) => JSON.stringify(r)).join("\n") + (data.truncated ? "\n…" : ""));
  }
  const content = typeof data.content === "string" ? data.content : JSON.stringify(data.content ?? data.rows, null, 2);
  return h("pre", {}, content + (data.truncated ? "\n…" : ""));
}

function node(executionId, key, value, open) {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    return h("details", { open: open || entries.length <= 6 },
      h("summary", {}, h("span", { class: "k" }, String(key)), h("span", { class: "muted" }, Array.isArray(value) ? ` [${entries.length}]` : ` {${entries.length}}`)),
      entries.map(([k, v]) => node(executionId, k, v, false)));
  }
  return h("div", { class: "leaf", "data-key": String(key) },
    h("span", { class: "k" }, `${key}:`),
    isFile(value)
      ? fileLeaf(executionId, value)
      : key === "executionId" && typeof value === "string" && value !== executionId
        ? h("a", { class: "v", href: `/ui/executions/${encodeURIComponent(value)}` }, value)
        : h("span", { class: "v" }, value === null ? "null" : typeof value === "string" ? value : JSON.stringify(value)));
}

export function renderOutputs(execution) {
  const id = execution.id;
  const sections = [];
  if (execution.outputs && Object.keys(execution.outputs).length) {
    sections.push(h("div", { class: "card card-body" }, h("h3", {}, "Flow outputs"), h("div", { class: "tree" }, Object.entries(execution.outputs).map(([k, v]) => node(id, k, v, true)))));
  }
  const runs = (execution.taskRunList || []).filter((r) => r.outputs && Object.keys(r.outputs).length);
  if (runs.length) {
    sections.push(h("div", { class: "card card-body" }, h("h3", {}, "Task outputs"),
      h("div", { class: "tree", "data-testid": "outputs-tree" }, runs.map((r) => h("details", { open: runs.length <= 8, "data-task-id": r.taskId },
        h("summary", {}, h("span", { class: "k" }, r.taskId), r.value ? h("span", { class: "muted" }, ` [${r.value}]`) : null),
        Object.entries(r.outputs).map(([k, v]) => node(id, k, v, true)))))));
  }
  if (!sections.length) return h("div", { class: "card empty" }, "No outputs yet.");
  return h("div", { class: "stack" }, sections);
}
