// The YAML editor: CodeMirror 6 (vendor/codemirror.js, built by scripts/build-editor)
// with YAML highlighting, folding, search (Ctrl/⌘ F), multiple cursors (Ctrl/⌘-click,
// Ctrl/⌘ D) and undo. Given the flow's JSON Schema (schema.js) it completes property
// names, `type` values and enum values, and shows a property's documentation on hover.
// Errors from the server are shown at their line (gutter mark, underline) by setErrors.
// Tab indents by two spaces; Esc then Tab leaves the editor; Ctrl/⌘ S saves.
// CodeMirror (140 kB gzipped) is loaded by the first editor, not with every page:
// make editors with `await createEditor({...})`.
import { h } from "./dom.js";
import { contextAt, keyAt, typeLabel } from "./schema.js";

let CM = null;
let highlight;
let templates;
let theme;

export async function createEditor(options) {
  if (!CM) setUp(await import("../vendor/codemirror.js"));
  return new YamlEditor(options);
}

function setUp(module) {
  CM = module;
  highlight = CM.HighlightStyle.define([
    { tag: [CM.tags.propertyName, CM.tags.definition(CM.tags.propertyName)], class: "tok-key" },
    { tag: [CM.tags.string, CM.tags.special(CM.tags.string), CM.tags.content], class: "tok-str" },
    { tag: [CM.tags.number], class: "tok-num" },
    { tag: [CM.tags.bool, CM.tags.null, CM.tags.atom, CM.tags.keyword], class: "tok-bool" },
    { tag: [CM.tags.comment, CM.tags.lineComment], class: "tok-com" },
    { tag: [CM.tags.punctuation, CM.tags.separator, CM.tags.squareBracket, CM.tags.brace, CM.tags.operator], class: "tok-punct" },
    { tag: [CM.tags.typeName, CM.tags.labelName, CM.tags.meta, CM.tags.attributeName], class: "tok-type" },
  ]);

  // {{ templates }} stand out inside strings
  const templateMark = CM.Decoration.mark({ class: "tok-tpl" });
  templates = CM.ViewPlugin.fromClass(class {
    constructor(view) {
      this.decorations = this.build(view);
    }
    update(update) {
      if (update.docChanged || update.viewportChanged) this.decorations = this.build(update.view);
    }
    build(view) {
      const marks = [];
      for (const { from, to } of view.visibleRanges) {
        const text = view.state.doc.sliceString(from, to);
        for (const m of text.matchAll(/\{\{.*?\}\}|\{%.*?%\}/g)) marks.push(templateMark.range(from + m.index, from + m.index + m[0].length));
      }
      return CM.Decoration.set(marks, true);
    }
  }, { decorations: (v) => v.decorations });

  theme = CM.EditorView.theme({
    "&": { height: "100%", fontSize: "13px" },
    ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "20px" },
    ".cm-gutters": { background: "var(--surface-2, #f7f7fb)", borderRight: "1px solid var(--border)", color: "var(--muted)" },
    ".cm-content": { caretColor: "var(--text)" },
    ".cm-cursor": { borderLeftColor: "var(--text)" },
    ".cm-activeLine, .cm-activeLineGutter": { background: "var(--surface-3)" },
    ".cm-tooltip.cm-tooltip-hover": { maxWidth: "460px" },
    ".cm-tooltip-autocomplete ul li": { fontFamily: "var(--mono)" },
  });
}

