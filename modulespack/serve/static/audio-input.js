/* An audio input field: a WAV file or a recording, previewed with a player and its spectrogram.
 * The chosen audio is kept in state.audio[port] as {blob, name}. */
import { el, clear, fieldFor } from "./dom.js";
import { fmtBytes, messageOf } from "./format.js";
import { recordingSupported, recordingUnsupportedReason, startRecording, stopRecording } from "./record.js";
import { spectrogramFigure, drawSpectrogramFromWav } from "./spectrogram.js";
import { state } from "./state.js";

/* Forget the input previews (their blob: URLs), as when the form is rebuilt. */
export function resetAudioInputs() {
  Object.values(state.inputUrls).forEach((u) => URL.revokeObjectURL(u));
  state.inputUrls = {};
}

/* The field of audio input `port`; `head` is the label and hint of fieldHead(). */
export function audioField(port, id, head) {
  const file = el("input", {
    type: "file", id: id, name: port, accept: ".wav,audio/wav,audio/x-wav,audio/wave",
    "data-kind": "audio", "aria-describedby": head.hintId, class: "file-input"
  });
  const recBtn = el("button", { type: "button", class: "button record", "aria-pressed": "false" }, [
    el("span", { class: "rec-dot", "aria-hidden": "true" }), el("span", { class: "rec-label", text: "Record" })
  ]);
  recBtn.setAttribute("aria-label", "Record " + port + " from the microphone");
  const info = el("p", { class: "audio-info", "aria-live": "polite" });
  const preview = el("div", { class: "audio-preview" });
  const field = el("div", { class: "field field-audio", "data-port": port }, [
    head.label,
    el("div", { class: "audio-row" }, [file, el("span", { class: "or", text: "or" }), recBtn]),
    head.hint, info, preview
  ]);

  file.addEventListener("change", () => {
    const f = file.files && file.files[0];
    if (!f) { delete state.audio[port]; clear(preview); info.textContent = ""; return; }
    setAudioInput(port, f, f.name, info, preview);
  });

  if (!recordingSupported()) {
    recBtn.disabled = true;
    recBtn.title = recordingUnsupportedReason();
    recBtn.querySelector(".rec-label").textContent = "Record (unavailable)";
    info.textContent = recordingUnsupportedReason();
  }
  recBtn.addEventListener("click", () => {
    if (state.recorder && state.recorder.port === port) {
      stopRecording(false);
    } else {
      startRecording(port, recBtn, info, (wav, name) => {
        file.value = "";
        setAudioInput(port, wav, name, info, preview);
      });
    }
  });
  return field;
}

/* Use `blob` (a WAV called `name`) for audio input `port`, as if it had been chosen in its field
 * (an example's recording). */
export function useAudio(port, blob, name) {
  const field = fieldFor(port);
  if (!field) return;
  const file = field.querySelector("input[type=file]");
  if (file) file.value = "";
  setAudioInput(port, blob, name, field.querySelector(".audio-info"), field.querySelector(".audio-preview"));
}

/* Forget the audio of input `port` (the field shows nothing chosen). */
export function clearAudio(port) {
  if (!state.audio[port]) return;
  delete state.audio[port];
  if (state.inputUrls[port]) { URL.revokeObjectURL(state.inputUrls[port]); delete state.inputUrls[port]; }
  const field = fieldFor(port);
  if (!field) return;
  const file = field.querySelector("input[type=file]");
  if (file) file.value = "";
  clear(field.querySelector(".audio-preview"));
  field.querySelector(".audio-info").textContent = "";
}

function setAudioInput(port, blob, name, info, preview) {
  state.audio[port] = { blob: blob, name: name };
  const field = fieldFor(port);
  if (field) field.classList.remove("has-error");
  if (state.inputUrls[port]) URL.revokeObjectURL(state.inputUrls[port]);
  const url = URL.createObjectURL(blob);
  state.inputUrls[port] = url;
  clear(preview);
  const audio = el("audio", { controls: true, src: url, class: "input-audio", preload: "metadata" });
  audio.setAttribute("aria-label", "Input " + port);
  const spec = spectrogramFigure("Spectrogram of input " + port);
  preview.appendChild(audio);
  preview.appendChild(spec.wrap);
  preview.appendChild(spec.caption);
  info.textContent = name + " · " + fmtBytes(blob.size);
  blob.arrayBuffer().then((buf) => drawSpectrogramFromWav(buf, spec.canvas, spec.caption)).then((meta) => {
    if (meta) info.textContent = name + " · " + meta.seconds.toFixed(2) + " s at " + meta.sr + " Hz"
      + (meta.channels > 1 ? " (" + meta.channels + " channels, shown mixed)" : "");
  }).catch((err) => {
    if (state.inputUrls[port] !== url) return;      // replaced meanwhile
    clear(preview);
    preview.appendChild(el("p", { class: "warning", text: "This browser cannot read " + name + " as audio ("
      + messageOf(err) + "). Is it a WAV file? The server will say when you run." }));
  });
}
