/* The Graph panel: the server's SVG diagram of the chosen graph (with a run's timings in its labels)
 * and the per-node timings table under it. */
import { $, el, clear, placeholder } from "./dom.js";
import { fmtMs, messageOf } from "./format.js";
import { ApiError, request, graphPath } from "./api.js";
import { showKeyForm } from "./apikey.js";
import { state } from "./state.js";

let diagramToken = 0;
let latestHasTimings = false;   // the diagram shown, or on its way, carries a run's timings

export function showDiagramLoading() {
  placeholder($("diagram"), "Loading the diagram…");
}

/* Fetch and show the diagram of graph `name`; `timings` (node -> ms) puts them in its labels. Only the
 * latest call's answer is shown. */
export function loadDiagram(name, timings) {
  const box = $("diagram");
  const token = ++diagramToken;
  latestHasTimings = !!timings;
  const q = timings ? "?timings=" + encodeURIComponent(JSON.stringify(timings)) : "";
  request(graphPath(name, "/diagram" + q)).then((resp) => resp.text()).then((text) => {
    if (token !== diagramToken) return;
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const svg = doc.documentElement;
    if (!svg || svg.nodeName.toLowerCase() !== "svg" || doc.getElementsByTagName("parsererror").length) {
      throw new ApiError("The diagram is not SVG.");
    }
    svg.querySelectorAll("script, foreignObject").forEach((s) => s.remove());
    const w = parseFloat(svg.getAttribute("width")), h = parseFloat(svg.getAttribute("height"));
    if (!svg.getAttribute("viewBox") && w && h) svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    if (w) {  // its natural width: the CSS keeps it between .7 of that and that (see .diagram svg)
      const px = /pt$/.test(svg.getAttribute("width")) ? w * 4 / 3 : w;
      svg.style.setProperty("--native-w", px + "px");
    }
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Diagram of graph " + name + (timings ? " with per-node timings" : ""));
    clear(box);
    box.appendChild(document.importNode(svg, true));
    box.classList.toggle("with-timings", !!timings);
    updateDiagramHint();
  }).catch((err) => {
    if (token !== diagramToken) return;
    clear(box);
    box.appendChild(el("p", { class: "error-inline" }, [
      el("strong", { text: "Diagram unavailable: " }), messageOf(err)
    ]));
    if (err && err.status === 401) {
      state.retry = () => loadDiagram(name, timings);
      showKeyForm(false);
    }
  });
}

/* Show graph `name`'s diagram without run timings, if it has some now. */
export function dropDiagramTimings(name) {
  if (latestHasTimings) loadDiagram(name, null);
}

/* A big diagram keeps readable labels and scrolls; "Fit to width" shrinks it to see it whole. The
 * hint and its button show when the diagram is wider than its box, or shrunk. */
export function updateDiagramHint() {
  const box = $("diagram");
  const fit = box.classList.contains("fit");
  $("diagram-hint").hidden = !(box.querySelector("svg") && (fit || box.scrollWidth > box.clientWidth + 2));
  $("diagram-hint-text").textContent = fit ? "Shrunk to fit: labels may be small."
    : "Scroll the diagram sideways to see all of it.";
  $("diagram-fit").textContent = fit ? "Readable size" : "Fit to width";
  $("diagram-fit").setAttribute("aria-pressed", String(fit));
}

export function initDiagramFit() {
  $("diagram-fit").addEventListener("click", () => {
    $("diagram").classList.toggle("fit");
    updateDiagramHint();
  });
}

/* The timings table: one row per node ("a > b" names are nested nodes, indented), a bar for its share
 * of the slowest, and the sum of the top-level nodes. null empties it. */
export function renderTimings(timings) {
  const table = $("timings");
  const tbody = table.tBodies[0], tfoot = table.tFoot;
  clear(tbody);
  clear(tfoot);
  const names = timings ? Object.keys(timings) : [];
  $("timings-empty").hidden = names.length > 0;
  table.hidden = names.length === 0;
  if (!names.length) return;
  let max = 0, total = 0;
  for (const n of names) {
    const ms = Number(timings[n]) || 0;
    if (ms > max) max = ms;
    if (!n.includes(" > ")) total += ms;     // nested nodes are inside their parent's time
  }
  for (const n of names) {
    const ms = Number(timings[n]) || 0;
    const path = n.split(" > ");
    const depth = path.length - 1;
    const pct = max > 0 ? Math.max(1, Math.round(ms / max * 100)) : 0;
    const nameCell = el("th", { scope: "row", class: "node-name" }, [
      el("span", { style: "padding-left:" + depth * 0.9 + "em", text: depth ? path[depth] : n, title: n })
    ]);
    tbody.appendChild(el("tr", { "data-node": n }, [
      nameCell,
      el("td", { class: "num", text: fmtMs(ms) }),
      el("td", { class: "bar-col" }, [el("span", { class: "bar", style: "width:" + pct + "%" })])
    ]));
  }
  tfoot.appendChild(el("tr", {}, [
    el("th", { scope: "row", text: "Sum of nodes" }),
    el("td", { class: "num", text: fmtMs(total) }),
    el("td", { class: "bar-col" })
  ]));
}