export class YamlEditor {
  // schema: a promise of a FlowSchema (flow editor) or null (plain YAML, e.g. a file)
  constructor({ value = "", onChange = () => {}, onSave = null, label = "Flow YAML", schema = null } = {}) {
    this.onChange = onChange;
    this.onSave = onSave;
    this.schema = null;
    if (schema) {
      this.schemaReady = Promise.resolve(schema).then((s) => (this.schema = s)).catch(() => null);
    }
    this.el = h("div", { class: "editor" });
    const extensions = [
      CM.lineNumbers(),
      CM.highlightActiveLineGutter(),
      CM.highlightSpecialChars(),
      CM.history(),
      CM.foldGutter(),
      CM.drawSelection(),
      CM.dropCursor(),
      CM.EditorState.allowMultipleSelections.of(true),
      CM.indentOnInput(),
      CM.indentUnit.of("  "),
      CM.EditorState.tabSize.of(2),
      CM.syntaxHighlighting(highlight),
      CM.bracketMatching(),
      CM.rectangularSelection(),
      CM.crosshairCursor(),
      CM.highlightActiveLine(),
      CM.highlightSelectionMatches(),
      CM.lintGutter(),
      CM.yaml(),
      templates,
      theme,
      CM.keymap.of([
        { key: "Mod-s", preventDefault: true, run: () => { if (this.onSave) this.onSave(); return true; } },
        ...CM.completionKeymap,
        ...CM.defaultKeymap,
        ...CM.searchKeymap,
        ...CM.historyKeymap,
        ...CM.foldKeymap,
        CM.indentWithTab,
      ]),
      // tabindex: axe counts a contenteditable as focusable content of the scroller only with it
      CM.EditorView.contentAttributes.of({ "aria-label": label, "data-testid": "yaml-editor", tabindex: "0" }),
      CM.EditorView.updateListener.of((update) => {
        if (update.docChanged) this.onChange(this.value);
      }),
    ];
    if (schema) {
      extensions.push(
        CM.autocompletion({ override: [(context) => this.complete(context)], icons: false }),
        CM.hoverTooltip((view, pos) => this.hover(view, pos), { hoverTime: 250 }),
      );
    }
    this.view = new CM.EditorView({ parent: this.el, state: CM.EditorState.create({ doc: value, extensions }) });
    this.el.podiumEditor = this; // for tests and the console: document.querySelector(".editor").podiumEditor
  }

  get value() {
    return this.view.state.doc.toString();
  }

