/* Turning values into text: durations, sizes, numbers, port specs, output values, errors. */

const KNOWN_KINDS = ["audio", "text", "number", "integer", "boolean", "array", "any"];

export function fmtMs(ms) {
  if (typeof ms !== "number" || !isFinite(ms)) return String(ms);
  if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
  if (ms >= 100) return ms.toFixed(0) + " ms";
  if (ms >= 10) return ms.toFixed(1) + " ms";
  return ms.toFixed(2) + " ms";
}

export function fmtSeconds(s) {
  if (typeof s !== "number" || !isFinite(s)) return "";
  return s < 10 ? s.toFixed(2) + " s" : s.toFixed(1) + " s";
}

export function fmtBytes(n) {
  if (n < 1024) return n + " bytes";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}

export function fmtNumber(x) {
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-4 || a >= 1e7)) return x.toExponential(6);
  return String(Number(x.toPrecision(10)));
}

/* An error's message, or the thing itself as text. */
export function messageOf(err) {
  return err && err.message ? err.message : String(err);
}

/* The form kind of a port spec; unknown kinds are "any". */
export function kindOf(spec) {
  const k = spec && spec.kind;
  return KNOWN_KINDS.includes(k) ? k : "any";
}

/* "float32 [*, 80]": a port's dtype and shape. */
export function portText(spec) {
  if (!spec) return "";
  const parts = [];
  if (spec.dtype && spec.dtype !== "any") parts.push(spec.dtype);
  if (Array.isArray(spec.shape) && spec.shape.length) {
    parts.push("[" + spec.shape.map((d) => (d === null ? "*" : d)).join(", ") + "]");
  }
  return parts.join(" ");
}

/* A default value as a form field holds it: strings as they are, anything else as JSON. */
export function valueText(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function shapeOf(v) {
  const shape = [];
  while (Array.isArray(v)) { shape.push(v.length); v = v[0]; }
  return shape;
}

export function formatValue(v) {
  if (typeof v === "number") return fmtNumber(v);
  if (typeof v === "string") return v;
  if (typeof v === "boolean" || v === null) return String(v);
  if (Array.isArray(v)) {
    const shape = shapeOf(v);
    const round = (k, x) => (typeof x === "number" ? Number(fmtNumber(x)) : x);
    let text = shape.length > 1 && v.length <= 50
      ? "[\n" + v.map((row) => "  " + JSON.stringify(row, round)).join(",\n") + "\n]"
      : JSON.stringify(v, round);
    if (text.length > 4000) text = text.slice(0, 4000) + " …";
    return (shape.length > 1 || v.length > 20 ? "shape [" + shape.join(" × ") + "]\n" : "") + text;
  }
  return JSON.stringify(v, null, 2);
}
