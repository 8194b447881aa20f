// The flow's JSON Schema (GET /api/v1/plugins/schemas/flow) and where a place in a YAML
// text sits in it: the editor's completion and hover, and the plugin documentation
// pages, read it. The YAML is read line by line from its indentation, so a flow that is
// half written (the usual case while typing) still has a context.
import { api } from "./api.js";

const DEFS = "#/definitions/";
let loading = null;

// The schema, fetched once per page load (the server answers 304 while it is the same).
export function loadFlowSchema() {
  if (!loading) {
    loading = api("/plugins/schemas/flow").then((raw) => new FlowSchema(raw)).catch((err) => {
      loading = null;
      throw err;
    });
  }
  return loading;
}

export class FlowSchema {
  constructor(raw) {
    this.raw = raw;
    this.defs = raw.definitions || {};
    this.root = this.deref(raw);
    // every plugin type: {type, kind, title, description, deprecated}
    this.plugins = [];
    for (const [union, kind] of [["tasks", "task"], ["triggers", "trigger"], ["conditions", "condition"]]) {
      for (const ref of (this.defs[union] || {}).anyOf || []) this.plugins.push(this.plugin(ref.$ref.slice(DEFS.length), kind));
    }
    for (const [name, def] of Object.entries(this.defs)) {
      if (/\.runner\./.test(name) && def.properties && def.properties.type && def.properties.type.const === name) this.plugins.push(this.plugin(name, "taskRunner"));
    }
    this.byType = new Map(this.plugins.map((p) => [p.type, p]));
  }

  plugin(type, kind) {
    const def = this.defs[type] || {};
    return { type, kind, title: def.title || "", description: def.description || "", deprecated: Boolean(def.deprecated), def };
  }

  deref(node) {
    let current = node;
    for (let i = 0; current && current.$ref && i < 20; i += 1) current = this.defs[current.$ref.slice(DEFS.length)];
    return current || {};
  }

  // A property's schema without its `null` branch and references followed.
  strip(node) {
    let current = this.deref(node);
    for (let i = 0; i < 5; i += 1) {
      const branches = current.anyOf || current.oneOf;
      if (!branches) break;
      const real = branches.filter((b) => b.type !== "null");
      if (real.length !== 1) break;
      current = this.deref(real[0]);
    }
    return current;
  }

  // The members of a union (anyOf / oneOf, references followed), or null.
  members(node) {
    const current = this.strip(node);
    const branches = current.anyOf || current.oneOf;
    if (!branches) return null;
    return branches.map((b) => this.deref(b)).filter((b) => b.type !== "null");
  }

  // The object schema a mapping has, given its own keys (`type` picks a union member).
  objectFor(node, keys) {
    const current = this.strip(node);
    if (current.properties) return current;
    const members = this.members(current);
    if (!members) return null;
    const typeName = keys && keys.get("type");
    if (typeName) {
      const found = members.find((m) => m.properties && m.properties.type && (m.properties.type.const === typeName || (m.properties.type.enum || []).includes(typeName)));
      if (found) return found;
    }
    const objects = members.filter((m) => m.properties);
    return objects.length === 1 ? objects[0] : null;
  }

  // Where `path` ([{key, item}] from the root) leads: the schema of the mapping there.
  nodeAt(path) {
    let node = this.root;
    for (const level of path) {
      const obj = this.objectFor(node, level.keys);
      if (!obj || !obj.properties || !(level.key in obj.properties)) return null;
      node = this.strip(obj.properties[level.key]);
      if (level.item) {
        if (!node.items) return null;
        node = this.strip(node.items);
      }
    }
    return node;
  }

  // The `type` values a union offers (every task type under `tasks:`, …).
  typeChoices(node) {
    const members = this.members(node) || [];
    const out = [];
    for (const m of members) {
      const t = m.properties && m.properties.type;
      if (!t) continue;
      for (const value of t.const !== undefined ? [t.const] : t.enum || []) out.push({ value, title: m.title || "", deprecated: Boolean(m.deprecated) });
    }
    return out;
  }
}

// A short text for a property's type: "string", "duration", "integer ≥ 1", "list of tasks"…
export function typeLabel(schema, prop) {
  const node = schema.strip(prop);
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.enum) return node.enum.join(" | ");
  if (node.format === "duration") return "duration";
  if (node.type === "array") {
    const items = node.items || {};
    if (items.$ref === `${DEFS}tasks`) return "list of tasks";
    if (items.$ref === `${DEFS}triggers`) return "list of triggers";
    if (items.$ref === `${DEFS}conditions`) return "list of conditions";
    return `list of ${typeLabel(schema, items)}`;
  }
  const members = schema.members(node);
  if (members) {
    let labels = [...new Set(members.map((m) => (m.format === "duration" ? "duration" : m.title || m.type || "object")))];
    // a duration or a template (a string) is a duration to whoever writes it
    if (labels.includes("duration")) labels = labels.filter((l) => l !== "string");
    return labels.join(" | ");
  }
  if (node.type === "object") return node.title ? node.title : "map";
  return node.type || "any";
}

// ---------------------------------------------------------------------------
// Reading YAML by indentation

const LINE = /^(\s*)((?:-\s+)*)(.*)$/;
const KEY = /^([A-Za-z_$][\w.$-]*|"[^"]*"|'[^']*')\s*:(?:\s+(.*)|\s*)$/;

function unquote(text) {
  const t = text.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  return t;
}

