/* Numeric arrays as pictures: a line plot of a vector, a heat map of a matrix. */
import { cssVar } from "./dom.js";
import { fmtNumber, shapeOf } from "./format.js";
import { paint } from "./colormap.js";

/* A numeric vector or matrix [rows][cols] as {data: Float64Array, rows, cols, shape}, or null when
 * the value is not one. */
export function numericMatrix(v) {
  const shape = shapeOf(v);
  if (shape.length === 1) {
    if (!v.every((x) => typeof x === "number")) return null;
    return { data: Float64Array.from(v), rows: v.length, cols: 1, shape: shape };
  }
  if (shape.length !== 2) return null;
  const [rows, cols] = shape;
  if (!rows || !cols) return null;
  const data = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = v[r];
    if (!Array.isArray(row) || row.length !== cols) return null;
    for (let c = 0; c < cols; c++) {
      if (typeof row[c] !== "number") return null;
      data[r * cols + c] = row[c];
    }
  }
  return { data: data, rows: rows, cols: cols, shape: shape };
}

/* min, max and mean of the finite values, and how many there are. */
export function stats(data) {
  let lo = Infinity, hi = -Infinity, sum = 0, n = 0;
  for (const x of data) {
    if (!isFinite(x)) continue;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
    sum += x; n++;
  }
  return { min: lo, max: hi, mean: n ? sum / n : NaN, n: n };
}

/* `data` as a line across the canvas's CSS width (min and max of each pixel column's values). */
export function drawLine(data, st, canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(200, canvas.clientWidth || 600), h = Math.max(60, canvas.clientHeight || 120);
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  const padL = 4, padR = 4, padT = 16, padB = 6;
  let lo = st.min, hi = st.max;
  if (!(hi > lo)) { hi = lo + 1; lo = lo - 1; }
  const n = data.length;
  const X = (i) => padL + (w - padL - padR) * (n > 1 ? i / (n - 1) : 0.5);
  const Y = (v) => padT + (h - padT - padB) * (1 - (v - lo) / (hi - lo));
  const rule = (v) => { ctx.moveTo(padL, Y(v) + .5); ctx.lineTo(w - padR, Y(v) + .5); };
  ctx.strokeStyle = cssVar("--line", "#dde2ea");
  ctx.lineWidth = 1;
  ctx.beginPath();
  rule(lo);
  rule(hi);
  if (lo < 0 && hi > 0) rule(0);
  ctx.stroke();
  ctx.strokeStyle = cssVar("--accent", "#2457c5");
  ctx.lineWidth = 1.5;
  ctx.lineJoin = "round";
  ctx.beginPath();
  let pen = false;
  // at most ~2 points per pixel column: min and max of each column's samples
  const cols = Math.min(n, Math.floor((w - padL - padR) * 2));
  for (let c = 0; c < cols; c++) {
    const a = Math.floor(c * n / cols), b = Math.max(a + 1, Math.floor((c + 1) * n / cols));
    let cmin = Infinity, cmax = -Infinity;
    for (let i = a; i < b; i++) {
      const v = data[i];
      if (isFinite(v)) { if (v < cmin) cmin = v; if (v > cmax) cmax = v; }
    }
    if (cmin === Infinity) { pen = false; continue; }
    const x = X((a + b - 1) / 2);
    if (!pen) { ctx.moveTo(x, Y(cmin)); pen = true; } else ctx.lineTo(x, Y(cmin));
    if (cmax !== cmin) ctx.lineTo(x, Y(cmax));
  }
  ctx.stroke();
  ctx.fillStyle = cssVar("--muted", "#5b6577");
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "top";
  ctx.fillText(fmtNumber(Number(st.max.toPrecision(4))), padL, 1);
  ctx.textAlign = "right";
  ctx.fillText("min " + fmtNumber(Number(st.min.toPrecision(4))) + " · " + n + " values", w - padR, 1);
}

/* How to colour a matrix: one range for all (1st..99th percentile), or, when the dimensions have
 * very different spreads (cepstra: c0 against the rest), each dimension by its own mean and spread. */
function heatmapScale(m) {
  const { rows, cols, data: d } = m;
  const mean = new Float64Array(cols), sd = new Float64Array(cols), cnt = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const v = d[r * cols + c];
    if (isFinite(v)) { mean[c] += v; cnt[c]++; }
  }
  for (let c = 0; c < cols; c++) mean[c] = cnt[c] ? mean[c] / cnt[c] : 0;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const e = d[r * cols + c] - mean[c];
    if (isFinite(e)) sd[c] += e * e;
  }
  for (let c = 0; c < cols; c++) sd[c] = cnt[c] ? Math.sqrt(sd[c] / cnt[c]) : 0;
  const sorted = Array.from(sd).sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1], top = sorted[sorted.length - 1];
  if (rows > 1 && median > 0 && top / median > 4) {
    return { perDim: true, value: (v, col) => (sd[col] > 0 ? 0.5 + (v - mean[col]) / (6 * sd[col]) : 0.5) };
  }
  const sample = [], step = Math.max(1, Math.floor(d.length / 20000));
  for (let i = 0; i < d.length; i += step) if (isFinite(d[i])) sample.push(d[i]);
  sample.sort((a, b) => a - b);
  const lo = sample.length ? sample[Math.floor(sample.length * 0.01)] : 0;
  let hi = sample.length ? sample[Math.min(sample.length - 1, Math.floor(sample.length * 0.99))] : 1;
  if (!(hi > lo)) hi = lo + 1;
  return { perDim: false, value: (v) => (v - lo) / (hi - lo) };
}

/* The matrix as an image: x the first axis (at most 1200 columns), y the second, 0 at the bottom.
 * Sets canvas.dataset.scale to "per-dimension" or "global" (see heatmapScale). */
export function drawHeatmap(m, canvas) {
  const { rows, cols, data } = m;
  const step = Math.max(1, Math.ceil(rows / 1200));
  const scale = heatmapScale(m);
  canvas.dataset.scale = scale.perDim ? "per-dimension" : "global";
  paint(canvas, Math.ceil(rows / step), cols, (x, c) => {
    const v = data[x * step * cols + c];
    return isFinite(v) ? scale.value(v, c) : 0;
  });
}
