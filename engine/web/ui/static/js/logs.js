// Logs of one execution, virtual-scrolled: only the rows on screen exist in the DOM and
// only the pages around them are fetched (GET /logs/search, 200 lines a page), so 100,000
// lines cost what 50 do. While the execution runs, /logs/{id}/follow appends new lines.
import { api, follow, url } from "./api.js";
import { h, clear, debounce } from "./dom.js";
import { formatTime } from "./format.js";

const ROW_H = 22;
const PAGE = 200;
const OVERSCAN = 30;
const BIG = 5000;
const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
const rank = (level) => Math.max(0, LEVELS.indexOf(level === "WARNING" ? "WARN" : level));

export class LogViewer {
  constructor(executionId, { tasks = [], taskId = "", live = false, emptyText = null } = {}) {
    this.emptyText = emptyText; // why there is nothing, when the page knows
    this.executionId = executionId;
    this.filter = { minLevel: "INFO", q: "", taskId };
    this.live = live;
    this.total = 0;
    this.pages = new Map(); // page index (0-based) -> entries[] | Promise
    this.fallback = null; // all entries, when /logs/search is not served
    this.generation = 0;
    this.stick = true; // follow the tail while live
    this.stopFollow = null;
    this.selected = null;

    this.view = h("div", { class: "logs-view", tabindex: "0", role: "log", "aria-label": "Log lines", "data-testid": "log-view" });
    this.spacer = h("div", { class: "logs-spacer" });
    this.view.append(this.spacer);
    this.statusText = h("span", { "data-testid": "log-count" });
    this.liveText = h("span", {});
    this.detail = h("pre", { class: "preview", hidden: true, style: { margin: "0 10px 10px", padding: "10px", whiteSpace: "pre-wrap" }, "data-testid": "log-detail" });

    const level = h("select", { id: "log-level", "aria-label": "Minimum level" }, LEVELS.map((l) => h("option", { value: l, selected: l === this.filter.minLevel }, l)));
    const search = h("input", { type: "search", id: "log-q", placeholder: "Search in messages…", "aria-label": "Search logs", "data-search": true });
    this.taskSelect = h("select", { id: "log-task", "aria-label": "Task" }, h("option", { value: "" }, "All tasks"));
    this.setTasks(tasks);
    this.download = h("a", { class: "button small", download: true, href: "#" }, "Download");
    const bottom = h("button", { type: "button", class: "small", onclick: () => this.scrollToEnd() }, "↓ Latest");
    level.addEventListener("change", () => { this.filter.minLevel = level.value; this.reset(); });
    search.addEventListener("input", debounce(() => { this.filter.q = search.value.trim(); this.reset(); }, 300));
    this.taskSelect.addEventListener("change", () => { this.filter.taskId = this.taskSelect.value; this.reset(); });
    this.view.addEventListener("scroll", () => {
      this.stick = this.view.scrollTop + this.view.clientHeight >= this.view.scrollHeight - ROW_H * 2;
      this.schedule();
    });
    this.view.addEventListener("keydown", (e) => {
      const step = { ArrowDown: ROW_H, ArrowUp: -ROW_H, PageDown: this.view.clientHeight, PageUp: -this.view.clientHeight }[e.key];
      if (step) { e.preventDefault(); this.view.scrollTop += step; }
      if (e.key === "End") { e.preventDefault(); this.scrollToEnd(); }
      if (e.key === "Home") { e.preventDefault(); this.view.scrollTop = 0; }
    });
    this.el = h("div", { class: "logs" },
      h("div", { class: "logs-tools" },
        h("label", { class: "visually-hidden", for: "log-level" }, "Level"), level,
        h("label", { class: "visually-hidden", for: "log-task" }, "Task"), this.taskSelect,
        h("div", { class: "grow" }, search), bottom, this.download),
      this.view, this.detail,
      h("div", { class: "logs-status" }, this.statusText, h("span", { class: "spacer" }), this.liveText));
    this.reset();
  }

