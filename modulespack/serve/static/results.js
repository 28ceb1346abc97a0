/* The Outputs panel: one card per output port (audio with player, download and spectrogram;
 * text; numbers; arrays plotted; anything else as JSON). */
import { $, el, clear, placeholder, svgIcon } from "./dom.js";
import { fmtBytes, fmtNumber, fmtSeconds, formatValue, kindOf, messageOf } from "./format.js";
import { numericMatrix, stats, drawLine, drawHeatmap } from "./plots.js";
import { spectrogramFigure, drawSpectrogramFromWav } from "./spectrogram.js";
import { base64ToBytes } from "./wav.js";
import { state } from "./state.js";

const DOWNLOAD_ICON = "M12 3v11m0 0l-4.5-4.5M12 14l4.5-4.5M4.5 19.5h15";

function revokeOutputUrls() {
  state.objectUrls.forEach((u) => URL.revokeObjectURL(u));
  state.objectUrls = [];
}

export function resetOutputs(text) {
  revokeOutputUrls();
  placeholder($("outputs"), text || "Results appear here after a run.");
  $("run-summary").textContent = "";
}

function isAudioValue(v) {
  return v && typeof v === "object" && typeof v.wav_base64 === "string";
}

/* Show the answer of a run of graph `g`; `wall` is the time the request took, in seconds. */
export function showResults(g, result, wall) {
  revokeOutputUrls();
  const box = $("outputs");
  clear(box);
  const outputs = result.outputs || {};
  const names = Object.keys(outputs);
  if (!names.length) box.appendChild(el("p", { class: "placeholder", text: "The run returned no outputs." }));
  for (const name of names) {
    const value = outputs[name];
    const spec = (g.outputs || {})[name] || {};
    const kind = isAudioValue(value) ? "audio" : kindOf(spec);
    const card = el("article", { class: "output output-" + kind, "data-port": name }, [
      el("h3", { class: "output-name" }, [el("span", { text: name }), el("span", { class: "kind-badge", text: kind })])
    ]);
    if (spec.doc) card.appendChild(el("p", { class: "hint", text: spec.doc }));
    box.appendChild(card);
    if (kind === "audio" && isAudioValue(value)) renderAudioOutput(card, g.name + "-" + name + ".wav", name, value);
    else if (typeof value === "string") card.appendChild(el("p", { class: "output-text", text: value === "" ? "(empty text)" : value }));
    else if (Array.isArray(value)) renderArrayOutput(card, name, value);
    else if (typeof value === "number" || typeof value === "boolean" || value === null) {
      card.appendChild(el("p", { class: "output-scalar", text: formatValue(value) }));
    } else card.appendChild(el("pre", { class: "output-value", text: formatValue(value) }));
  }
  const onServer = typeof result.seconds === "number";
  $("run-summary").textContent = "Ran in " + fmtSeconds(onServer ? result.seconds : wall) + (onServer ? " on the server" : "");
}

function renderArrayOutput(card, name, value) {
  const m = numericMatrix(value);
  const text = formatValue(value);
  if (!m || m.data.length < 8) {
    card.appendChild(el("pre", { class: "output-value", text: text }));
    return;
  }
  const st = stats(m.data);
  const short = (x) => (isFinite(x) ? fmtNumber(Number(x.toPrecision(5))) : String(x));
  card.appendChild(el("p", { class: "array-stats", text: "shape [" + m.shape.join(" × ") + "] · min " + short(st.min)
    + " · max " + short(st.max) + " · mean " + short(st.mean) }));
  const matrix = m.cols > 1;
  const canvas = el("canvas", { class: "array-plot" + (matrix ? " heatmap" : ""), role: "img",
    "aria-label": (matrix ? "Heat map of output " : "Plot of output ") + name });
  card.appendChild(el("div", { class: "plot-wrap" + (matrix ? " dark" : "") }, [canvas]));
  if (matrix) {
    const caption = el("p", { class: "spec-caption" });
    card.appendChild(caption);
    drawHeatmap(m, canvas);
    caption.textContent = "x: first axis (" + m.rows + "), y: second axis (" + m.cols + ", 0 at the bottom); "
      + (canvas.dataset.scale === "per-dimension"
        ? "each dimension coloured by its own mean ± 3 standard deviations"
        : "colour from the 1st to the 99th percentile");
  } else {
    requestAnimationFrame(() => drawLine(m.data, st, canvas));   // once laid out: it fills its width
  }
  card.appendChild(el("details", { class: "array-values" }, [
    el("summary", { text: "Values" }),
    el("pre", { class: "output-value", text: text })
  ]));
}

function renderAudioOutput(card, fileName, name, value) {
  let bytes;
  try { bytes = base64ToBytes(value.wav_base64); } catch (e) {
    card.appendChild(el("p", { class: "error-inline", text: "The audio could not be decoded: " + e.message }));
    return;
  }
  const url = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
  state.objectUrls.push(url);
  const audio = el("audio", { controls: true, class: "output-audio", src: url, preload: "auto" });
  audio.setAttribute("aria-label", "Output " + name);
  const meta = [];
  if (typeof value.seconds === "number") meta.push(value.seconds.toFixed(2) + " s");
  if (value.sr) meta.push(value.sr + " Hz");
  meta.push(fmtBytes(bytes.length));
  const spec = spectrogramFigure("Spectrogram of output " + name);
  card.appendChild(audio);
  card.appendChild(el("div", { class: "audio-meta" }, [
    el("span", { text: meta.join(" · ") }),
    el("a", { class: "download", href: url, download: fileName }, [
      svgIcon(DOWNLOAD_ICON), el("span", { text: "Download WAV" })
    ])
  ]));
  card.appendChild(spec.wrap);
  card.appendChild(spec.caption);
  drawSpectrogramFromWav(bytes.buffer, spec.canvas, spec.caption).catch((err) => {
    spec.caption.textContent = "Could not draw a spectrogram: " + messageOf(err);
  });
}