  set value(text) {
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: text } });
  }

  focus() {
    this.view.focus();
  }

  destroy() {
    this.view.destroy();
  }

  // problems: [{line, column, message, severity?}] from the server's validation
  setErrors(problems) {
    const doc = this.view.state.doc;
    const diagnostics = [];
    for (const p of problems || []) {
      if (!p.line || p.line > doc.lines) continue;
      const line = doc.line(p.line);
      const from = Math.min(line.to, line.from + Math.max(0, (p.column || 1) - 1));
      const to = from < line.to ? line.to : Math.min(doc.length, from + 1);
      diagnostics.push({ from, to, severity: p.severity || "error", message: p.path ? `${p.path}: ${p.message}` : p.message });
    }
    this.view.dispatch(CM.setDiagnostics(this.view.state, diagnostics));
  }

  goto(line, column = 1) {
    const doc = this.view.state.doc;
    const target = doc.line(Math.min(Math.max(1, line), doc.lines));
    const pos = Math.min(target.to, target.from + Math.max(0, column - 1));
    this.view.dispatch({ selection: { anchor: pos }, effects: CM.EditorView.scrollIntoView(pos, { y: "center" }) });
    this.view.focus();
  }

  // -- completion -------------------------------------------------------------------

  async complete(context) {
    const schema = this.schema || (this.schemaReady && (await this.schemaReady));
    if (!schema) return null;
    const text = context.state.doc.toString();
    const at = contextAt(text, context.pos);
    if (!at) return null;
    const node = schema.nodeAt(at.path);
    if (!node) return null;
    if (at.kind === "key") {
      if (!at.prefix && !context.explicit) return null;
      const obj = schema.objectFor(node, at.keys);
      if (!obj) {
        if (!schema.members(node)) return null;
        return { from: at.from, options: ["id", "type"].filter((k) => !at.keys.has(k)).map((k) => ({ label: k, type: "property", apply: `${k}: ` })), validFor: /^[\w$-]*$/ };
      }
      const required = new Set(obj.required || []);
      const options = Object.entries(obj.properties)
        .filter(([key]) => !at.keys.has(key))
        .map(([key, prop]) => ({
          label: key,
          type: "property",
          detail: `${typeLabel(schema, prop)}${required.has(key) ? " · required" : ""}`,
          info: prop.description || undefined,
          apply: `${key}: `,
          boost: required.has(key) ? 2 : key === "id" || key === "type" ? 1 : 0,
        }));
      return { from: at.from, options, validFor: /^[\w$-]*$/ };
    }
    // a value
    if (at.key === "type" && schema.members(node)) {
      const options = schema.typeChoices(node).map((choice) => ({
        label: choice.value,
        type: "class",
        detail: choice.deprecated ? "former name" : undefined,
        info: choice.title || undefined,
        boost: choice.deprecated ? -1 : 0,
      }));
      return { from: at.from, options, validFor: /^[\w.$-]*$/ };
    }
    const obj = schema.objectFor(node, at.keys);
    const prop = obj && obj.properties && obj.properties[at.key];
    if (!prop) return null;
    const target = schema.strip(prop);
    let values = [];
    if (target.enum) values = target.enum;
    else if (target.const !== undefined) values = [target.const];
    else if (target.type === "boolean") values = [true, false];
    else {
      for (const member of schema.members(target) || []) {
        if (member.enum) values.push(...member.enum);
        if (member.type === "boolean") values.push(true, false);
      }
    }
    if (!values.length) return null;
    return { from: at.from, options: [...new Set(values)].map((v) => ({ label: String(v), type: "enum" })), validFor: /^[\w.$-]*$/ };
  }

  // -- hover --------------------------------------------------------------------------

  hover(view, pos) {
    const schema = this.schema;
    if (!schema) return null;
    const at = keyAt(view.state.doc.toString(), pos);
    if (!at) return null;
    const node = schema.nodeAt(at.path);
    if (!node) return null;
    let dom = null;
    if (!at.onKey && at.key === "type") {
      const plugin = schema.byType.get(at.value);
      if (plugin) dom = pluginTip(plugin);
    } else if (at.onKey) {
      const obj = schema.objectFor(node, at.keys);
      const prop = obj && obj.properties && obj.properties[at.key];
      if (prop) dom = propertyTip(schema, at.key, prop, obj, at.keys.get("type"));
    }
    if (!dom) return null;
    return { pos: at.from, end: at.to, above: true, create: () => ({ dom }) };
  }
}

export function pluginHref(type) {
  return `/ui/plugins/${encodeURIComponent(type)}`;
}

function pluginTip(plugin) {
  return h("div", { class: "cm-doc", "data-testid": "hover-doc" },
    h("div", { class: "cm-doc-head" }, h("code", {}, plugin.type.split(".").pop()), h("span", { class: "muted" }, ` ${plugin.kind}`)),
    plugin.title ? h("p", {}, plugin.title) : null,
    h("a", { href: pluginHref(plugin.type) }, "Documentation →"));
}

function propertyTip(schema, key, prop, obj, typeName) {
  const required = (obj.required || []).includes(key);
  const target = schema.strip(prop);
  const facts = [typeLabel(schema, prop), required ? "required" : "optional"];
  if (prop.$dynamic) facts.push("dynamic (templates rendered)");
  const dflt = prop.default !== undefined ? prop.default : target.default;
  if (dflt !== undefined && dflt !== null) facts.push(`default ${JSON.stringify(dflt)}`);
  const plugin = typeName && schema.byType.get(typeName);
  return h("div", { class: "cm-doc", "data-testid": "hover-doc" },
    h("div", { class: "cm-doc-head" }, h("code", {}, key), h("span", { class: "muted" }, ` · ${facts.join(" · ")}`)),
    prop.description || target.description ? h("p", {}, prop.description || target.description) : h("p", { class: "muted" }, "No description."),
    plugin ? h("a", { href: `${pluginHref(plugin.type)}#property-${encodeURIComponent(key)}` }, `${plugin.type.split(".").pop()} documentation →`) : null);
}