  setTasks(tasks) {
    const current = this.filter.taskId;
    const seen = new Set([...this.taskSelect.options].map((o) => o.value));
    for (const t of tasks) if (!seen.has(t)) this.taskSelect.append(h("option", { value: t, selected: t === current }, t));
    if (current && !seen.has(current) && !tasks.includes(current)) this.taskSelect.append(h("option", { value: current, selected: true }, current));
    this.taskSelect.value = current;
  }

  query(extra = {}) {
    return { executionId: this.executionId, minLevel: this.filter.minLevel, q: this.filter.q, taskId: this.filter.taskId, ...extra };
  }

  matches(entry) {
    if (rank(entry.level) < rank(this.filter.minLevel)) return false;
    if (this.filter.taskId && entry.taskId !== this.filter.taskId) return false;
    if (this.filter.q && !String(entry.message).toLowerCase().includes(this.filter.q.toLowerCase())) return false;
    return true;
  }

  async reset() {
    const gen = ++this.generation;
    this.pages = new Map();
    this.total = 0;
    this.selected = null;
    this.detail.hidden = true;
    const { executionId, ...rest } = this.query();
    this.download.href = url(`/logs/${encodeURIComponent(executionId)}/download`, rest);
    this.statusText.textContent = "Loading…";
    if (this.fallback === null) {
      try {
        const first = await api("/logs/search", { query: this.query({ page: 1, size: PAGE }) });
        if (gen !== this.generation) return;
        this.total = first.total ?? (first.results || []).length;
        this.pages.set(0, first.results || []);
        if (this.live && this.total > PAGE) await this.loadPage(Math.floor((this.total - 1) / PAGE), gen);
      } catch (err) {
        if (err.status !== 404 && err.status !== 405) throw err;
        this.fallback = true;
      }
    }
    if (this.fallback) {
      const all = await api(`/logs/${encodeURIComponent(this.executionId)}`, { query: { minLevel: this.filter.minLevel } });
      if (gen !== this.generation) return;
      const found = all.filter((e) => this.matches(e));
      this.total = found.length;
      for (let p = 0; p * PAGE < found.length; p += 1) this.pages.set(p, found.slice(p * PAGE, (p + 1) * PAGE));
    }
    this.watermark = this.lastTimestamp();
    this.render();
    if (this.live) {
      this.scrollToEnd();
      this.startFollow();
    }
  }

  lastTimestamp() {
    const last = this.pages.get(Math.floor(Math.max(0, this.total - 1) / PAGE));
    return Array.isArray(last) && last.length ? last[last.length - 1].timestamp : null;
  }

  async loadPage(p, gen = this.generation) {
    if (this.pages.has(p) || this.fallback) return;
    const promise = api("/logs/search", { query: this.query({ page: p + 1, size: PAGE }) });
    this.pages.set(p, promise);
    try {
      const data = await promise;
      if (gen !== this.generation) return;
      this.pages.set(p, data.results || []);
      if (typeof data.total === "number" && data.total > this.total) this.total = data.total;
    } catch (err) {
      this.pages.delete(p);
      throw err;
    }
    this.schedule();
  }

  startFollow() {
    if (this.stopFollow) this.stopFollow();
    clearInterval(this.poll);
    if (this.total > BIG) {
      // /logs/{id}/follow starts from the first line; past this size, ask for the tail
      this.pollTail("● live");
      return;
    }
    // The stream sends every line from the first, on each (re)connection, with the same
    // level/task filters as the search: skip as many as are already shown. With a text
    // filter the counts differ, so lines older than the newest shown are dropped instead.
    const bySkip = !this.filter.q;
    let skip = 0;
    const recent = new Set();
    this.liveText.textContent = "● live";
    this.stopFollow = follow(`/logs/${encodeURIComponent(this.executionId)}/follow`, {
      query: { minLevel: this.filter.minLevel, taskId: this.filter.taskId },
      onOpen: () => {
        skip = bySkip ? this.total : 0;
      },
      onData: (entry) => {
        if (skip > 0) {
          skip -= 1;
          return;
        }
        if (!entry || !this.matches(entry)) return;
        if (!bySkip) {
          if (this.watermark && entry.timestamp < this.watermark) return;
          const key = `${entry.timestamp}|${entry.taskRunId}|${entry.message}`;
          if (recent.has(key)) return;
          recent.add(key);
        }
        const index = this.total;
        this.total += 1;
        const page = this.pages.get(Math.floor(index / PAGE));
        if (Array.isArray(page)) page.push(entry);
        else if (!page && index % PAGE === 0) this.pages.set(index / PAGE, [entry]);
        this.schedule();
      },
      onFail: () => this.pollTail("● live (polling)"),
    });
  }

