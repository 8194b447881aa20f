// Plugin documentation, generated from the server's flow schema: every task, trigger,
// condition and task runner type (searchable), and one page per type with its
// description, properties (type, required, default, dynamic), outputs and an example.
import { api } from "../api.js";
import { h, clear, debounce, toast } from "../dom.js";
import { loadFlowSchema, typeLabel } from "../schema.js";
import { pageHead, loading } from "./common.js";

const KINDS = [["task", "Tasks"], ["trigger", "Triggers"], ["condition", "Conditions"], ["taskRunner", "Task runners"]];
const href = (type) => `/ui/plugins/${encodeURIComponent(type)}`;
const short = (type) => type.split(".").pop();
const family = (type) => type.split(".").slice(0, -1).join(".");

export async function pluginsPage(ctx) {
  document.title = "Plugins · Podium";
  loading(ctx.main);
  const schema = await loadFlowSchema();
  if (!ctx.isCurrent()) return;
  const search = h("input", { type: "search", id: "plugin-search", placeholder: "Search types and descriptions", "data-search": true, value: ctx.query.get("q") || "", "aria-label": "Search plugins" });
  const count = h("span", { class: "muted small", "data-testid": "plugin-count" });
  const list = h("div", { class: "plugin-list stack" });
  const plugins = schema.plugins.filter((p) => !p.deprecated);
  function show() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const found = plugins.filter((p) => {
      const text = `${p.type} ${p.title} ${p.description}`.toLowerCase();
      return words.every((w) => text.includes(w));
    });
    count.textContent = `${found.length} of ${plugins.length} types`;
    const sections = KINDS.map(([kind, label]) => {
      const items = found.filter((p) => p.kind === kind);
      if (!items.length) return null;
      return h("section", { class: "card", "aria-label": label },
        h("div", { class: "card-head" }, h("h2", {}, label), h("span", { class: "muted small" }, String(items.length))),
        h("ul", { class: "plugin-items" }, items.map((p) => h("li", { "data-plugin": p.type },
          h("a", { href: href(p.type) }, h("strong", {}, short(p.type)), " ", h("span", { class: "muted small mono" }, family(p.type))),
          p.title ? h("div", { class: "small muted" }, p.title) : null))));
    });
    clear(list, sections.some(Boolean) ? sections : h("div", { class: "card empty" }, "No plugin type matches."));
  }
  const remember = debounce(() => {
    const url = search.value ? `/ui/plugins?q=${encodeURIComponent(search.value)}` : "/ui/plugins";
    history.replaceState(null, "", url);
  }, 300);
  search.addEventListener("input", () => {
    show();
    remember();
  });
  clear(ctx.main,
    pageHead({ title: "Plugins" }),
    h("p", { class: "muted" }, "Every type this server can run, with its properties, from the same schema the editor completes from (", h("a", { href: "/api/v1/plugins/schemas/flow", target: "_blank" }, "JSON Schema"), ")."),
    h("div", { class: "toolbar" }, h("div", { class: "field grow" }, search), count),
    list);
  show();
  return () => remember.cancel();
}

