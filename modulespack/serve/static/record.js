/* Recording from the microphone: MediaRecorder, then the recording decoded by the browser and
 * encoded to mono 16-bit PCM WAV here (the server takes WAV). One recording at a time
 * (state.recorder); Run waits while it lasts. */
import { ApiError } from "./api.js";
import { messageOf } from "./format.js";
import { showError, clearError, updateRunButton } from "./status.js";
import { decodeWithBrowser, encodeWav16 } from "./wav.js";
import { state } from "./state.js";

export function recordingSupported() {
  return !!(window.isSecureContext !== false && navigator.mediaDevices && navigator.mediaDevices.getUserMedia
    && window.MediaRecorder && (window.AudioContext || window.webkitAudioContext));
}

export function recordingUnsupportedReason() {
  if (window.isSecureContext === false) {
    return "Recording needs a secure page (https, or http on localhost); upload a WAV file instead.";
  }
  return "This browser cannot record audio here; upload a WAV file instead.";
}

function stopTracks(stream) {
  stream.getTracks().forEach((t) => t.stop());
}

function showRecording(btn, on) {
  btn.classList.toggle("recording", on);
  btn.setAttribute("aria-pressed", on ? "true" : "false");
  btn.querySelector(".rec-label").textContent = on ? "Stop" : "Record";
}

/* Record input `port`: `btn` becomes Stop, `info` shows progress; when stopped, the recording as a
 * WAV Blob goes to onWav(blob, fileName). */
export function startRecording(port, btn, info, onWav) {
  if (state.recorder) stopRecording(false);
  clearError();
  info.textContent = "Asking for the microphone…";
  navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false } })
    .then((stream) => {
      let rec;
      try { rec = new MediaRecorder(stream); } catch (e) {
        stopTracks(stream);
        throw e;
      }
      const chunks = [];
      const started = performance.now();
      const ticker = setInterval(() => {
        info.textContent = "Recording… " + ((performance.now() - started) / 1000).toFixed(1) + " s — press Stop when done.";
      }, 200);
      state.recorder = { port: port, rec: rec, stream: stream, btn: btn, ticker: ticker, discard: false };
      showRecording(btn, true);
      updateRunButton();
      rec.addEventListener("dataavailable", (ev) => { if (ev.data && ev.data.size) chunks.push(ev.data); });
      rec.addEventListener("stop", () => {
        const r = state.recorder && state.recorder.rec === rec ? state.recorder : null;
        const discard = r ? r.discard : true;
        if (r) state.recorder = null;
        clearInterval(ticker);
        stopTracks(stream);
        showRecording(btn, false);
        updateRunButton();
        if (discard) return;
        info.textContent = "Converting the recording to WAV…";
        blobToWav(new Blob(chunks, { type: rec.mimeType || "audio/webm" })).then((wav) => {
          onWav(wav, "recording-" + port + ".wav");
        }).catch((err) => {
          info.textContent = "";
          showError(new ApiError("Could not convert the recording to WAV: " + messageOf(err), { port: port }),
            "Recording failed");
        });
      });
      rec.start(250);
    })
    .catch((err) => {
      info.textContent = "";
      const msg = err && err.name === "NotAllowedError"
        ? "Microphone access was refused. Allow it in the browser, or upload a WAV file."
        : err && err.name === "NotFoundError"
          ? "No microphone was found. Upload a WAV file instead."
          : "Could not start recording: " + messageOf(err);
      showError(new ApiError(msg, { port: port }), "Recording failed");
    });
}

/* Stop the recording in progress, if any; `discard` drops what was recorded. */
export function stopRecording(discard) {
  const r = state.recorder;
  if (!r) return;
  r.discard = !!discard;
  try {
    if (r.rec.state !== "inactive") r.rec.stop();
    else throw new Error("inactive");
  } catch (e) {
    clearInterval(r.ticker);
    stopTracks(r.stream);
    state.recorder = null;
    updateRunButton();
  }
}

/* A browser recording (webm/ogg/mp4) -> mono 16-bit PCM WAV at the recording's own sample rate. */
function blobToWav(blob) {
  return blob.arrayBuffer().then(decodeWithBrowser).then((d) => {
    if (!d.samples.length) throw new Error("the recording is empty");
    return new Blob([encodeWav16(d.samples, d.sr)], { type: "audio/wav" });
  });
}
