// Bulk actions on the executions list: rows are selected with their checkbox (or all the
// page's at once), then killed, restarted, replayed, labelled or deleted together through
// the API's /executions/.../by-ids endpoints, after a confirmation. The server acts on
// all of them or on none: its refusal ("invalid bulk kill" and why, per execution) is shown.
import { api } from "./api.js";
import { h, clear, toast } from "./dom.js";
import { shortId } from "./format.js";
import { confirmDialog } from "./pages/common.js";

const ACTIONS = [
  { key: "kill", label: "Kill", method: "DELETE", path: "/executions/kill/by-ids", danger: true,
    text: "Running tasks are cancelled and the executions end KILLED." },
  { key: "restart", label: "Restart", method: "POST", path: "/executions/restart/by-ids",
    text: "The failed task runs of each execution run again, in the same execution." },
  { key: "replay", label: "Replay", method: "POST", path: "/executions/replay/by-ids",
    text: "Each execution runs again as a new one, with the same inputs." },
  { key: "label", label: "Set label", method: "POST", path: "/executions/labels/by-ids" },
  { key: "delete", label: "Delete", method: "DELETE", path: "/executions/by-ids", danger: true,
    text: "The executions are deleted with their logs, metrics and files. This cannot be undone." },
];

// A modal asking for one label; resolves {key, value} or null.
function labelDialog(count) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-label": "Set a label" });
    const key = h("input", { id: "bulk-label-key", placeholder: "team", required: true });
    const value = h("input", { id: "bulk-label-value", placeholder: "data" });
    const error = h("div", { class: "form-error", hidden: true });
    const ok = h("button", { type: "submit", class: "primary", "data-testid": "confirm" }, "Set label");
    const form = h("form", { class: "card-body stack", method: "dialog" },
      h("h2", {}, `Set a label on ${count} execution${count === 1 ? "" : "s"}`),
      h("div", { class: "row" },
        h("div", { class: "field grow" }, h("label", { for: "bulk-label-key" }, "Key"), key),
        h("div", { class: "field grow" }, h("label", { for: "bulk-label-value" }, "Value"), value)),
      error,
      h("div", { class: "row" }, h("span", { class: "spacer" }),
        h("button", { type: "button", onclick: () => dialog.close() }, "Cancel"), ok));
    let result = null;
    form.addEventListener("submit", (event) => {
      if (!key.value.trim()) {
        event.preventDefault();
        error.hidden = false;
        error.textContent = "A label needs a key.";
        return;
      }
      result = { key: key.value.trim(), value: value.value };
    });
    dialog.append(form);
    dialog.addEventListener("close", () => { dialog.remove(); resolve(result); });
    document.body.append(dialog);
    dialog.showModal();
    key.focus();
  });
}

function refusal(err) {
  const invalids = (err.body && err.body.invalids) || [];
  if (!invalids.length) return err.message;
  const lines = invalids.slice(0, 5).map((i) => `${shortId(String(i.invalidValue))}: ${i.message}`);
  if (invalids.length > 5) lines.push(`… and ${invalids.length - 5} more`);
  return `${err.message}, nothing was done. ${lines.join("; ")}`;
}

// The selection of one table and its action bar. `onDone` reloads the list.
export class BulkSelection {
  constructor({ onDone }) {
    this.ids = new Set();
    this.visible = [];
    this.onDone = onDone;
    this.count = h("span", { class: "small", "data-testid": "bulk-count" });
    this.bar = h("div", { class: "bulk-bar", role: "toolbar", "aria-label": "Selected executions", hidden: true, "data-testid": "bulk-bar" },
      this.count,
      ACTIONS.map((action) => h("button", { type: "button", class: `small${action.danger ? " danger" : ""}`, "data-bulk": action.key, onclick: () => this.run(action) }, action.label)),
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "small ghost", onclick: () => this.clear() }, "Clear selection"));
    this.all = h("input", { type: "checkbox", "aria-label": "Select every execution of this page", "data-testid": "select-all" });
    this.all.addEventListener("change", () => {
      for (const id of this.visible) {
        if (this.all.checked) this.ids.add(id);
        else this.ids.delete(id);
      }
      this.sync();
    });
  }

  // the checkbox of one row, checked when its execution is selected
  box(id) {
    const box = h("input", { type: "checkbox", checked: this.ids.has(id), "aria-label": `Select execution ${id}`, "data-select": id });
    box.addEventListener("change", () => {
      if (box.checked) this.ids.add(id);
      else this.ids.delete(id);
      this.sync();
    });
    return box;
  }

  // the ids the page shows now (the header box selects those)
  show(ids) {
    this.visible = ids;
    this.sync();
  }

  clear() {
    this.ids.clear();
    this.sync();
  }

  sync() {
    for (const box of document.querySelectorAll("input[data-select]")) box.checked = this.ids.has(box.dataset.select);
    const n = this.ids.size;
    this.bar.hidden = n === 0;
    clear(this.count, `${n} selected`);
    const shown = this.visible.filter((id) => this.ids.has(id)).length;
    this.all.checked = this.visible.length > 0 && shown === this.visible.length;
    this.all.indeterminate = shown > 0 && shown < this.visible.length;
  }

  async run(action) {
    const ids = [...this.ids];
    if (!ids.length) return;
    const what = `${ids.length} execution${ids.length === 1 ? "" : "s"}`;
    let json = ids;
    if (action.key === "label") {
      const label = await labelDialog(ids.length);
      if (!label) return;
      json = { executionsId: ids, executionLabels: [label] };
    } else if (!(await confirmDialog(`${action.label} ${what}?`, action.text, action.label, { danger: Boolean(action.danger) }))) {
      return;
    }
    try {
      const done = await api(action.path, { method: action.method, json });
      toast(`${action.label}: ${done.count} execution${done.count === 1 ? "" : "s"}`);
      this.clear();
      this.onDone();
    } catch (err) {
      toast(refusal(err), { error: true, ms: 8000 });
    }
  }
}