  pollTail(text) {
    this.liveText.textContent = text;
    clearInterval(this.poll);
    this.poll = setInterval(() => {
      if (this.live) this.refreshTail().catch(() => {});
    }, 1500);
  }

  async refreshTail() {
    const gen = this.generation;
    if (this.fallback) {
      const all = await api(`/logs/${encodeURIComponent(this.executionId)}`, { query: { minLevel: this.filter.minLevel } });
      if (gen !== this.generation) return;
      const found = all.filter((e) => this.matches(e));
      if (found.length === this.total) return;
      this.total = found.length;
      for (let p = 0; p * PAGE < found.length; p += 1) this.pages.set(p, found.slice(p * PAGE, (p + 1) * PAGE));
    } else {
      const first = await api("/logs/search", { query: this.query({ page: 1, size: 1 }) });
      if (gen !== this.generation || first.total === this.total) return;
      const lastPage = Math.floor(Math.max(0, this.total - 1) / PAGE);
      this.total = first.total;
      this.pages.delete(lastPage);
    }
    this.schedule();
  }

  setLive(live) {
    if (live === this.live) return;
    this.live = live;
    if (!live) {
      if (this.stopFollow) this.stopFollow();
      this.stopFollow = null;
      clearInterval(this.poll);
      this.liveText.textContent = "";
      // the last lines may have been projected after the stream ended
      setTimeout(() => this.refreshTail().catch(() => {}), 300);
    } else this.startFollow();
  }

  scrollToEnd() {
    this.stick = true;
    this.render();
    this.view.scrollTop = this.view.scrollHeight;
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  render() {
    this.spacer.style.height = `${Math.max(this.total * ROW_H, 1)}px`;
    if (this.live && this.stick) this.view.scrollTop = this.view.scrollHeight;
    const top = this.view.scrollTop;
    const height = this.view.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(this.total, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    const rows = [];
    for (let i = first; i < last; i += 1) {
      const p = Math.floor(i / PAGE);
      const page = this.pages.get(p);
      if (!page) this.loadPage(p).catch(() => {});
      const entry = Array.isArray(page) ? page[i - p * PAGE] : null;
      rows.push(this.row(i, entry));
    }
    clear(this.spacer, rows.length ? rows : (this.total ? null : h("div", { class: "empty" }, this.filter.q || this.filter.taskId ? "No log line matches." : this.emptyText || "No logs yet.")));
    this.statusText.textContent = `${this.total.toLocaleString()} line${this.total === 1 ? "" : "s"}`;
  }

  row(i, entry) {
    const style = { top: `${i * ROW_H}px` };
    if (!entry) return h("div", { class: "log-line pending", style }, h("span", {}), h("span", {}), h("span", {}), h("span", { class: "msg" }, "…"));
    const level = entry.level === "WARNING" ? "WARN" : entry.level;
    const firstLine = String(entry.message).split("\n")[0];
    const el = h("div", { class: `log-line level-${level}`, style, "data-level": level, "data-task-id": entry.taskId || "", title: "Show the whole line" },
      h("span", { class: "ts" }, formatTime(entry.timestamp)),
      h("span", { class: `lvl lvl-${level}` }, level),
      h("span", { class: "task" }, entry.taskId || ""),
      h("span", { class: "msg" }, firstLine));
    el.addEventListener("click", () => {
      this.detail.hidden = false;
      clear(this.detail, `${entry.timestamp}  ${level}  ${entry.taskId || ""}${entry.attempt ? ` (attempt ${entry.attempt})` : ""}\n\n${entry.message}`);
    });
    return el;
  }

  destroy() {
    this.generation += 1;
    if (this.stopFollow) this.stopFollow();
    clearInterval(this.poll);
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}