function scalarOf(value) {
  if (value === undefined) return "";
  const hash = value.search(/\s#/);
  return unquote(hash >= 0 ? value.slice(0, hash) : value);
}

// One line: where its key starts (after any "- "), its key and value, and whether a "- "
// starts a list item there (dashCol: the dash's column).
export function parseLine(text) {
  const m = text.match(LINE);
  const indent = m[1].length;
  const dashes = m[2];
  const rest = m[3];
  const keyCol = indent + dashes.length;
  const blank = !rest.trim() && !dashes || rest.trimStart().startsWith("#") && !dashes;
  const km = rest.match(KEY);
  return {
    indent, keyCol, blank, rest,
    dashCol: dashes ? indent + dashes.lastIndexOf("-") : -1,
    key: km ? unquote(km[1]) : null,
    value: km ? scalarOf(km[2]) : null,
    hasValue: km ? Boolean(km[2] && km[2].trim() && !km[2].trim().startsWith("#")) : false,
  };
}

// The mapping that holds the key starting at column `col` on line `row`: its keys and
// values, the line and column of the key it is under, and whether it is a list item.
function mappingAt(lines, row, col) {
  const keys = new Map();
  const parsed = (i) => parseLine(lines[i]);
  let item = false;
  let start = row;
  // upwards, to the mapping's first key
  const here = parsed(row);
  if (here.dashCol >= 0 && here.keyCol === col) item = true;
  else {
    for (let i = row - 1; i >= 0; i -= 1) {
      const p = parsed(i);
      if (p.blank) continue;
      if (p.keyCol > col) continue;
      if (p.keyCol < col) break;
      if (p.key !== null) keys.set(p.key, p.value);
      start = i;
      if (p.dashCol >= 0) {
        item = true;
        break;
      }
    }
  }
  // downwards, the rest of its keys
  for (let i = row; i < lines.length; i += 1) {
    const p = parsed(i);
    if (p.blank) continue;
    if (i > row && (p.keyCol < col || (p.keyCol === col && p.dashCol >= 0))) break;
    if (p.keyCol === col && p.key !== null) keys.set(p.key, p.value);
  }
  // the parent: the key above with less indentation (for a list item: than its dash)
  const first = parsed(start);
  const limit = item ? (first.dashCol >= 0 ? first.dashCol : col) : col;
  for (let i = start - 1; i >= 0; i -= 1) {
    const p = parsed(i);
    if (p.blank || p.key === null && p.dashCol < 0) continue;
    if (p.keyCol < limit || (item && p.keyCol === limit && p.dashCol < 0 && p.key !== null && !p.hasValue)) {
      if (p.key === null) return { keys, item, parent: null };
      return { keys, item, parent: { row: i, col: p.keyCol, key: p.key } };
    }
  }
  return { keys, item, parent: null };
}

// The path from the root to the mapping holding column `col` of line `row`:
// [{key, item, keys}], each level naming the key it is under and that level's own keys.
export function pathAt(lines, row, col) {
  const levels = [];
  let current = mappingAt(lines, row, col);
  const own = current.keys;
  let guard = 0;
  while (current.parent && guard < 64) {
    guard += 1;
    const parentMapping = mappingAt(lines, current.parent.row, current.parent.col);
    levels.unshift({ key: current.parent.key, item: current.item, keys: parentMapping.keys });
    current = parentMapping;
  }
  // levels[i].keys are the keys of the mapping that holds levels[i].key
  return { path: levels, keys: own };
}

// What the cursor at `pos` is on: a key being typed, a value after "key: ", or nothing.
export function contextAt(text, pos) {
  const before = text.slice(0, pos);
  const row = before.split("\n").length - 1;
  const lines = text.split("\n");
  const lineStart = before.lastIndexOf("\n") + 1;
  const head = before.slice(lineStart);
  const valueMatch = head.match(/^(\s*(?:-\s+)*)([A-Za-z_$][\w.$-]*|"[^"]*"|'[^']*')(\s*:\s+)(\S*)$/);
  if (valueMatch) {
    const col = valueMatch[1].length;
    const { path, keys } = pathAt(lines, row, col);
    return { kind: "value", key: unquote(valueMatch[2]), prefix: valueMatch[4], from: pos - valueMatch[4].length, path, keys };
  }
  const keyMatch = head.match(/^(\s*(?:-\s+)*)([A-Za-z_$][\w$-]*)?$/);
  if (keyMatch) {
    const col = keyMatch[1].length;
    const word = keyMatch[2] || "";
    const { path, keys } = pathAt(lines, row, col);
    keys.delete(word);
    return { kind: "key", prefix: word, from: pos - word.length, path, keys, col };
  }
  return null;
}

// The key under `pos` (for hover): its name, its span and the mapping it belongs to.
export function keyAt(text, pos) {
  const lineStart = text.lastIndexOf("\n", pos - 1) + 1;
  let lineEnd = text.indexOf("\n", pos);
  if (lineEnd < 0) lineEnd = text.length;
  const line = text.slice(lineStart, lineEnd);
  const p = parseLine(line);
  if (p.key === null) return null;
  const from = lineStart + p.keyCol;
  const rawKey = line.slice(p.keyCol).match(/^([A-Za-z_$][\w.$-]*|"[^"]*"|'[^']*')/)[0];
  const to = from + rawKey.length;
  const valueFrom = line.indexOf(":", p.keyCol + rawKey.length) + 1;
  const onKey = pos >= from && pos <= to;
  const onValue = !onKey && valueFrom > 0 && pos >= lineStart + valueFrom && p.hasValue;
  if (!onKey && !onValue) return null;
  const lines = text.split("\n");
  const row = text.slice(0, lineStart).split("\n").length - 1;
  const { path, keys } = pathAt(lines, row, p.keyCol);
  return { key: p.key, value: p.value, onKey, from: onKey ? from : lineStart + valueFrom, to: onKey ? to : lineEnd, path, keys };
}