export async function pluginPage(ctx) {
  const [type] = ctx.params;
  document.title = `${short(type)} · Plugins · Podium`;
  loading(ctx.main);
  let doc;
  let schema;
  try {
    [doc, schema] = await Promise.all([api(`/plugins/${encodeURIComponent(type)}`), loadFlowSchema()]);
  } catch (err) {
    if (err.status !== 404) throw err;
    clear(ctx.main, pageHead({ crumb: h("a", { href: "/ui/plugins" }, "Plugins"), title: "Unknown type" }),
      h("p", {}, `This server has no plugin type ${type}. `, h("a", { href: "/ui/plugins" }, "See every type")));
    return;
  }
  if (!ctx.isCurrent()) return;
  const def = doc.schema.properties;
  const required = new Set(def.required || []);
  // the type's own properties first (required ones leading), then those every type of
  // its kind has (id, retry, timeout… for a task)
  const siblings = schema.plugins.filter((p) => p.kind === doc.kind && !p.deprecated).map((p) => Object.keys(p.def.properties || {}));
  const common = new Set(siblings.length > 1 ? siblings.reduce((a, b) => a.filter((k) => b.includes(k))) : []);
  const names = Object.keys(def.properties || {});
  const rank = (name) => (common.has(name) ? (name === "id" || name === "type" ? 2 : 3) : required.has(name) ? 0 : 1);
  const ordered = names.map((name, i) => [name, i]).sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]).map(([name]) => name);
  const row = (name) => {
    const prop = def.properties[name];
    const target = schema.strip(prop);
    const dflt = prop.default !== undefined ? prop.default : target.default;
    return h("tr", { id: `property-${name}`, "data-property": name },
      h("td", { class: "mono" }, h("strong", {}, name)),
      h("td", { class: "small" }, typeLabel(schema, prop)),
      h("td", { class: "small" }, required.has(name) ? h("span", { class: "label-tag" }, "required") : "optional"),
      h("td", { class: "small mono" }, dflt === undefined || dflt === null ? "—" : JSON.stringify(dflt)),
      h("td", { class: "small" }, name === "type" || name === "id" ? "—" : prop.$dynamic ? "yes" : "no"),
      h("td", { class: "small" }, prop.description || target.description || ""));
  };
  const own = ordered.filter((name) => !common.has(name));
  const shared = ordered.filter((name) => common.has(name));
  const rows = [
    own.map(row),
    own.length && shared.length ? h("tr", { class: "subhead" }, h("td", { colspan: 6 }, `Every ${doc.kind === "taskRunner" ? "task runner" : doc.kind} has these`)) : null,
    shared.map(row),
  ];
  const outputs = Object.keys((doc.schema.outputs || {}).properties || {});
  const copy = h("button", { type: "button", class: "small" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(doc.example);
      toast("Example copied");
    } catch {
      toast("The browser refused to copy: select the text instead", { error: true });
    }
  });
  clear(ctx.main,
    pageHead({
      crumb: h("span", {}, h("a", { href: "/ui/plugins" }, "Plugins"), " / ", family(doc.cls)),
      title: short(doc.cls),
      badge: h("span", { class: "label-tag" }, doc.kind),
    }),
    h("p", { class: "mono small", "data-testid": "plugin-type" }, doc.cls),
    doc.aliases.length ? h("p", { class: "small muted" }, "Also accepted under its former name", doc.aliases.length > 1 ? "s " : " ", doc.aliases.map((a, i) => [i ? ", " : "", h("code", {}, a)])) : null,
    h("div", { class: "plugin-doc stack" },
      h("section", { class: "card card-body", "data-testid": "plugin-description" },
        doc.description ? doc.description.split(/\n\s*\n/).map((para) => h("p", {}, para)) : h("p", { class: "muted" }, "No description.")),
      h("section", { class: "card" },
        h("div", { class: "card-head" }, h("h2", {}, "Example"), h("span", { class: "muted small" }, " the required properties, with a placeholder value of each one's type"), h("span", { class: "spacer" }), copy),
        h("pre", { class: "card-body example", "data-testid": "plugin-example" }, doc.example)),
      h("section", { class: "card" },
        h("div", { class: "card-head" }, h("h2", {}, "Properties")),
        h("div", { style: { overflowX: "auto" } }, h("table", { class: "table", "data-testid": "plugin-properties" },
          h("thead", {}, h("tr", {}, ["Property", "Type", "Required", "Default", "Dynamic", "Description"].map((t) => h("th", {}, t)))),
          h("tbody", {}, rows))),
        h("p", { class: "card-body small muted" }, "Dynamic: the task renders the property's templates (", h("code", {}, "{{ … }}"), ") when it runs.")),
      doc.kind === "task" ? h("section", { class: "card", "data-testid": "plugin-outputs" },
        h("div", { class: "card-head" }, h("h2", {}, "Outputs")),
        h("div", { class: "card-body" }, outputs.length
          ? h("ul", {}, outputs.map((o) => h("li", {}, h("code", {}, `outputs.<task id>.${o}`))))
          : h("p", { class: "muted" }, "No outputs found in this task's code."))) : null));
  if (location.hash) {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) {
      target.classList.add("highlight");
      target.scrollIntoView({ block: "center" });
    }
  }
}
