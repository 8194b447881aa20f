// Line diff (LCS over lines, trimmed common ends) for revision history.
import { h } from "./dom.js";

export function diffLines(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  let start = 0;
  while (start < x.length && start < y.length && x[start] === y[start]) start += 1;
  let endX = x.length;
  let endY = y.length;
  while (endX > start && endY > start && x[endX - 1] === y[endY - 1]) {
    endX -= 1;
    endY -= 1;
  }
  const mx = x.slice(start, endX);
  const my = y.slice(start, endY);
  const ops = [];
  for (let i = 0; i < start; i += 1) ops.push(["ctx", x[i]]);
  if (mx.length * my.length > 4_000_000) {
    mx.forEach((l) => ops.push(["del", l]));
    my.forEach((l) => ops.push(["add", l]));
  } else {
    const n = mx.length;
    const m = my.length;
    const table = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i -= 1) {
      for (let j = m - 1; j >= 0; j -= 1) {
        table[i][j] = mx[i] === my[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && mx[i] === my[j]) {
        ops.push(["ctx", mx[i]]);
        i += 1;
        j += 1;
      } else if (i < n && (j >= m || table[i + 1][j] >= table[i][j + 1])) {
        ops.push(["del", mx[i]]);
        i += 1;
      } else {
        ops.push(["add", my[j]]);
        j += 1;
      }
    }
  }
  for (let i = endX; i < x.length; i += 1) ops.push(["ctx", x[i]]);
  return ops;
}

export function renderDiff(a, b, context = 3) {
  const ops = diffLines(a, b);
  const keep = ops.map(() => false);
  ops.forEach(([kind], i) => {
    if (kind !== "ctx") for (let k = Math.max(0, i - context); k <= Math.min(ops.length - 1, i + context); k += 1) keep[k] = true;
  });
  const rows = [];
  let skipped = 0;
  const sign = { add: "+", del: "−", ctx: "" };
  const gap = (n) => h("div", { class: "gap" }, `⋯ ${n} unchanged line${n > 1 ? "s" : ""}`);
  let oldLine = 0;
  let newLine = 0;
  ops.forEach(([kind, line], i) => {
    if (kind !== "add") oldLine += 1;
    if (kind !== "del") newLine += 1;
    if (!keep[i]) {
      skipped += 1;
      return;
    }
    if (skipped) rows.push(gap(skipped));
    skipped = 0;
    rows.push(h("div", { class: kind },
      h("span", { class: "ln", "aria-hidden": "true" }, kind === "add" ? "" : String(oldLine)),
      h("span", { class: "ln", "aria-hidden": "true" }, kind === "del" ? "" : String(newLine)),
      h("span", { class: "sg" }, sign[kind]),
      h("span", { class: "code" }, line)));
  });
  if (skipped) rows.push(gap(skipped));
  if (!ops.some(([k]) => k !== "ctx")) rows.push(h("div", { class: "gap" }, "No changes"));
  return h("div", { class: "diff", "data-testid": "diff" }, rows);
}
