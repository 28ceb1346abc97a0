/* The Inputs form: one field per input port, by its kind (audio, text, number, integer, boolean,
 * array, any), and reading it back into the values of a run. */
import { $, el, placeholder, slug } from "./dom.js";
import { kindOf, portText, valueText } from "./format.js";
import { audioField, resetAudioInputs } from "./audio-input.js";
import { state } from "./state.js";

const inputId = (port) => "in-" + slug(port);

export function buildInputs(g) {
  const box = $("inputs");
  resetAudioInputs();
  const ports = Object.keys(g.inputs || {});
  if (!ports.length) {
    placeholder(box, "This graph takes no inputs.");
    return;
  }
  box.replaceChildren(...ports.map((port) => {
    const spec = g.inputs[port] || {};
    const kind = kindOf(spec);
    const head = fieldHead(port, spec, kind, inputId(port));
    return kind === "audio" ? audioField(port, inputId(port), head) : valueField(port, spec, kind, head);
  }));
}

function hasDefault(spec) {
  return spec["default"] !== undefined && spec["default"] !== null;
}

/* A field's label (port name, kind, "optional") and hint (doc · dtype and shape · default). */
function fieldHead(port, spec, kind, forId) {
  const hintId = "hint-" + slug(port);
  const label = el("label", { class: "field-label", for: forId }, [
    el("span", { text: port }),
    el("span", { class: "kind-badge", text: kind }),
    spec.required === false ? el("span", { class: "optional", text: "optional" }) : null
  ]);
  const bits = [];
  if (spec.doc) bits.push(spec.doc);
  const pt = portText(spec);
  if (pt) bits.push(pt);
  if (spec.required === false && hasDefault(spec)) {
    bits.push("default " + (typeof spec["default"] === "string" ? "“" + spec["default"] + "”" : JSON.stringify(spec["default"])));
  }
  const hint = bits.length ? el("p", { class: "hint", id: hintId, text: bits.join(" · ") }) : null;
  return { label: label, hint: hint, hintId: hint ? hintId : null };
}

function valueField(port, spec, kind, head) {
  const common = { id: inputId(port), name: port, "data-kind": kind, "aria-describedby": head.hintId,
    "aria-required": spec.required === true ? "true" : null };
  const def = spec["default"];
  let control;
  if (kind === "boolean") {
    control = el("input", Object.assign({ type: "checkbox" }, common));
    control.checked = !!def;
    return el("div", { class: "field field-boolean", "data-port": port }, [
      el("div", { class: "check-row" }, [control, head.label]), head.hint
    ]);
  }
  if (kind === "text" && typeof def === "string" && def.length < 40 && !def.includes("\n")) {
    // an option with a short default (a voice name, a language): one line is enough
    control = el("input", Object.assign({ type: "text", spellcheck: "false", autocomplete: "off" }, common));
  } else if (kind === "text") {
    control = el("textarea", Object.assign({ rows: 3, placeholder: "Type some text…" }, common));
  } else if (kind === "number" || kind === "integer") {
    control = el("input", Object.assign({
      type: "number", inputmode: kind === "integer" ? "numeric" : "decimal",
      step: kind === "integer" ? "1" : "any", placeholder: kind === "integer" ? "a whole number" : "a number"
    }, common));
  } else {
    control = el("textarea", Object.assign({
      rows: 3, class: "mono", spellcheck: "false",
      placeholder: kind === "array" ? "JSON, e.g. [1, 2, 3] or [[0.1, 0.2], [0.3, 0.4]]" : "JSON value or plain text"
    }, common));
  }
  if (hasDefault(spec)) control.value = valueText(def);
  return el("div", { class: "field", "data-port": port }, [head.label, control, head.hint]);
}

/* Set the value fields of graph `g` to `values` (port -> JSON value, as in a run request); the
 * fields not in it go back to their defaults. Audio inputs are left to the caller. */
export function fillValues(g, values) {
  for (const port of Object.keys(g.inputs || {})) {
    const spec = g.inputs[port] || {};
    const control = document.getElementById(inputId(port));
    if (!control || kindOf(spec) === "audio") continue;
    const given = Object.prototype.hasOwnProperty.call(values, port);
    const v = given ? values[port] : (hasDefault(spec) ? spec["default"] : null);
    if (control.type === "checkbox") control.checked = !!v;
    else control.value = v === null || v === undefined ? "" : valueText(v);
    const field = control.closest(".field");
    if (field) field.classList.remove("has-error");
  }
}

/* What a required input left empty needs, in the words of the field (never the hidden rate input
 * the server fills from a WAV). */
function missingMessage(port, kind) {
  if (kind === "audio") return "upload a WAV for '" + port + "' (or record one)";
  if (kind === "text") return "type some text for '" + port + "'";
  if (kind === "number" || kind === "integer") return "enter a number for '" + port + "'";
  return "enter a value for '" + port + "'";
}

/* The form's values for a run of graph `g`: {values: port -> JSON value, files: port -> {blob, name},
 * problems: [{port, message}]}. Optional fields left empty are left out (their defaults apply); a
 * required one left empty is a problem, found here before anything is sent. */
export function collectInputs(g) {
  const values = {}, files = {}, problems = [];
  for (const port of Object.keys(g.inputs || {})) {
    const spec = g.inputs[port] || {};
    const kind = kindOf(spec);
    const required = spec.required !== false;
    const missing = () => { if (required) problems.push({ port: port, message: missingMessage(port, kind) }); };
    if (kind === "audio") {
      if (state.audio[port]) files[port] = state.audio[port];
      else missing();
      continue;
    }
    const control = document.getElementById(inputId(port));
    if (!control) continue;
    if (kind === "boolean") { values[port] = control.checked; continue; }
    const raw = control.value;
    if (kind === "text") { if (raw !== "") values[port] = raw; else missing(); continue; }
    if (raw.trim() === "") { missing(); continue; }
    if (kind === "number" || kind === "integer") {
      const x = Number(raw);
      if (!isFinite(x)) problems.push({ port: port, message: "“" + raw + "” is not a number." });
      else if (kind === "integer" && !Number.isInteger(x)) problems.push({ port: port, message: "“" + raw + "” is not a whole number." });
      else values[port] = x;
    } else if (kind === "array") {
      try { values[port] = JSON.parse(raw); } catch (e) {
        problems.push({ port: port, message: "Not valid JSON: " + e.message });
      }
    } else {
      try { values[port] = JSON.parse(raw); } catch (e) { values[port] = raw; }   // "any": JSON if it parses
    }
  }
  return { values: values, files: files, problems: problems };
}
