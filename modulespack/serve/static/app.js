/* modulespack demo page: the entry module, wiring the page together.
 *
 * Plain JavaScript modules, no libraries, no build step (the machines it runs on are offline).
 * Talks to the API next to it (see api.js). Audio inputs are WAV uploads (a file, or a recording
 * encoded to 16-bit PCM WAV here); audio outputs come back as {wav_base64, sr, seconds}. A 401 shows
 * the API key field; the key is kept in sessionStorage and sent as X-API-Key.
 *
 * Modules: dom, format, state (shared), apikey, api, status (errors, busy, Run button), wav, record,
 * fft, colormap, spectrogram, plots, audio-input, form (inputs), results (outputs), diagram (and timings),
 * snippets (the "Use it from…" calls).
 */
import { $, el, clear, fieldFor } from "./dom.js";
import { fmtSeconds } from "./format.js";
import { state, findGraph, graphFromHash } from "./state.js";
import { initKeyForm } from "./apikey.js";
import { ApiError, requestJSON, graphPath } from "./api.js";
import { showError, clearError, setBusy, updateRunButton } from "./status.js";
import { stopRecording } from "./record.js";
import { buildInputs, collectInputs } from "./form.js";
import { buildExamples } from "./examples.js";
import { resetOutputs, showResults } from "./results.js";
import { loadDiagram, showDiagramLoading, updateDiagramHint, renderTimings, dropDiagramTimings,
  initDiagramFit } from "./diagram.js";
import { encodeWav16, parseWav } from "./wav.js";
import { loadSnippets } from "./snippets.js";
import { fft, fftTables } from "./fft.js";

// ------------------------------------------------------------------ graphs

function loadGraphs() {
  const select = $("graph-select");
  select.disabled = true;
  return requestJSON("graphs").then((list) => {
    if (!Array.isArray(list)) list = (list && list.graphs) || [];
    state.graphs = list;
    clear(select);
    if (!list.length) {
      select.appendChild(el("option", { value: "", text: "No graphs are served" }));
      $("graph-description").textContent = "The server has no graphs to offer.";
      return;
    }
    for (const g of list) {
      select.appendChild(el("option", { value: g.name, text: g.name, title: g.description || null }));
    }
    select.disabled = false;
    const wanted = graphFromHash();
    const chosen = findGraph(wanted) ? wanted : list[0].name;
    select.value = chosen;
    chooseGraph(chosen);
  }).catch((err) => {
    clear(select);
    select.appendChild(el("option", { value: "", text: "Could not load graphs" }));
    if (err.status === 401) state.retry = loadGraphs;
    showError(err, "Could not load the list of graphs", loadGraphs);
  });
}

function chooseGraph(name) {
  const g = findGraph(name);
  stopRecording(true);
  buildExamples(null);
  state.graph = g;
  state.audio = {};
  state.runToken++;           // results of a run on the previous graph are dropped
  state.running = false;
  setBusy(false);
  clearError();
  resetOutputs();
  renderTimings(null);
  showDiagramLoading();
  if (!g) { updateRunButton(); return; }
  if (history.replaceState) history.replaceState(null, "", "#graph=" + encodeURIComponent(g.name));
  setDescription(g.description || "");
  buildInputs(g);
  buildExamples(g);
  loadDiagram(g.name, null);
  loadSnippets(g.name);
  updateRunButton();
}

/* The graph's description, clamped to a few lines with "Show more" when it is longer. */
function setDescription(text) {
  const p = $("graph-description"), more = $("description-more");
  p.textContent = text;
  p.classList.add("clamped");
  more.hidden = true;
  more.setAttribute("aria-expanded", "false");
  more.textContent = "Show more";
  requestAnimationFrame(() => { more.hidden = p.scrollHeight <= p.clientHeight + 2; });
}

function toggleDescription() {
  const more = $("description-more");
  const open = $("graph-description").classList.toggle("clamped") === false;
  more.setAttribute("aria-expanded", open ? "true" : "false");
  more.textContent = open ? "Show less" : "Show more";
}

// ------------------------------------------------------------------ running

/* The request body of a run: multipart when there are audio files, else {"inputs": …} as JSON. */
function runBody(collected) {
  const fileNames = Object.keys(collected.files);
  if (!fileNames.length) {
    return { headers: { "Content-Type": "application/json" }, body: JSON.stringify({ inputs: collected.values }) };
  }
  const body = new FormData();
  for (const port of fileNames) body.append(port, collected.files[port].blob, collected.files[port].name);
  for (const [port, v] of Object.entries(collected.values)) {
    body.append(port, typeof v === "string" ? v : JSON.stringify(v));
  }
  return { headers: {}, body: body };
}

function run(ev) {
  if (ev) ev.preventDefault();
  const g = state.graph;
  if (!g || state.running || state.recorder) return;
  clearError();
  const collected = collectInputs(g);
  if (collected.problems.length) {
    const ps = collected.problems;
    const message = ps.map((p) => p.message).join("; ");
    showError(new ApiError(message.charAt(0).toUpperCase() + message.slice(1) + ".", { port: ps[0].port }),
      "Check the inputs");
    for (const p of ps) {
      const field = fieldFor(p.port);
      if (field) field.classList.add("has-error");
    }
    clearResults(g, "Nothing was run: the inputs are incomplete.");
    return;
  }
  const req = runBody(collected);
  const token = ++state.runToken;
  state.running = true;
  updateRunButton();
  setBusy(true, "Running " + g.name + "…");
  const t0 = performance.now();
  requestJSON(graphPath(g.name, "/run"), { method: "POST", headers: req.headers, body: req.body })
    .then((result) => {
      if (token !== state.runToken) return;
      result = result || {};
      const wall = (performance.now() - t0) / 1000;
      showResults(g, result, wall);
      renderTimings(result.timings_ms || null);
      loadDiagram(g.name, result.timings_ms || null);
      setBusy(false, "Done in " + fmtSeconds(typeof result.seconds === "number" ? result.seconds : wall) + ".");
    })
    .catch((err) => {
      if (token !== state.runToken) return;
      setBusy(false, "Failed.");
      clearResults(g, "No results: the run failed (see the error).");
      if (err.status === 401) state.retry = run;
      showError(err, "The run failed");
    })
    .then(() => {
      if (token !== state.runToken) return;
      state.running = false;
      updateRunButton();
    });
}

/* A failed run leaves no outputs or timings of an earlier run beside its error: they would read as
 * its own. */
function clearResults(g, why) {
  resetOutputs(why);
  renderTimings(null);
  dropDiagramTimings(g.name);
}

// ------------------------------------------------------------------ start

function init() {
  initKeyForm(() => {
    clearError();
    const again = state.retry;
    state.retry = null;
    if (again) again();
  });
  $("graph-select").addEventListener("change", (ev) => chooseGraph(ev.target.value));
  $("description-more").addEventListener("click", toggleDescription);
  initDiagramFit();
  $("run-form").addEventListener("submit", run);
  // Ctrl/Cmd+Enter in a text field runs the graph
  $("inputs").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) run(ev);
  });
  window.addEventListener("hashchange", () => {
    const name = graphFromHash();
    if (name && state.graph && name !== state.graph.name && findGraph(name)) {
      $("graph-select").value = name;
      chooseGraph(name);
    }
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(updateDiagramHint, 150);
  });
  renderTimings(null);
  loadGraphs();
}

// exposed for tests and the console
window.modulespackDemo = {
  encodeWav16: encodeWav16, parseWav: parseWav, fft: fft, fftTables: fftTables, state: state
};

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
