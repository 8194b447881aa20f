// The REST API of docs/api.md. Cookie session + CSRF header on every non-GET; a 401
// sends the user to the login page and remembers where they were.
const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

export function qs(query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(key, String(item));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function url(path, query) {
  return `${BASE}${path}${qs(query)}`;
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function api(path, { method = "GET", query, json, body, contentType, headers: extra = {}, signal, quiet401 = false } = {}) {
  // X-Requested-With: the server then leaves out WWW-Authenticate on a 401, so the
  // browser shows our login page instead of its own password box.
  const headers = { ...extra, Accept: "application/json", "X-Requested-With": "XMLHttpRequest" };
  if (method !== "GET" && method !== "HEAD") {
    const csrf = cookie("podium_csrf");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  let response;
  try {
    response = await fetch(url(path, query), { method, headers, body, signal, credentials: "same-origin" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "The server cannot be reached", null);
  }
  const type = response.headers.get("Content-Type") || "";
  let data = null;
  if (response.status !== 204 && response.status !== 202) {
    data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  }
  if (!response.ok) {
    if (response.status === 401 && !quiet401) onUnauthorized();
    const message = (data && data.message) || (typeof data === "string" && data) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, data);
  }
  return data;
}

// Server-sent events with an end: EventSource reconnects when the server closes the
// stream, so `until(data)` says when to stop; on a failure before any message (endpoint
// missing, 401) `onFail` is called once, so callers can fall back to polling.
export function follow(path, { query, onData, onOpen = () => {}, until = () => false, onFail = () => {}, onEnd = () => {} }) {
  const source = new EventSource(url(path, query));
  // called on every (re)connection: a stream starts again from its beginning
  source.onopen = () => onOpen();
  let received = false;
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      source.close();
    }
  };
  source.onmessage = (event) => {
    received = true;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    onData(data);
    if (until(data)) {
      close();
      onEnd();
    }
  };
  // a server may say it is done before closing, so the browser does not reconnect
  source.addEventListener("end", () => {
    close();
    onEnd();
  });
  source.onerror = () => {
    if (closed) return;
    if (!received || source.readyState === EventSource.CLOSED) {
      close();
      onFail();
    }
  };
  return close;
}

export const TERMINAL = new Set(["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "SKIPPED", "RETRIED"]);
export const isTerminal = (state) => TERMINAL.has(state);
export const stateOf = (thing) => (thing && thing.state && (thing.state.current || thing.state)) || "CREATED";

// Kestra's flow paths take namespace and id as separate segments.
export const flowPath = (ns, id) => `/flows/${encodeURIComponent(ns)}/${encodeURIComponent(id)}`;
