// Namespace files: a folder tree on the left (folders open on click, their children
// fetched then), the flows' editor on the right for text files, and Upload, New file,
// New folder, Save, Download, Delete. Only the REST paths of docs/api.md are used:
// /namespaces/{ns}/files[/directory|/stats].
import { api, ApiError, url } from "../api.js";
import { h, clear, toast } from "../dom.js";
import { createEditor } from "../editor.js";
import { formatDate } from "../format.js";
import { pageHead } from "./common.js";

const TEXT_LIMIT = 1 << 20; // bigger files are offered for download, not edited

const filesPath = (ns) => `/namespaces/${encodeURIComponent(ns)}/files`;
const join = (folder, name) => `${folder.replace(/\/$/, "")}/${name}`;

function isText(bytes) {
  if (bytes.length > TEXT_LIMIT || bytes.includes(0)) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

async function upload(ns, path, blob, filename) {
  const form = new FormData();
  form.append("fileContent", blob, filename);
  await api(filesPath(ns), { method: "POST", query: { path }, body: form });
}

// The namespace chooser: namespaces of flows, and any other typed in.
export async function filesIndexPage(ctx) {
  document.title = "Namespace files · Podium";
  const input = h("input", { id: "ns-input", placeholder: "company.team", "aria-label": "Namespace", list: "ns-list" });
  const list = h("datalist", { id: "ns-list" });
  const links = h("div", { class: "stack", "data-testid": "namespaces" });
  const open = (event) => {
    event.preventDefault();
    const ns = input.value.trim();
    if (ns) ctx.navigate(`/ui/files/${encodeURIComponent(ns)}`);
  };
  clear(ctx.main,
    pageHead({ title: "Namespace files" }),
    h("form", { class: "toolbar", onsubmit: open },
      h("div", { class: "field grow" }, h("label", { for: "ns-input" }, "Namespace"), input, list),
      h("button", { class: "primary", type: "submit" }, "Open")),
    h("div", { class: "card card-body" }, links));
  const names = await api("/flows/namespaces").catch(() => []);
  for (const name of names || []) list.append(h("option", { value: name }));
  clear(links, (names || []).length
    ? names.map((name) => h("a", { href: `/ui/files/${encodeURIComponent(name)}`, class: "mono" }, name))
    : h("p", { class: "muted" }, "No flows yet: type a namespace above."));
}

export async function filesPage(ctx) {
  const ns = ctx.params[0];
  document.title = `${ns} files · Podium`;
  const tree = h("ul", { class: "file-tree", role: "tree", "aria-label": `Files of ${ns}`, "data-testid": "file-tree" });
  const pane = h("div", { class: "file-pane" });
  const picker = h("input", { type: "file", multiple: true, id: "file-upload", class: "visually-hidden" });
  let current = null; // {path, editor, saved}

  async function listFolder(folder, into, depth) {
    let entries;
    try {
      entries = await api(`${filesPath(ns)}/directory`, { query: { path: folder } });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) entries = [];
      else throw err;
    }
    clear(into, entries.length ? entries.map((e) => node(folder, e, depth)) : (depth === 0 ? h("li", { class: "muted small empty-tree", role: "treeitem", "aria-disabled": "true" }, "No files yet.") : null));
  }

  function node(folder, entry, depth) {
    const path = join(folder, entry.fileName);
    const label = h("button", {
      type: "button", class: `tree-item ${entry.type === "Directory" ? "folder" : "file"}`, role: "treeitem",
      "data-path": path, style: { paddingLeft: `${8 + depth * 14}px` },
      title: entry.type === "File" ? `${entry.size} bytes · ${formatDate(new Date(entry.lastModifiedTime).toISOString())}` : path,
    }, entry.type === "Directory" ? "▸ " : "", entry.fileName);
    const item = h("li", { role: "none" }, label);
    if (entry.type === "Directory") {
      const children = h("ul", { role: "group" });
      let isOpen = false;
      label.setAttribute("aria-expanded", "false");
      label.addEventListener("click", async () => {
        isOpen = !isOpen;
        label.setAttribute("aria-expanded", String(isOpen));
        label.firstChild.textContent = isOpen ? "▾ " : "▸ ";
        if (isOpen) await listFolder(path, children, depth + 1);
        else clear(children);
      });
      item.append(children);
    } else {
      label.addEventListener("click", () => openFile(path));
    }
    return item;
  }

  async function refresh() {
    await listFolder("/", tree, 0);
  }

  async function openFile(path) {
    for (const el of tree.querySelectorAll(".tree-item[aria-selected]")) el.removeAttribute("aria-selected");
    const selected = tree.querySelector(`.tree-item[data-path="${CSS.escape(path)}"]`);
    if (selected) selected.setAttribute("aria-selected", "true");
    const response = await fetch(url(filesPath(ns), { path }), { credentials: "same-origin" });
    if (!response.ok) {
      toast(`Cannot open ${path}: ${response.status}`, { error: true });
      return;
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    const text = isText(bytes);
    const download = h("a", { class: "button", href: url(filesPath(ns), { path }), download: path.split("/").pop() }, "Download");
    const remove = h("button", { type: "button", class: "danger", onclick: () => removePath(path) }, "Delete");
    if (text === null) {
      current = null;
      clear(pane, h("div", { class: "card card-body stack" },
        h("h2", { class: "mono" }, path),
        h("p", { class: "muted" }, `A binary or large file (${bytes.length.toLocaleString()} bytes): download it to see it.`),
        h("div", { class: "row" }, download, remove)));
      return;
    }
    const editor = await createEditor({ value: text, label: `Content of ${path}`, onSave: () => save(), onChange: () => status() });
    const state = h("span", { class: "small muted", "data-testid": "file-state" });
    current = { path, editor, saved: text, state };
    clear(pane, h("div", { class: "stack" },
      h("div", { class: "row" }, h("h2", { class: "mono grow" }, path), state,
        h("button", { type: "button", class: "primary", onclick: () => save() }, "Save"), download, remove),
      editor.el));
    status();
  }

  function status() {
    if (!current) return;
    current.state.textContent = current.editor.value === current.saved ? "saved" : "unsaved changes";
  }

  async function save() {
    if (!current) return;
    const { path, editor } = current;
    const text = editor.value;
    try {
      await upload(ns, path, new Blob([text]), path.split("/").pop());
    } catch (err) {
      toast(`Not saved: ${err.message}`, { error: true });
      return;
    }
    current.saved = text;
    status();
    toast(`Saved ${path}`);
  }

  async function removePath(path) {
    if (!window.confirm(`Delete ${path}?`)) return;
    try {
      await api(filesPath(ns), { method: "DELETE", query: { path } });
    } catch (err) {
      toast(`Not deleted: ${err.message}`, { error: true });
      return;
    }
    toast(`Deleted ${path}`);
    current = null;
    clear(pane, h("p", { class: "muted" }, "Choose a file."));
    await refresh();
  }

  async function newFile() {
    const path = window.prompt("Path of the new file (e.g. scripts/main.py)");
    if (!path) return;
    try {
      await upload(ns, path, new Blob([""]), path.split("/").pop());
    } catch (err) {
      toast(`Not created: ${err.message}`, { error: true });
      return;
    }
    await refresh();
    await openFile(path.startsWith("/") ? path : `/${path}`);
  }

  async function newFolder() {
    const path = window.prompt("Path of the new folder");
    if (!path) return;
    try {
      await api(`${filesPath(ns)}/directory`, { method: "POST", query: { path } });
    } catch (err) {
      toast(`Not created: ${err.message}`, { error: true });
      return;
    }
    await refresh();
  }

  picker.addEventListener("change", async () => {
    const folder = current ? current.path.replace(/\/[^/]*$/, "") || "/" : "/";
    let count = 0;
    for (const file of picker.files) {
      try {
        await upload(ns, join(folder, file.name), file, file.name);
        count += 1;
      } catch (err) {
        toast(`${file.name}: ${err.message}`, { error: true });
      }
    }
    picker.value = "";
    if (count) toast(`Uploaded ${count} file(s) to ${folder}`);
    await refresh();
  });

  clear(ctx.main,
    pageHead({
      crumb: h("a", { href: "/ui/files" }, "Namespace files"),
      title: ns,
      actions: [
        h("button", { type: "button", onclick: newFile }, "+ New file"),
        h("button", { type: "button", onclick: newFolder }, "+ New folder"),
        h("label", { class: "button primary", for: "file-upload", tabindex: "0", onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") picker.click(); } }, "Upload"),
        picker,
        h("a", { class: "button", href: url(`${filesPath(ns)}/export`), download: `${ns}_files.zip` }, "Export zip"),
      ],
    }),
    h("div", { class: "files-layout" },
      h("div", { class: "card file-tree-card" }, tree),
      pane));
  clear(pane, h("p", { class: "muted" }, "Choose a file."));
  await refresh();
}
