// A line-based YAML highlighter: enough for flows (keys, scalars, comments, {{ templates }}).
// It returns DOM nodes, one span per token, never HTML strings.
import { h } from "./dom.js";

const KEY = /^(\s*(?:-\s+)*)([A-Za-z_$][\w.$-]*|"[^"]*"|'[^']*')(\s*:)(?=\s|$)/;
const TEMPLATE = /(\{\{.*?\}\}|\{%.*?%\})/g;

function scalar(text) {
  const out = [];
  const trimmed = text.trim();
  if (!trimmed) return [text];
  let cls = null;
  if (/^(true|false|yes|no|null|~)$/i.test(trimmed)) cls = "tok-bool";
  else if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(trimmed)) cls = "tok-num";
  else if (/^io\.kestra\.|^[a-z][\w]*(\.[\w]+){2,}$/.test(trimmed)) cls = "tok-type";
  else cls = "tok-str";
  // templates inside strings stand out
  let last = 0;
  for (const m of text.matchAll(TEMPLATE)) {
    if (m.index > last) out.push(h("span", { class: cls }, text.slice(last, m.index)));
    out.push(h("span", { class: "tok-tpl" }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(h("span", { class: cls }, text.slice(last)));
  return out;
}

function splitComment(text) {
  // A # starts a comment at the line start or after a space, outside quotes.
  let quote = null;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) return [text.slice(0, i), text.slice(i)];
  }
  return [text, ""];
}

export function highlightLine(line) {
  const [code, comment] = splitComment(line);
  const parts = [];
  const m = code.match(KEY);
  let rest = code;
  if (m) {
    parts.push(m[1].replace(/-/g, "\u0000").split("\u0000").flatMap((seg, i) => (i ? [h("span", { class: "tok-punct" }, "-"), seg] : [seg])));
    parts.push(h("span", { class: "tok-key" }, m[2]), h("span", { class: "tok-punct" }, m[3]));
    rest = code.slice(m[0].length);
  } else {
    const dash = code.match(/^(\s*)(-)(\s|$)/);
    if (dash) {
      parts.push(dash[1], h("span", { class: "tok-punct" }, "-"));
      rest = code.slice(dash[1].length + 1);
    }
  }
  if (rest) {
    const lead = rest.match(/^\s*/)[0];
    const body = rest.slice(lead.length);
    parts.push(lead);
    if (/^[|>][-+]?\s*$/.test(body)) parts.push(h("span", { class: "tok-punct" }, body));
    else parts.push(...scalar(body));
  }
  if (comment) parts.push(h("span", { class: "tok-com" }, comment));
  return parts;
}
