// The YAML editor: a textarea over a highlighted copy of its text, with a line-number
// gutter. Errors are shown at their line (gutter mark + tinted line) and listed below by
// the caller. Tab indents by two spaces; Esc lets the next Tab leave the editor.
import { h, clear } from "./dom.js";
import { highlightLine } from "./yaml.js";

export class YamlEditor {
  constructor({ value = "", onChange = () => {}, onSave = null, label = "Flow YAML" } = {}) {
    this.onChange = onChange;
    this.onSave = onSave;
    this.errors = new Map(); // line -> [messages]
    this.escaped = false;
    this.gutter = h("div", { class: "gutter", "aria-hidden": "true" });
    this.pre = h("pre", { "aria-hidden": "true" });
    this.textarea = h("textarea", {
      spellcheck: "false", autocapitalize: "off", autocomplete: "off", wrap: "off",
      "aria-label": label, "data-testid": "yaml-editor",
    });
    this.textarea.value = value;
    this.el = h("div", { class: "editor" }, this.gutter, h("div", { class: "code" }, this.pre, this.textarea));
    this.textarea.addEventListener("input", () => {
      this.refresh();
      this.onChange(this.textarea.value);
    });
    this.textarea.addEventListener("keydown", (e) => this.keydown(e));
    this.refresh();
  }

  get value() {
    return this.textarea.value;
  }

  set value(text) {
    this.textarea.value = text;
    this.refresh();
  }

  keydown(event) {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      if (this.onSave) this.onSave();
      return;
    }
    if (event.key === "Escape") {
      this.escaped = true;
      return;
    }
    if (event.key === "Tab" && !this.escaped) {
      event.preventDefault();
      this.indent(event.shiftKey);
      return;
    }
    if (event.key === "Enter" && !event.shiftKey) {
      // keep the indentation of the current line (plus two after a colon)
      const ta = this.textarea;
      const start = ta.selectionStart;
      const lineStart = ta.value.lastIndexOf("\n", start - 1) + 1;
      const line = ta.value.slice(lineStart, start);
      let indent = line.match(/^\s*/)[0];
      if (/:\s*$/.test(line)) indent += "  ";
      else if (/^\s*- /.test(line) && !/^\s*-\s*$/.test(line)) indent = indent + "  ";
      event.preventDefault();
      this.insert(`\n${indent}`);
      return;
    }
    this.escaped = false;
  }

  insert(text) {
    const ta = this.textarea;
    ta.setRangeText(text, ta.selectionStart, ta.selectionEnd, "end");
    ta.dispatchEvent(new Event("input"));
  }

  indent(outdent) {
    const ta = this.textarea;
    const { selectionStart: start, selectionEnd: end, value } = ta;
    if (start === end && !outdent) {
      this.insert("  ");
      return;
    }
    const lineStart = value.lastIndexOf("\n", start - 1) + 1;
    const block = value.slice(lineStart, end);
    const lines = block.split("\n");
    const changed = lines.map((l) => (outdent ? l.replace(/^ {1,2}/, "") : `  ${l}`)).join("\n");
    ta.setRangeText(changed, lineStart, end, "select");
    ta.dispatchEvent(new Event("input"));
  }

  setErrors(problems) {
    this.errors = new Map();
    for (const p of problems || []) {
      if (!p.line) continue;
      const list = this.errors.get(p.line) || [];
      list.push(p.message);
      this.errors.set(p.line, list);
    }
    this.refresh();
  }

  goto(line, column = 1) {
    const lines = this.textarea.value.split("\n");
    let offset = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i += 1) offset += lines[i].length + 1;
    offset += Math.max(0, column - 1);
    this.textarea.focus();
    this.textarea.setSelectionRange(offset, offset);
    const top = (line - 1) * 20 - this.el.clientHeight / 3;
    this.el.scrollTop = Math.max(0, top);
  }

  refresh() {
    const lines = this.textarea.value.split("\n");
    const gutter = [];
    const code = [];
    lines.forEach((line, i) => {
      const n = i + 1;
      const messages = this.errors.get(n);
      gutter.push(h("div", messages ? { class: "has-error", title: messages.join("\n"), "data-line": n } : { "data-line": n }, String(n)));
      const content = highlightLine(line);
      code.push(messages ? h("span", { class: "line-error", "data-error-line": n }, content, "\u200b") : content);
      code.push("\n");
    });
    clear(this.gutter, gutter);
    clear(this.pre, code);
    // the textarea grows with its content; the .editor box scrolls
    this.textarea.style.height = `${lines.length * 20 + 24}px`;
    const longest = lines.reduce((m, l) => Math.max(m, l.length), 0);
    this.textarea.style.width = `max(100%, ${longest + 4}ch)`;
    this.pre.style.width = this.textarea.style.width;
  }
}
