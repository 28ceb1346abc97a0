/* A graph's examples (the `examples:` of its file): one button each above the inputs. A click fills
 * the form with the example's values and fetches its recordings into the audio fields, as Gradio's
 * examples do; Run then runs it. */
import { $, el, clear } from "./dom.js";
import { request } from "./api.js";
import { kindOf } from "./format.js";
import { fillValues } from "./form.js";
import { useAudio, clearAudio } from "./audio-input.js";
import { showError, clearError, updateRunButton } from "./status.js";
import { state } from "./state.js";

let loadToken = 0;

export function buildExamples(g) {
  const box = $("examples");
  clear(box);
  loadToken++;
  state.loadingExample = false;
  const list = (g && g.examples) || [];
  box.hidden = list.length === 0;
  if (!list.length) return;
  const row = el("div", { class: "examples-row", role: "group", "aria-labelledby": "examples-label" });
  for (const ex of list) {
    const button = el("button", { type: "button", class: "button small example", "data-example": ex.name,
      "aria-pressed": "false", title: summary(ex), text: ex.name });
    button.addEventListener("click", () => useExample(g, ex, button));
    row.appendChild(button);
  }
  box.appendChild(el("span", { class: "field-label", id: "examples-label", text: "Examples" }));
  box.appendChild(row);
}

/* "text: “hello there” · wav: rms_hello.wav": what a click puts in the form. */
function summary(ex) {
  const parts = Object.entries(ex.inputs || {}).map(([k, v]) =>
    k + ": " + (typeof v === "string" ? "“" + v + "”" : JSON.stringify(v)));
  for (const [k, f] of Object.entries(ex.files || {})) parts.push(k + ": " + f.name);
  return parts.join(" · ");
}

/* Fill the form with example `ex` of graph `g`; resolves once its recordings are in place. */
export function useExample(g, ex, button) {
  clearError();
  for (const b of document.querySelectorAll("#examples .example")) b.setAttribute("aria-pressed", String(b === button));
  fillValues(g, ex.inputs || {});
  const files = ex.files || {};
  for (const port of Object.keys(g.inputs || {})) {
    if (kindOf(g.inputs[port] || {}) === "audio" && !files[port]) clearAudio(port);
  }
  const ports = Object.keys(files);
  if (!ports.length) return Promise.resolve();
  const token = ++loadToken;
  state.loadingExample = true;
  updateRunButton();
  return Promise.all(ports.map((port) => request(files[port].url).then((resp) => resp.blob()).then((blob) => {
    if (token !== loadToken || state.graph !== g) return;
    useAudio(port, new Blob([blob], { type: "audio/wav" }), files[port].name);
  }))).catch((err) => {
    if (token === loadToken) showError(err, "Could not load the example “" + ex.name + "”");
  }).then(() => {
    if (token !== loadToken) return;
    state.loadingExample = false;
    updateRunButton();
  });
}
