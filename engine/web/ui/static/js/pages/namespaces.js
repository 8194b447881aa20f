// Namespaces: every namespace that has flows or KV entries, with its flow count and links
// to its files, KV store, executions and logs (/ui/namespaces); one namespace's page lists
// its flows and those of the namespaces under it (/ui/namespaces/{ns}).
import { api, flowPath } from "../api.js";
import { h, clear, debounce } from "../dom.js";
import { stateBadge, relative } from "../format.js";
import { pageHead, emptyRow, loading, setQuery } from "./common.js";

const enc = encodeURIComponent;

function namespaceLinks(ns) {
  return h("div", { class: "row wrap ns-links" },
    h("a", { class: "button small", href: `/ui/files/${enc(ns)}`, "aria-label": `Files of ${ns}` }, "Files"),
    h("a", { class: "button small", href: `/ui/namespaces/${enc(ns)}/kv`, "aria-label": `KV store of ${ns}` }, "KV store"),
    h("a", { class: "button small", href: `/ui/executions?namespace=${enc(ns)}`, "aria-label": `Executions in ${ns}` }, "Executions"),
    h("a", { class: "button small", href: `/ui/logs?namespace=${enc(ns)}`, "aria-label": `Logs of ${ns}` }, "Logs"));
}

// namespace -> {flows, keys}: from the flow list and the KV store's list.
async function overview() {
  const [flows, kv] = await Promise.all([
    api("/flows"),
    api("/kv", { query: { size: 1000 } }).then((page) => page.results || []).catch((err) => (err.status === 404 ? [] : Promise.reject(err))),
  ]);
  const rows = new Map();
  const at = (ns) => {
    if (!rows.has(ns)) rows.set(ns, { namespace: ns, flows: 0, keys: 0 });
    return rows.get(ns);
  };
  for (const f of flows || []) at(f.namespace).flows += 1;
  for (const e of kv) at(e.namespace).keys += 1;
  return [...rows.values()].sort((a, b) => a.namespace.localeCompare(b.namespace));
}

export async function namespacesPage(ctx) {
  document.title = "Namespaces · Podium";
  const filter = h("input", { type: "search", id: "ns-filter", placeholder: "Filter namespaces…", value: ctx.query.get("q") || "", "data-search": true });
  const body = h("tbody", {}, emptyRow(4, "Loading…"));
  clear(ctx.main,
    pageHead({ title: "Namespaces" }),
    h("div", { class: "toolbar" }, h("div", { class: "field grow" }, h("label", { for: "ns-filter" }, "Filter"), filter)),
    h("div", { class: "card table-scroll" },
      h("table", { class: "table", "data-testid": "namespaces-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Namespace"), h("th", { class: "num" }, "Flows"), h("th", { class: "num" }, "KV entries"), h("th", {}, h("span", { class: "visually-hidden" }, "Links")))),
        body)));
  const rows = await overview();
  if (!ctx.isCurrent()) return;
  const show = () => {
    const needle = filter.value.trim().toLowerCase();
    setQuery(ctx, { q: needle });
    const found = rows.filter((r) => !needle || r.namespace.toLowerCase().includes(needle));
    clear(body, found.length
      ? found.map((r) => h("tr", { "data-namespace": r.namespace },
        h("td", {}, h("a", { class: "mono", href: `/ui/namespaces/${enc(r.namespace)}`, style: { paddingLeft: `${(r.namespace.split(".").length - 1) * 12}px` } }, r.namespace)),
        h("td", { class: "num" }, String(r.flows)),
        h("td", { class: "num" }, String(r.keys)),
        h("td", {}, namespaceLinks(r.namespace))))
      : emptyRow(4, rows.length ? "No namespace matches." : "No namespaces yet: a namespace appears with its first flow or KV entry."));
  };
  filter.addEventListener("input", debounce(show, 150));
  show();
}

export async function namespacePage(ctx) {
  const ns = ctx.params[0];
  document.title = `${ns} · Namespaces · Podium`;
  const flowsCard = h("div", { class: "card table-scroll" });
  const children = h("div", {});
  clear(ctx.main,
    pageHead({ crumb: h("a", { href: "/ui/namespaces" }, "Namespaces"), title: ns }),
    h("div", { style: { marginBottom: "16px" } }, namespaceLinks(ns)),
    children,
    h("h2", { style: { margin: "0 0 10px" } }, "Flows"),
    flowsCard);
  loading(flowsCard);
  const data = await api("/flows/search", { query: { namespace: ns, size: 200 } });
  if (!ctx.isCurrent()) return;
  const flows = data.results || [];
  const below = [...new Set(flows.map((f) => f.namespace).filter((n) => n !== ns))].sort();
  if (below.length) {
    clear(children, h("div", { class: "card card-body", style: { marginBottom: "16px" } },
      h("h2", { style: { marginBottom: "8px" } }, "Namespaces under this one"),
      h("div", { class: "row wrap" }, below.map((n) => h("a", { class: "mono label-tag", href: `/ui/namespaces/${enc(n)}` }, n)))));
  }
  clear(flowsCard, h("table", { class: "table", "data-testid": "namespace-flows" },
    h("thead", {}, h("tr", {}, h("th", {}, "Flow"), h("th", {}, "Namespace"), h("th", {}, "Triggers"), h("th", {}, "Last execution"))),
    h("tbody", {}, flows.length
      ? flows.map((f) => h("tr", { "data-flow": `${f.namespace}/${f.id}` },
        h("td", { class: "cell-clip" }, h("a", { class: "mono", href: `/ui${flowPath(f.namespace, f.id)}` }, f.id),
          f.description ? h("div", { class: "small muted clip", title: f.description }, f.description.split("\n")[0]) : null),
        h("td", { class: "muted" }, f.namespace),
        h("td", { class: "small muted" }, (f.triggers || []).map((t) => t.type.split(".").pop()).join(", ") || "—"),
        h("td", {}, f.lastExecution
          ? h("a", { class: "row", href: `/ui/executions/${enc(f.lastExecution.id)}` }, stateBadge(f.lastExecution.state), h("span", { class: "small muted" }, relative(f.lastExecution.startDate)))
          : h("span", { class: "small muted" }, "never run"))))
      : emptyRow(4, "No flows in this namespace."))),
  data.total > flows.length ? h("div", { class: "pager" }, `${flows.length} of ${data.total} flows: `, h("a", { href: `/ui/flows?namespace=${enc(ns)}` }, "see them all")) : null);
}
