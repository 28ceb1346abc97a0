/* What the page tells the user while it works: the error box, the busy status, the Run button. */
import { $, el, clear, fieldFor } from "./dom.js";
import { messageOf } from "./format.js";
import { showKeyForm } from "./apikey.js";
import { state } from "./state.js";

/* Show `err` (an ApiError or anything thrown) under `context`; `retry` adds a "Try again" button. */
export function showError(err, context, retry) {
  if (err && err.name === "AbortError") return;
  const box = $("error");
  clear(box);
  box.appendChild(el("p", { class: "error-title" }, [
    el("strong", { text: context || "Something went wrong" }),
    err && err.status ? el("span", { class: "error-status", text: " (HTTP " + err.status + ")" }) : null
  ]));
  box.appendChild(el("p", { class: "error-message", text: messageOf(err) }));
  const facts = [];
  if (err && err.port) facts.push(["Port", err.port]);
  if (err && err.node) facts.push(["Node", err.node]);
  if (facts.length) {
    const dl = el("dl", { class: "error-facts" });
    for (const [term, value] of facts) {
      dl.appendChild(el("dt", { text: term }));
      dl.appendChild(el("dd", {}, [el("code", { text: String(value) })]));
    }
    box.appendChild(dl);
  }
  if (err && err.detail && typeof err.detail === "string") {
    box.appendChild(el("details", {}, [el("summary", { text: "Details" }), el("pre", { text: err.detail })]));
  }
  if (retry && !(err && err.status === 401)) {
    box.appendChild(el("button", { type: "button", class: "button small", text: "Try again",
      onclick: () => { clearError(); retry(); } }));
  }
  box.hidden = false;
  if (err && err.port) {
    const field = fieldFor(err.port);
    if (field) field.classList.add("has-error");
  }
  if (err && err.status === 401) showKeyForm(true);
}

export function clearError() {
  const box = $("error");
  clear(box);
  box.hidden = true;
  for (const f of document.querySelectorAll(".has-error")) f.classList.remove("has-error");
}

let clockTimer = null;

/* The status line next to Run: a spinner and a running clock while busy, then `text`. */
export function setBusy(busy, text) {
  $("status").classList.toggle("busy", !!busy);
  $("status-text").textContent = text || "";
  $("status-clock").textContent = "";
  if (clockTimer) { clearInterval(clockTimer); clockTimer = null; }
  if (busy) {
    const t0 = performance.now();
    clockTimer = setInterval(() => {
      $("status-clock").textContent = ((performance.now() - t0) / 1000).toFixed(1) + " s";
    }, 100);
  }
}

export function updateRunButton() {
  const btn = $("run-button");
  btn.disabled = state.running || !state.graph || !!state.recorder || !!state.loadingExample;
  btn.setAttribute("aria-busy", state.running ? "true" : "false");
  btn.querySelector("span").textContent = state.running ? "Running…" : "Run";
}
