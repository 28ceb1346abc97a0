/* Spectrograms: a log-magnitude STFT of audio drawn on a canvas, with its caption. */
import { el } from "./dom.js";
import { fft, fftTables } from "./fft.js";
import { paint } from "./colormap.js";
import { decodeAudio } from "./wav.js";

const RANGE_DB = 80;
const MAX_FRAMES = 1200;

/* The canvas (in its scrolling wrapper) and caption of a spectrogram labelled `label`. */
export function spectrogramFigure(label) {
  const canvas = el("canvas", { class: "spectrogram", role: "img", "aria-label": label });
  return {
    canvas: canvas,
    wrap: el("div", { class: "spec-wrap" }, [canvas]),
    caption: el("p", { class: "spec-caption" })
  };
}

/* Log-magnitude STFT image of `samples` onto `canvas` (one column per frame, one row per bin). */
function drawSpectrogram(samples, sr, canvas, caption) {
  let n = 256;
  while (n < 2048 && n < sr * 0.032) n <<= 1;        // ~32 ms windows: 512 points at 16 kHz
  let hop = n >> 2;
  let frames = Math.max(1, Math.floor((samples.length - n) / hop) + 1);
  if (frames > MAX_FRAMES) {
    hop = Math.ceil((samples.length - n) / (MAX_FRAMES - 1));
    frames = Math.floor((samples.length - n) / hop) + 1;
  }
  if (samples.length < n) frames = 1;
  const bins = n / 2;
  const t = fftTables(n);
  const db = new Float32Array(frames * bins);
  const re = new Float64Array(n), im = new Float64Array(n);
  let top = -Infinity;
  for (let f = 0; f < frames; f++) {
    const start = f * hop;
    for (let i = 0; i < n; i++) {
      re[i] = (start + i < samples.length ? samples[start + i] : 0) * t.win[i];
      im[i] = 0;
    }
    fft(re, im, t);
    for (let k = 0; k < bins; k++) {
      const d = 10 * Math.log10(re[k] * re[k] + im[k] * im[k] + 1e-12);
      db[f * bins + k] = d;
      if (d > top) top = d;
    }
  }
  const floor = top - RANGE_DB;
  paint(canvas, frames, bins, (f, k) => (db[f * bins + k] - floor) / RANGE_DB);   // low frequencies at the bottom
  const seconds = samples.length / sr;
  if (caption) {
    caption.textContent = "0–" + (sr / 2000).toFixed(sr % 2000 ? 2 : 0) + " kHz · " + seconds.toFixed(2) + " s · "
      + n + "-point STFT, hop " + hop + ", " + RANGE_DB + " dB range";
  }
  canvas.dataset.frames = String(frames);
  canvas.dataset.bins = String(bins);
  canvas.setAttribute("aria-label", (canvas.getAttribute("aria-label") || "Spectrogram") + ": "
    + seconds.toFixed(2) + " s, 0 to " + Math.round(sr / 2) + " Hz");
  return { seconds: seconds, sr: sr };
}

/* Decode audio bytes (a WAV, or whatever the browser reads) and draw them: resolves to
 * {seconds, sr, channels}. */
export function drawSpectrogramFromWav(buf, canvas, caption) {
  return decodeAudio(buf).then((d) => {
    if (!d.samples.length) {
      if (caption) caption.textContent = "The audio is empty.";
      return { seconds: 0, sr: d.sr, channels: d.channels };
    }
    const meta = drawSpectrogram(d.samples, d.sr, canvas, caption);
    meta.channels = d.channels;
    return meta;
  });
}
