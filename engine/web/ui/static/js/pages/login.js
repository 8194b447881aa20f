import { api } from "../api.js";
import { h, clear } from "../dom.js";

export function loginPage(ctx) {
  document.title = "Sign in · Podium";
  const next = ctx.query.get("next");
  const target = next && next.startsWith("/ui/") && !next.startsWith("/ui/login") ? next : "/ui/flows";
  const error = h("div", { class: "form-error", role: "alert", hidden: true });
  const user = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true, autofocus: true });
  const pass = h("input", { id: "login-pass", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { class: "primary", type: "submit" }, "Sign in");
  const form = h("form", { class: "stack", novalidate: true },
    error,
    h("div", { class: "field" }, h("label", { for: "login-user" }, "Username"), user),
    h("div", { class: "field" }, h("label", { for: "login-pass" }, "Password"), pass),
    submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!user.value || !pass.value) {
      error.textContent = "Enter a username and a password.";
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      await api("/auth/login", { method: "POST", json: { username: user.value, password: pass.value }, quiet401: true });
      await ctx.onLogin(user.value);
      ctx.navigate(target, { replace: true });
    } catch (err) {
      error.textContent = err.status === 401 ? "Wrong username or password." : err.message;
      error.hidden = false;
      pass.select();
    } finally {
      submit.disabled = false;
    }
  });
  clear(ctx.main, h("div", { class: "login" },
    h("div", { class: "card" },
      h("h1", {}, h("img", { src: new URL("../../img/logo.svg", import.meta.url).href, alt: "" }), "Podium"),
      form)));
  user.focus();
}
