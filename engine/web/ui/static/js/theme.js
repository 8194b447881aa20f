// Light or dark: the system's choice (prefers-color-scheme) unless the user picked the
// other one with the sidebar's toggle, which is remembered in localStorage. The colours
// themselves are CSS custom properties (css/app.css, light-dark()); this only sets
// data-theme on <html> when the user's choice differs from the system's.
import { h, icon } from "./dom.js";

const KEY = "podium.theme";
const media = window.matchMedia("(prefers-color-scheme: dark)");
const root = document.documentElement;

function stored() {
  try {
    const value = localStorage.getItem(KEY);
    return value === "dark" || value === "light" ? value : null;
  } catch {
    return null;
  }
}

function store(value) {
  try {
    if (value) localStorage.setItem(KEY, value);
    else localStorage.removeItem(KEY);
  } catch {
    // private mode: the choice lasts until the page is reloaded
  }
}

const systemTheme = () => (media.matches ? "dark" : "light");
export const currentTheme = () => root.dataset.theme || systemTheme();

export function applyTheme() {
  const chosen = stored();
  if (chosen && chosen !== systemTheme()) root.dataset.theme = chosen;
  else delete root.dataset.theme;
}

// A button that switches to the other theme; choosing the system's own forgets the choice.
export function themeToggle() {
  const label = h("span", { class: "label" });
  const button = h("button", { type: "button", class: "theme-toggle", "data-testid": "theme-toggle" }, icon("theme"), label);
  const show = () => {
    const dark = currentTheme() === "dark";
    button.setAttribute("aria-pressed", dark ? "true" : "false");
    button.setAttribute("aria-label", "Dark mode");
    button.title = dark ? "Switch to light mode" : "Switch to dark mode";
    label.textContent = "Dark mode";
  };
  button.addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    store(next === systemTheme() ? null : next);
    applyTheme();
    show();
  });
  media.addEventListener("change", () => {
    if (button.isConnected) show();
  });
  show();
  return button;
}

media.addEventListener("change", applyTheme);
applyTheme();
