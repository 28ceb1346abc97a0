/* modulespack demo page.
 *
 * Plain JavaScript, no libraries, no build step (the machines it runs on are offline).
 * Talks to the API next to it:
 *   GET  graphs                      -> [{name, description, inputs: {port: {dtype, shape, doc, kind}}, outputs}]
 *   GET  graphs/{name}/diagram       -> SVG, `?timings=<JSON node->ms>` puts timings in the labels
 *   POST graphs/{name}/run           -> {outputs, timings_ms, seconds} or {error, port?, node?}
 * Audio inputs are WAV uploads (a file, or a recording encoded to 16-bit PCM WAV here); audio outputs
 * come back as {wav_base64, sr, seconds}. A 401 shows the API key field; the key is kept in
 * sessionStorage and sent as X-API-Key.
 */
(function () {
  "use strict";

  var KEY_STORE = "modulespack.apiKey";
  var KNOWN_KINDS = ["audio", "text", "number", "integer", "boolean", "array", "any"];

  var state = {
    graphs: [],
    graph: null,            // the chosen graph's listing
    audio: {},              // port -> {blob, name}
    running: false,
    runToken: 0,
    objectUrls: [],         // blob: URLs of the current outputs, revoked on the next run
    inputUrls: {},          // port -> blob: URL of the input preview
    retry: null,            // what to do again once an API key has been given
    recorder: null          // the recording in progress, if any
  };

  var $ = function (id) { return document.getElementById(id); };

  // ------------------------------------------------------------------ small helpers

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") node.textContent = v;
        else if (k === "class") node.className = v;
        else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
        else if (v === true) node.setAttribute(k, "");
        else node.setAttribute(k, String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function slug(text) { return String(text).replace(/[^A-Za-z0-9_-]+/g, "-"); }

  function fmtMs(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return String(ms);
    if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
    if (ms >= 100) return ms.toFixed(0) + " ms";
    if (ms >= 10) return ms.toFixed(1) + " ms";
    return ms.toFixed(2) + " ms";
  }

  function fmtSeconds(s) {
    if (typeof s !== "number" || !isFinite(s)) return "";
    return s < 10 ? s.toFixed(2) + " s" : s.toFixed(1) + " s";
  }

  function fmtBytes(n) {
    if (n < 1024) return n + " bytes";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(1) + " MiB";
  }

  function fmtNumber(x) {
    if (typeof x !== "number") return String(x);
    if (Number.isInteger(x)) return String(x);
    var a = Math.abs(x);
    if (a !== 0 && (a < 1e-4 || a >= 1e7)) return x.toExponential(6);
    return String(Number(x.toPrecision(10)));
  }

  function kindOf(spec) {
    var k = spec && spec.kind;
    return KNOWN_KINDS.indexOf(k) >= 0 ? k : "any";
  }

  function portText(spec) {
    if (!spec) return "";
    var parts = [];
    if (spec.dtype && spec.dtype !== "any") parts.push(spec.dtype);
    if (Array.isArray(spec.shape) && spec.shape.length) {
      parts.push("[" + spec.shape.map(function (d) { return d === null ? "*" : d; }).join(", ") + "]");
    }
    return parts.join(" ");
  }

  // ------------------------------------------------------------------ API

  function ApiError(message, info) {
    this.name = "ApiError";
    this.message = message;
    info = info || {};
    this.status = info.status || 0;
    this.port = info.port;
    this.node = info.node;
    this.detail = info.detail;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function apiKey() {
    try { return sessionStorage.getItem(KEY_STORE) || ""; } catch (e) { return ""; }
  }

  function errorFromBody(status, body, text) {
    if (body && typeof body === "object") {
      var msg = body.error;
      // FastAPI's own errors come as {"detail": "..."} or {"detail": [{loc, msg}, ...]}
      if (!msg && body.detail !== undefined) {
        if (typeof body.detail === "string") msg = body.detail;
        else if (Array.isArray(body.detail)) {
          msg = body.detail.map(function (d) {
            var loc = Array.isArray(d.loc) ? d.loc.join(".") + ": " : "";
            return loc + (d.msg || JSON.stringify(d));
          }).join("; ");
        } else msg = JSON.stringify(body.detail);
      }
      if (typeof msg === "object") msg = JSON.stringify(msg);
      return new ApiError(msg || ("HTTP " + status), {
        status: status, port: body.port, node: body.node,
        detail: body.traceback || body.details || body.type
      });
    }
    var excerpt = (text || "").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim().slice(0, 300);
    return new ApiError("HTTP " + status + (excerpt ? ": " + excerpt : ""), { status: status });
  }

  /* fetch with the API key; resolves to the Response when it is ok, rejects with an ApiError. */
  function request(path, options) {
    options = options || {};
    var headers = new Headers(options.headers || {});
    var key = apiKey();
    if (key) headers.set("X-API-Key", key);
    var init = { method: options.method || "GET", headers: headers, body: options.body, signal: options.signal };
    return fetch(path, init).then(function (resp) {
      if (resp.ok) return resp;
      return resp.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (e) { /* not JSON */ }
        var err = errorFromBody(resp.status, body, text);
        if (resp.status === 401) {
          err.message = key
            ? "The API key was not accepted (" + err.message + "). Check it and try again."
            : "This server needs an API key. Enter it above, then try again.";
        }
        throw err;
      });
    }, function (netErr) {
      if (netErr && netErr.name === "AbortError") throw netErr;
      throw new ApiError("Could not reach the server: " + (netErr && netErr.message ? netErr.message : netErr));
    });
  }

  function requestJSON(path, options) {
    return request(path, options).then(function (resp) {
      return resp.text().then(function (text) {
        try { return JSON.parse(text); } catch (e) {
          throw new ApiError("The server's answer is not JSON: " + text.slice(0, 200));
        }
      });
    });
  }

  function graphPath(name, tail) {
    var g = null;
    state.graphs.forEach(function (x) { if (x.name === name) g = x; });
    if (g && tail === "/run" && typeof g.run === "string") return g.run;
    if (g && tail.indexOf("/diagram") === 0 && typeof g.diagram === "string") return g.diagram + tail.slice(8);
    return "graphs/" + encodeURIComponent(name) + tail;
  }

  // ------------------------------------------------------------------ errors and status

  function showError(err, context, retry) {
    if (err && err.name === "AbortError") return;
    var box = $("error");
    clear(box);
    var title = context || "Something went wrong";
    box.appendChild(el("p", { class: "error-title" }, [
      el("strong", { text: title }),
      err && err.status ? el("span", { class: "error-status", text: " (HTTP " + err.status + ")" }) : null
    ]));
    box.appendChild(el("p", { class: "error-message", text: (err && err.message) || String(err) }));
    var facts = [];
    if (err && err.port) facts.push(["Port", err.port]);
    if (err && err.node) facts.push(["Node", err.node]);
    if (facts.length) {
      var dl = el("dl", { class: "error-facts" });
      facts.forEach(function (f) {
        dl.appendChild(el("dt", { text: f[0] }));
        dl.appendChild(el("dd", {}, [el("code", { text: String(f[1]) })]));
      });
      box.appendChild(dl);
    }
    if (err && err.detail && typeof err.detail === "string") {
      box.appendChild(el("details", {}, [el("summary", { text: "Details" }), el("pre", { text: err.detail })]));
    }
    if (retry && !(err && err.status === 401)) {
      box.appendChild(el("button", { type: "button", class: "button small", text: "Try again",
        onclick: function () { clearError(); retry(); } }));
    }
    box.hidden = false;
    if (err && err.port) {
      var field = document.querySelector('[data-port="' + CSS.escape(String(err.port)) + '"]');
      if (field) field.classList.add("has-error");
    }
    if (err && err.status === 401) showKeyForm(true);
  }

  function clearError() {
    var box = $("error");
    clear(box);
    box.hidden = true;
    Array.prototype.forEach.call(document.querySelectorAll(".has-error"), function (f) {
      f.classList.remove("has-error");
    });
  }

  var clockTimer = null;
  function setBusy(busy, text) {
    var status = $("status");
    status.classList.toggle("busy", !!busy);
    $("status-text").textContent = text || "";
    $("status-clock").textContent = "";
    if (clockTimer) { clearInterval(clockTimer); clockTimer = null; }
    if (busy) {
      var t0 = performance.now();
      clockTimer = setInterval(function () {
        $("status-clock").textContent = ((performance.now() - t0) / 1000).toFixed(1) + " s";
      }, 100);
    }
  }

  function updateRunButton() {
    var btn = $("run-button");
    btn.disabled = state.running || !state.graph || !!state.recorder;
    btn.setAttribute("aria-busy", state.running ? "true" : "false");
    btn.querySelector("span").textContent = state.running ? "Running…" : "Run";
  }

  // ------------------------------------------------------------------ API key

  function showKeyForm(focus) {
    var form = $("api-key-form");
    form.hidden = false;
    $("api-key").value = apiKey();
    if (focus) $("api-key").focus();
  }

  function initKeyForm() {
    if (apiKey()) showKeyForm(false);
    $("api-key-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var key = $("api-key").value.trim();
      try {
        if (key) sessionStorage.setItem(KEY_STORE, key);
        else sessionStorage.removeItem(KEY_STORE);
      } catch (e) { /* storage disabled: the key is lost on reload */ }
      clearError();
      var again = state.retry;
      state.retry = null;
      if (again) again();
    });
    $("api-key-forget").addEventListener("click", function () {
      try { sessionStorage.removeItem(KEY_STORE); } catch (e) { /* ignore */ }
      $("api-key").value = "";
    });
  }

  // ------------------------------------------------------------------ graphs

  function loadGraphs() {
    var select = $("graph-select");
    select.disabled = true;
    return requestJSON("graphs").then(function (list) {
      if (!Array.isArray(list)) list = (list && list.graphs) || [];
      state.graphs = list;
      clear(select);
      if (!list.length) {
        select.appendChild(el("option", { value: "", text: "No graphs are served" }));
        $("graph-description").textContent = "The server has no graphs to offer.";
        return;
      }
      list.forEach(function (g) {
        select.appendChild(el("option", { value: g.name, text: g.name, title: g.description || null }));
      });
      select.disabled = false;
      var wanted = decodeURIComponent((location.hash.match(/graph=([^&]+)/) || [])[1] || "");
      var chosen = list.some(function (g) { return g.name === wanted; }) ? wanted : list[0].name;
      select.value = chosen;
      chooseGraph(chosen);
    }).catch(function (err) {
      clear(select);
      select.appendChild(el("option", { value: "", text: "Could not load graphs" }));
      if (err.status === 401) state.retry = loadGraphs;
      showError(err, "Could not load the list of graphs", loadGraphs);
    });
  }

  function chooseGraph(name) {
    var g = null;
    state.graphs.forEach(function (x) { if (x.name === name) g = x; });
    stopRecording(true);
    state.graph = g;
    state.audio = {};
    state.runToken++;           // results of a run on the previous graph are dropped
    state.running = false;
    setBusy(false);
    clearError();
    resetOutputs();
    if (!g) { updateRunButton(); return; }
    if (history.replaceState) history.replaceState(null, "", "#graph=" + encodeURIComponent(g.name));
    setDescription(g.description || "");
    buildInputs(g);
    loadDiagram(g.name, null);
    updateRunButton();
  }

  function setDescription(text) {
    var p = $("graph-description"), more = $("description-more");
    p.textContent = text;
    p.classList.add("clamped");
    more.hidden = true;
    more.setAttribute("aria-expanded", "false");
    more.textContent = "Show more";
    requestAnimationFrame(function () { more.hidden = p.scrollHeight <= p.clientHeight + 2; });
  }

  // ------------------------------------------------------------------ inputs

  function buildInputs(g) {
    var box = $("inputs");
    clear(box);
    Object.keys(state.inputUrls).forEach(function (p) { URL.revokeObjectURL(state.inputUrls[p]); });
    state.inputUrls = {};
    var ports = Object.keys(g.inputs || {});
    if (!ports.length) {
      box.appendChild(el("p", { class: "placeholder", text: "This graph takes no inputs." }));
      return;
    }
    ports.forEach(function (port) {
      var spec = g.inputs[port] || {};
      var kind = kindOf(spec);
      box.appendChild(kind === "audio" ? audioField(port, spec) : valueField(port, spec, kind));
    });
  }

  function fieldHead(port, spec, kind, forId) {
    var hintId = "hint-" + slug(port);
    var label = el("label", { class: "field-label", for: forId }, [
      el("span", { text: port }),
      el("span", { class: "kind-badge", text: kind }),
      spec.required === false ? el("span", { class: "optional", text: "optional" }) : null
    ]);
    var bits = [];
    if (spec.doc) bits.push(spec.doc);
    var pt = portText(spec);
    if (pt) bits.push(pt);
    if (spec.required === false && spec["default"] !== undefined && spec["default"] !== null) {
      bits.push("default " + (typeof spec["default"] === "string" ? "“" + spec["default"] + "”" : JSON.stringify(spec["default"])));
    }
    var hint = bits.length ? el("p", { class: "hint", id: hintId, text: bits.join(" · ") }) : null;
    return { label: label, hint: hint, hintId: hint ? hintId : null };
  }

  function valueField(port, spec, kind) {
    var id = "in-" + slug(port);
    var head = fieldHead(port, spec, kind, id);
    var control;
    var common = { id: id, name: port, "data-kind": kind, "aria-describedby": head.hintId,
      "aria-required": spec.required === true ? "true" : null };
    var def = spec["default"];
    if (kind === "text" && typeof def === "string" && def.length < 40 && def.indexOf("\n") < 0) {
      // an option with a short default (a voice name, a language): one line is enough
      control = el("input", Object.assign({ type: "text", spellcheck: "false", autocomplete: "off" }, common));
    } else if (kind === "text") {
      control = el("textarea", Object.assign({ rows: 3, placeholder: "Type some text…" }, common));
    } else if (kind === "number" || kind === "integer") {
      control = el("input", Object.assign({
        type: "number", inputmode: kind === "integer" ? "numeric" : "decimal",
        step: kind === "integer" ? "1" : "any", placeholder: kind === "integer" ? "a whole number" : "a number"
      }, common));
    } else if (kind === "boolean") {
      control = el("input", Object.assign({ type: "checkbox" }, common));
      var wrap = el("div", { class: "field field-boolean", "data-port": port }, [
        el("div", { class: "check-row" }, [control, head.label]), head.hint
      ]);
      return wrap;
    } else {
      control = el("textarea", Object.assign({
        rows: 3, class: "mono", spellcheck: "false",
        placeholder: kind === "array" ? "JSON, e.g. [1, 2, 3] or [[0.1, 0.2], [0.3, 0.4]]" : "JSON value or plain text"
      }, common));
    }
    if (spec["default"] !== undefined && spec["default"] !== null) {
      if (kind === "boolean") control.checked = !!spec["default"];
      else control.value = typeof spec["default"] === "string" ? spec["default"] : JSON.stringify(spec["default"]);
    }
    return el("div", { class: "field", "data-port": port }, [head.label, control, head.hint]);
  }

  function audioField(port, spec) {
    var id = "in-" + slug(port);
    var head = fieldHead(port, spec, "audio", id);
    var file = el("input", {
      type: "file", id: id, name: port, accept: ".wav,audio/wav,audio/x-wav,audio/wave",
      "data-kind": "audio", "aria-describedby": head.hintId, class: "file-input"
    });
    var recBtn = el("button", { type: "button", class: "button record", "aria-pressed": "false" }, [
      el("span", { class: "rec-dot", "aria-hidden": "true" }), el("span", { class: "rec-label", text: "Record" })
    ]);
    recBtn.setAttribute("aria-label", "Record " + port + " from the microphone");
    var info = el("p", { class: "audio-info", "aria-live": "polite" });
    var preview = el("div", { class: "audio-preview" });
    var field = el("div", { class: "field field-audio", "data-port": port }, [
      head.label,
      el("div", { class: "audio-row" }, [file, el("span", { class: "or", text: "or" }), recBtn]),
      head.hint, info, preview
    ]);

    file.addEventListener("change", function () {
      var f = file.files && file.files[0];
      if (!f) { delete state.audio[port]; clear(preview); info.textContent = ""; return; }
      setAudioInput(port, f, f.name, info, preview);
    });

    if (!recordingSupported()) {
      recBtn.disabled = true;
      recBtn.title = recordingUnsupportedReason();
      recBtn.querySelector(".rec-label").textContent = "Record (unavailable)";
      info.textContent = recordingUnsupportedReason();
    }
    recBtn.addEventListener("click", function () {
      if (state.recorder && state.recorder.port === port) {
        stopRecording(false);
      } else {
        startRecording(port, recBtn, file, info, preview);
      }
    });
    return field;
  }

  function setAudioInput(port, blob, name, info, preview) {
    state.audio[port] = { blob: blob, name: name };
    var field = document.querySelector('[data-port="' + CSS.escape(port) + '"]');
    if (field) field.classList.remove("has-error");
    if (state.inputUrls[port]) URL.revokeObjectURL(state.inputUrls[port]);
    var url = URL.createObjectURL(blob);
    state.inputUrls[port] = url;
    clear(preview);
    var audio = el("audio", { controls: true, src: url, class: "input-audio", preload: "metadata" });
    audio.setAttribute("aria-label", "Input " + port);
    var canvas = el("canvas", { class: "spectrogram", role: "img", "aria-label": "Spectrogram of input " + port });
    var caption = el("p", { class: "spec-caption" });
    preview.appendChild(audio);
    preview.appendChild(el("div", { class: "spec-wrap" }, [canvas]));
    preview.appendChild(caption);
    info.textContent = name + " · " + fmtBytes(blob.size);
    blob.arrayBuffer().then(function (buf) {
      return drawSpectrogramFromWav(buf, canvas, caption);
    }).then(function (meta) {
      if (meta) info.textContent = name + " · " + meta.seconds.toFixed(2) + " s at " + meta.sr + " Hz"
        + (meta.channels > 1 ? " (" + meta.channels + " channels, shown mixed)" : "");
    }).catch(function (err) {
      if (state.inputUrls[port] !== url) return;      // replaced meanwhile
      clear(preview);
      preview.appendChild(el("p", { class: "warning", text: "This browser cannot read " + name + " as audio ("
        + (err && err.message ? err.message : err) + "). Is it a WAV file? The server will say when you run." }));
    });
  }

  // ------------------------------------------------------------------ recording

  function recordingSupported() {
    return !!(window.isSecureContext !== false && navigator.mediaDevices && navigator.mediaDevices.getUserMedia
      && window.MediaRecorder && (window.AudioContext || window.webkitAudioContext));
  }

  function recordingUnsupportedReason() {
    if (window.isSecureContext === false) {
      return "Recording needs a secure page (https, or http on localhost); upload a WAV file instead.";
    }
    return "This browser cannot record audio here; upload a WAV file instead.";
  }

  function startRecording(port, btn, fileInput, info, preview) {
    if (state.recorder) stopRecording(false);
    clearError();
    info.textContent = "Asking for the microphone…";
    navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false } })
      .then(function (stream) {
        var rec;
        try { rec = new MediaRecorder(stream); } catch (e) {
          stream.getTracks().forEach(function (t) { t.stop(); });
          throw e;
        }
        var chunks = [];
        var started = performance.now();
        var ticker = setInterval(function () {
          info.textContent = "Recording… " + ((performance.now() - started) / 1000).toFixed(1) + " s — press Stop when done.";
        }, 200);
        state.recorder = { port: port, rec: rec, stream: stream, btn: btn, ticker: ticker, discard: false };
        btn.classList.add("recording");
        btn.setAttribute("aria-pressed", "true");
        btn.querySelector(".rec-label").textContent = "Stop";
        updateRunButton();
        rec.addEventListener("dataavailable", function (ev) { if (ev.data && ev.data.size) chunks.push(ev.data); });
        rec.addEventListener("stop", function () {
          var r = state.recorder && state.recorder.rec === rec ? state.recorder : null;
          var discard = r ? r.discard : true;
          if (r) state.recorder = null;
          clearInterval(ticker);
          stream.getTracks().forEach(function (t) { t.stop(); });
          btn.classList.remove("recording");
          btn.setAttribute("aria-pressed", "false");
          btn.querySelector(".rec-label").textContent = "Record";
          updateRunButton();
          if (discard) return;
          info.textContent = "Converting the recording to WAV…";
          var blob = new Blob(chunks, { type: rec.mimeType || "audio/webm" });
          blobToWav(blob).then(function (wav) {
            fileInput.value = "";
            setAudioInput(port, wav, "recording-" + port + ".wav", info, preview);
          }).catch(function (err) {
            info.textContent = "";
            showError(new ApiError("Could not convert the recording to WAV: " + (err && err.message ? err.message : err),
              { port: port }), "Recording failed");
          });
        });
        rec.start(250);
      })
      .catch(function (err) {
        info.textContent = "";
        var msg = err && err.name === "NotAllowedError"
          ? "Microphone access was refused. Allow it in the browser, or upload a WAV file."
          : err && err.name === "NotFoundError"
            ? "No microphone was found. Upload a WAV file instead."
            : "Could not start recording: " + (err && err.message ? err.message : err);
        showError(new ApiError(msg, { port: port }), "Recording failed");
      });
  }

  function stopRecording(discard) {
    var r = state.recorder;
    if (!r) return;
    r.discard = !!discard;
    try {
      if (r.rec.state !== "inactive") r.rec.stop();
      else throw new Error("inactive");
    } catch (e) {
      clearInterval(r.ticker);
      r.stream.getTracks().forEach(function (t) { t.stop(); });
      state.recorder = null;
      updateRunButton();
    }
  }

  /* A browser recording (webm/ogg/mp4) -> mono 16-bit PCM WAV at the recording's own sample rate. */
  function blobToWav(blob) {
    return blob.arrayBuffer().then(function (buf) {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx();
      return decodeAudio(ctx, buf).then(function (audioBuffer) {
        if (ctx.close) ctx.close();
        var mono = mixDown(audioBuffer);
        if (!mono.length) throw new Error("the recording is empty");
        return new Blob([encodeWav16(mono, audioBuffer.sampleRate)], { type: "audio/wav" });
      }, function (err) {
        if (ctx.close) ctx.close();
        throw err;
      });
    });
  }

  function decodeAudio(ctx, buf) {
    return new Promise(function (resolve, reject) {
      // Safari only knows the callback form; the promise form is used where it exists.
      var p = ctx.decodeAudioData(buf.slice(0), resolve, function (e) {
        reject(e || new Error("the browser could not decode this audio"));
      });
      if (p && p.then) p.then(resolve, reject);
    });
  }

  function mixDown(audioBuffer) {
    var n = audioBuffer.length, ch = audioBuffer.numberOfChannels;
    if (ch === 1) return audioBuffer.getChannelData(0).slice(0);
    var out = new Float32Array(n);
    for (var c = 0; c < ch; c++) {
      var d = audioBuffer.getChannelData(c);
      for (var i = 0; i < n; i++) out[i] += d[i] / ch;
    }
    return out;
  }

  function writeAscii(view, offset, text) {
    for (var i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i));
  }

  /* RIFF/WAVE, PCM (format 1), one channel, 16 bits, little endian. */
  function encodeWav16(samples, sr) {
    var n = samples.length;
    var buf = new ArrayBuffer(44 + n * 2);
    var v = new DataView(buf);
    sr = Math.round(sr);
    writeAscii(v, 0, "RIFF");
    v.setUint32(4, 36 + n * 2, true);
    writeAscii(v, 8, "WAVE");
    writeAscii(v, 12, "fmt ");
    v.setUint32(16, 16, true);      // fmt chunk size
    v.setUint16(20, 1, true);       // PCM
    v.setUint16(22, 1, true);       // channels
    v.setUint32(24, sr, true);      // sample rate
    v.setUint32(28, sr * 2, true);  // byte rate
    v.setUint16(32, 2, true);       // block align
    v.setUint16(34, 16, true);      // bits per sample
    writeAscii(v, 36, "data");
    v.setUint32(40, n * 2, true);
    for (var i = 0, o = 44; i < n; i++, o += 2) {
      var s = samples[i];
      s = s > 1 ? 1 : s < -1 ? -1 : s;
      v.setInt16(o, s < 0 ? Math.round(s * 32768) : Math.round(s * 32767), true);
    }
    return buf;
  }

  // ------------------------------------------------------------------ WAV decoding

  /* Parse a WAV file (PCM 8/16/24/32-bit, float 32/64, WAVE_FORMAT_EXTENSIBLE) into mono float samples.
   * Returns null when the data is not a WAV this understands (the caller then tries decodeAudioData). */
  function parseWav(buf) {
    var v = new DataView(buf);
    if (buf.byteLength < 12) return null;
    var tag = function (o) { return String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2), v.getUint8(o + 3)); };
    if ((tag(0) !== "RIFF" && tag(0) !== "RF64") || tag(8) !== "WAVE") return null;
    var off = 12, fmt = null, dataOff = -1, dataLen = 0;
    while (off + 8 <= buf.byteLength) {
      var id = tag(off), size = v.getUint32(off + 4, true);
      var body = off + 8;
      if (id === "fmt ") {
        var format = v.getUint16(body, true);
        fmt = {
          format: format,
          channels: v.getUint16(body + 2, true),
          sr: v.getUint32(body + 4, true),
          bits: v.getUint16(body + 14, true)
        };
        if (format === 0xFFFE && size >= 26) fmt.format = v.getUint16(body + 24, true);
      } else if (id === "data") {
        dataOff = body;
        dataLen = Math.min(size, buf.byteLength - body);   // streamed WAVs may say 0xFFFFFFFF
        break;
      }
      off = body + size + (size & 1);
    }
    if (!fmt || dataOff < 0 || !fmt.channels || !fmt.sr) return null;
    var bytes = fmt.bits / 8, ch = fmt.channels;
    var frames = Math.floor(dataLen / (bytes * ch));
    var read;
    if (fmt.format === 1 && fmt.bits === 16) read = function (o) { return v.getInt16(o, true) / 32768; };
    else if (fmt.format === 1 && fmt.bits === 8) read = function (o) { return (v.getUint8(o) - 128) / 128; };
    else if (fmt.format === 1 && fmt.bits === 24) read = function (o) {
      var x = v.getUint8(o) | (v.getUint8(o + 1) << 8) | (v.getInt8(o + 2) << 16);
      return x / 8388608;
    };
    else if (fmt.format === 1 && fmt.bits === 32) read = function (o) { return v.getInt32(o, true) / 2147483648; };
    else if (fmt.format === 3 && fmt.bits === 32) read = function (o) { return v.getFloat32(o, true); };
    else if (fmt.format === 3 && fmt.bits === 64) read = function (o) { return v.getFloat64(o, true); };
    else return null;
    var out = new Float32Array(frames);
    for (var i = 0, o = dataOff; i < frames; i++) {
      var acc = 0;
      for (var c = 0; c < ch; c++, o += bytes) acc += read(o);
      out[i] = acc / ch;
    }
    return { samples: out, sr: fmt.sr, channels: ch };
  }

  function decodeForSpectrogram(buf) {
    var parsed = null;
    try { parsed = parseWav(buf); } catch (e) { parsed = null; }
    if (parsed) return Promise.resolve(parsed);
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return Promise.reject(new Error("this browser has no Web Audio"));
    var ctx = new Ctx();
    return decodeAudio(ctx, buf).then(function (ab) {
      if (ctx.close) ctx.close();
      return { samples: mixDown(ab), sr: ab.sampleRate, channels: ab.numberOfChannels };
    });
  }

  // ------------------------------------------------------------------ spectrogram

  var fftCache = {};
  function fftTables(n) {
    if (fftCache[n]) return fftCache[n];
    var bits = Math.round(Math.log2(n));
    var rev = new Uint32Array(n);
    for (var i = 0; i < n; i++) {
      var r = 0;
      for (var b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      rev[i] = r;
    }
    var cos = new Float64Array(n / 2), sin = new Float64Array(n / 2);
    for (var k = 0; k < n / 2; k++) {
      cos[k] = Math.cos(-2 * Math.PI * k / n);
      sin[k] = Math.sin(-2 * Math.PI * k / n);
    }
    var win = new Float64Array(n);   // periodic Hann
    for (var j = 0; j < n; j++) win[j] = 0.5 - 0.5 * Math.cos(2 * Math.PI * j / n);
    return (fftCache[n] = { rev: rev, cos: cos, sin: sin, win: win });
  }

  /* In-place iterative radix-2 FFT; n must be a power of two. */
  function fft(re, im, t) {
    var n = re.length, i, j, size, half, step, k, a, b, tr, ti, wr, wi;
    for (i = 0; i < n; i++) {
      j = t.rev[i];
      if (j > i) {
        tr = re[i]; re[i] = re[j]; re[j] = tr;
        ti = im[i]; im[i] = im[j]; im[j] = ti;
      }
    }
    for (size = 2; size <= n; size <<= 1) {
      half = size >> 1;
      step = n / size;
      for (i = 0; i < n; i += size) {
        for (k = 0; k < half; k++) {
          wr = t.cos[k * step]; wi = t.sin[k * step];
          a = i + k; b = a + half;
          tr = re[b] * wr - im[b] * wi;
          ti = re[b] * wi + im[b] * wr;
          re[b] = re[a] - tr; im[b] = im[a] - ti;
          re[a] += tr; im[a] += ti;
        }
      }
    }
  }

  // "inferno"-like colour map, 256 entries
  var COLORMAP = (function () {
    var stops = [[0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
      [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164]];
    var lut = new Uint8ClampedArray(256 * 3);
    for (var i = 0; i < 256; i++) {
      var x = i / 255 * (stops.length - 1), lo = Math.floor(x), hi = Math.min(lo + 1, stops.length - 1), f = x - lo;
      for (var c = 0; c < 3; c++) lut[i * 3 + c] = stops[lo][c] + (stops[hi][c] - stops[lo][c]) * f;
    }
    return lut;
  })();

  /* Log-magnitude STFT image of `samples` onto `canvas` (one column per frame, one row per bin). */
  function drawSpectrogram(samples, sr, canvas, caption) {
    var n = 256;
    while (n < 2048 && n < sr * 0.032) n <<= 1;        // ~32 ms windows: 512 points at 16 kHz
    var hop = n >> 2;
    var maxFrames = 1200;
    var frames = Math.max(1, Math.floor((samples.length - n) / hop) + 1);
    if (frames > maxFrames) { hop = Math.ceil((samples.length - n) / (maxFrames - 1)); frames = Math.floor((samples.length - n) / hop) + 1; }
    if (samples.length < n) frames = 1;
    var bins = n / 2;
    var t = fftTables(n);
    var db = new Float32Array(frames * bins);
    var re = new Float64Array(n), im = new Float64Array(n);
    var top = -Infinity;
    for (var f = 0; f < frames; f++) {
      var start = f * hop;
      for (var i = 0; i < n; i++) {
        var s = start + i < samples.length ? samples[start + i] : 0;
        re[i] = s * t.win[i];
        im[i] = 0;
      }
      fft(re, im, t);
      for (var k = 0; k < bins; k++) {
        var p = re[k] * re[k] + im[k] * im[k];
        var d = 10 * Math.log10(p + 1e-12);
        db[f * bins + k] = d;
        if (d > top) top = d;
      }
    }
    var range = 80, floor = top - range;
    canvas.width = frames;
    canvas.height = bins;
    var ctx = canvas.getContext("2d");
    var img = ctx.createImageData(frames, bins);
    var px = img.data;
    for (var fr = 0; fr < frames; fr++) {
      for (var b = 0; b < bins; b++) {
        var v = (db[fr * bins + b] - floor) / range;
        var ci = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
        var o = ((bins - 1 - b) * frames + fr) * 4;    // low frequencies at the bottom
        px[o] = COLORMAP[ci * 3];
        px[o + 1] = COLORMAP[ci * 3 + 1];
        px[o + 2] = COLORMAP[ci * 3 + 2];
        px[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    var seconds = samples.length / sr;
    if (caption) {
      caption.textContent = "0–" + (sr / 2000).toFixed(sr % 2000 ? 2 : 0) + " kHz · " + seconds.toFixed(2) + " s · "
        + n + "-point STFT, hop " + hop + ", 80 dB range";
    }
    canvas.dataset.frames = String(frames);
    canvas.dataset.bins = String(bins);
    canvas.setAttribute("aria-label", (canvas.getAttribute("aria-label") || "Spectrogram") + ": "
      + seconds.toFixed(2) + " s, 0 to " + Math.round(sr / 2) + " Hz");
    return { seconds: seconds, sr: sr };
  }

  function drawSpectrogramFromWav(buf, canvas, caption) {
    return decodeForSpectrogram(buf).then(function (d) {
      if (!d.samples.length) {
        if (caption) caption.textContent = "The audio is empty.";
        return { seconds: 0, sr: d.sr, channels: d.channels };
      }
      var meta = drawSpectrogram(d.samples, d.sr, canvas, caption);
      meta.channels = d.channels;
      return meta;
    });
  }

  // ------------------------------------------------------------------ running

  function collectInputs(g) {
    var values = {}, files = {}, problems = [];
    Object.keys(g.inputs || {}).forEach(function (port) {
      var spec = g.inputs[port] || {};
      var kind = kindOf(spec);
      if (kind === "audio") {
        if (state.audio[port]) files[port] = state.audio[port];
        return;
      }
      var control = document.getElementById("in-" + slug(port));
      if (!control) return;
      if (kind === "boolean") { values[port] = control.checked; return; }
      var raw = control.value;
      if (kind === "text") { if (raw !== "") values[port] = raw; return; }
      if (raw.trim() === "") return;                // left empty: the server reports it if it is needed
      if (kind === "number" || kind === "integer") {
        var x = Number(raw);
        if (!isFinite(x)) problems.push({ port: port, message: "“" + raw + "” is not a number." });
        else if (kind === "integer" && !Number.isInteger(x)) problems.push({ port: port, message: "“" + raw + "” is not a whole number." });
        else values[port] = x;
        return;
      }
      if (kind === "array") {
        try { values[port] = JSON.parse(raw); } catch (e) {
          problems.push({ port: port, message: "Not valid JSON: " + e.message });
        }
        return;
      }
      try { values[port] = JSON.parse(raw); } catch (e) { values[port] = raw; }   // "any": JSON if it parses
    });
    return { values: values, files: files, problems: problems };
  }

  function run(ev) {
    if (ev) ev.preventDefault();
    var g = state.graph;
    if (!g || state.running || state.recorder) return;
    clearError();
    var collected = collectInputs(g);
    if (collected.problems.length) {
      var p = collected.problems[0];
      showError(new ApiError(p.message, { port: p.port }), "Check the inputs");
      return;
    }
    var body, headers = {};
    var fileNames = Object.keys(collected.files);
    if (fileNames.length) {
      body = new FormData();
      fileNames.forEach(function (port) {
        body.append(port, collected.files[port].blob, collected.files[port].name);
      });
      Object.keys(collected.values).forEach(function (port) {
        var v = collected.values[port];
        body.append(port, typeof v === "string" ? v : JSON.stringify(v));
      });
    } else {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify({ inputs: collected.values });
    }
    var token = ++state.runToken;
    state.running = true;
    updateRunButton();
    setBusy(true, "Running " + g.name + "…");
    var t0 = performance.now();
    requestJSON(graphPath(g.name, "/run"), { method: "POST", headers: headers, body: body })
      .then(function (result) {
        if (token !== state.runToken) return;
        var wall = (performance.now() - t0) / 1000;
        showResults(g, result || {}, wall);
        setBusy(false, "Done in " + fmtSeconds(typeof result.seconds === "number" ? result.seconds : wall) + ".");
      })
      .catch(function (err) {
        if (token !== state.runToken) return;
        setBusy(false, "Failed.");
        if (err.status === 401) state.retry = run;
        showError(err, "The run failed");
      })
      .then(function () {
        if (token !== state.runToken) return;
        state.running = false;
        updateRunButton();
      });
  }

  // ------------------------------------------------------------------ results

  function resetOutputs() {
    state.objectUrls.forEach(function (u) { URL.revokeObjectURL(u); });
    state.objectUrls = [];
    var box = $("outputs");
    clear(box);
    box.appendChild(el("p", { class: "placeholder", text: "Results appear here after a run." }));
    $("run-summary").textContent = "";
    renderTimings(null);
    var d = $("diagram");
    clear(d);
    d.appendChild(el("p", { class: "placeholder", text: "Loading the diagram…" }));
  }

  function isAudioValue(v) {
    return v && typeof v === "object" && typeof v.wav_base64 === "string";
  }

  function base64ToBytes(b64) {
    var bin = atob(b64), n = bin.length, out = new Uint8Array(n);
    for (var i = 0; i < n; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function shapeOf(v) {
    var shape = [];
    while (Array.isArray(v)) { shape.push(v.length); v = v[0]; }
    return shape;
  }

  function formatValue(v) {
    if (typeof v === "number") return fmtNumber(v);
    if (typeof v === "string") return v;
    if (typeof v === "boolean" || v === null) return String(v);
    if (Array.isArray(v)) {
      var shape = shapeOf(v);
      var round = function (k, x) { return typeof x === "number" ? Number(fmtNumber(x)) : x; };
      var text = shape.length > 1 && v.length <= 50
        ? "[\n" + v.map(function (row) { return "  " + JSON.stringify(row, round); }).join(",\n") + "\n]"
        : JSON.stringify(v, round);
      if (text.length > 4000) text = text.slice(0, 4000) + " …";
      return (shape.length > 1 || v.length > 20 ? "shape [" + shape.join(" × ") + "]\n" : "") + text;
    }
    return JSON.stringify(v, null, 2);
  }

  function showResults(g, result, wall) {
    state.objectUrls.forEach(function (u) { URL.revokeObjectURL(u); });
    state.objectUrls = [];
    var box = $("outputs");
    clear(box);
    var outputs = result.outputs || {};
    var names = Object.keys(outputs);
    if (!names.length) box.appendChild(el("p", { class: "placeholder", text: "The run returned no outputs." }));
    names.forEach(function (name) {
      var value = outputs[name];
      var spec = (g.outputs || {})[name] || {};
      var kind = isAudioValue(value) ? "audio" : kindOf(spec);
      var card = el("article", { class: "output output-" + kind, "data-port": name }, [
        el("h3", { class: "output-name" }, [el("span", { text: name }), el("span", { class: "kind-badge", text: kind })])
      ]);
      if (spec.doc) card.appendChild(el("p", { class: "hint", text: spec.doc }));
      box.appendChild(card);
      if (kind === "audio" && isAudioValue(value)) renderAudioOutput(card, name, value);
      else if (typeof value === "string") card.appendChild(el("p", { class: "output-text", text: value === "" ? "(empty text)" : value }));
      else if (Array.isArray(value)) renderArrayOutput(card, name, value);
      else if (typeof value === "number" || typeof value === "boolean" || value === null) {
        card.appendChild(el("p", { class: "output-scalar", text: formatValue(value) }));
      }
      else card.appendChild(el("pre", { class: "output-value", text: formatValue(value) }));
    });
    var secs = typeof result.seconds === "number" ? result.seconds : wall;
    $("run-summary").textContent = "Ran in " + fmtSeconds(secs) + (typeof result.seconds === "number" ? " on the server" : "");
    renderTimings(result.timings_ms || null);
    loadDiagram(g.name, result.timings_ms || null);
  }

  /* A numeric matrix [rows][cols] as Float64Array + shape, or null when the value is not one. */
  function numericMatrix(v) {
    var shape = shapeOf(v);
    if (shape.length === 1) {
      for (var i = 0; i < v.length; i++) if (typeof v[i] !== "number") return null;
      return { data: Float64Array.from(v), rows: v.length, cols: 1, shape: shape };
    }
    if (shape.length !== 2) return null;
    var rows = shape[0], cols = shape[1];
    if (!rows || !cols) return null;
    var data = new Float64Array(rows * cols);
    for (var r = 0; r < rows; r++) {
      var row = v[r];
      if (!Array.isArray(row) || row.length !== cols) return null;
      for (var c = 0; c < cols; c++) {
        if (typeof row[c] !== "number") return null;
        data[r * cols + c] = row[c];
      }
    }
    return { data: data, rows: rows, cols: cols, shape: shape };
  }

  function stats(data) {
    var lo = Infinity, hi = -Infinity, sum = 0, n = 0;
    for (var i = 0; i < data.length; i++) {
      var x = data[i];
      if (!isFinite(x)) continue;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
      sum += x; n++;
    }
    return { min: lo, max: hi, mean: n ? sum / n : NaN, n: n };
  }

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name);
    return (v && v.trim()) || fallback;
  }

  function renderArrayOutput(card, name, value) {
    var m = numericMatrix(value);
    var text = formatValue(value);
    if (!m || m.data.length < 8) {
      card.appendChild(el("pre", { class: "output-value", text: text }));
      return;
    }
    var st = stats(m.data);
    var short = function (x) { return isFinite(x) ? fmtNumber(Number(x.toPrecision(5))) : String(x); };
    card.appendChild(el("p", { class: "array-stats", text: "shape [" + m.shape.join(" × ") + "] · min " + short(st.min)
      + " · max " + short(st.max) + " · mean " + short(st.mean) }));
    var canvas = el("canvas", { class: "array-plot" + (m.cols > 1 ? " heatmap" : ""), role: "img",
      "aria-label": (m.cols > 1 ? "Heat map of output " : "Plot of output ") + name });
    card.appendChild(el("div", { class: "plot-wrap" + (m.cols > 1 ? " dark" : "") }, [canvas]));
    if (m.cols > 1) {
      var caption = el("p", { class: "spec-caption" });
      card.appendChild(caption);
      drawHeatmap(m, st, canvas);
      caption.textContent = "x: first axis (" + m.rows + "), y: second axis (" + m.cols + ", 0 at the bottom); "
        + (canvas.dataset.scale === "per-dimension"
          ? "each dimension coloured by its own mean ± 3 standard deviations"
          : "colour from the 1st to the 99th percentile");
    } else {
      requestAnimationFrame(function () { drawLine(m.data, st, canvas); });
    }
    card.appendChild(el("details", { class: "array-values" }, [
      el("summary", { text: "Values" }),
      el("pre", { class: "output-value", text: text })
    ]));
  }

  function drawLine(data, st, canvas) {
    var dpr = window.devicePixelRatio || 1;
    var w = Math.max(200, canvas.clientWidth || 600), h = Math.max(60, canvas.clientHeight || 120);
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    var ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    var padL = 4, padR = 4, padT = 16, padB = 6;
    var lo = st.min, hi = st.max;
    if (!(hi > lo)) { hi = lo + 1; lo = lo - 1; }
    var n = data.length;
    var X = function (i) { return padL + (w - padL - padR) * (n > 1 ? i / (n - 1) : 0.5); };
    var Y = function (v) { return padT + (h - padT - padB) * (1 - (v - lo) / (hi - lo)); };
    ctx.strokeStyle = cssVar("--line", "#dde2ea");
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(padL, Y(lo) + .5); ctx.lineTo(w - padR, Y(lo) + .5);
    ctx.moveTo(padL, Y(hi) + .5); ctx.lineTo(w - padR, Y(hi) + .5);
    if (lo < 0 && hi > 0) { ctx.moveTo(padL, Y(0) + .5); ctx.lineTo(w - padR, Y(0) + .5); }
    ctx.stroke();
    ctx.strokeStyle = cssVar("--accent", "#2457c5");
    ctx.lineWidth = 1.5;
    ctx.lineJoin = "round";
    ctx.beginPath();
    var pen = false;
    // at most ~2 points per pixel column: min and max of each column's samples
    var cols = Math.min(n, Math.floor((w - padL - padR) * 2));
    for (var c = 0; c < cols; c++) {
      var a = Math.floor(c * n / cols), b = Math.max(a + 1, Math.floor((c + 1) * n / cols));
      var cmin = Infinity, cmax = -Infinity;
      for (var i = a; i < b; i++) { var v = data[i]; if (isFinite(v)) { if (v < cmin) cmin = v; if (v > cmax) cmax = v; } }
      if (cmin === Infinity) { pen = false; continue; }
      var x = X((a + b - 1) / 2);
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
    var rows = m.rows, cols = m.cols, d = m.data, c, r;
    var mean = new Float64Array(cols), sd = new Float64Array(cols), cnt = new Float64Array(cols);
    for (r = 0; r < rows; r++) for (c = 0; c < cols; c++) {
      var v = d[r * cols + c];
      if (isFinite(v)) { mean[c] += v; cnt[c]++; }
    }
    for (c = 0; c < cols; c++) mean[c] = cnt[c] ? mean[c] / cnt[c] : 0;
    for (r = 0; r < rows; r++) for (c = 0; c < cols; c++) {
      var e = d[r * cols + c] - mean[c];
      if (isFinite(e)) sd[c] += e * e;
    }
    for (c = 0; c < cols; c++) sd[c] = cnt[c] ? Math.sqrt(sd[c] / cnt[c]) : 0;
    var sorted = Array.from(sd).sort(function (a, b) { return a - b; });
    var median = sorted[sorted.length >> 1], top = sorted[sorted.length - 1];
    if (rows > 1 && median > 0 && top / median > 4) {
      return {
        perDim: true,
        value: function (v, col) { return sd[col] > 0 ? 0.5 + (v - mean[col]) / (6 * sd[col]) : 0.5; }
      };
    }
    var sample = [], step = Math.max(1, Math.floor(d.length / 20000));
    for (var i = 0; i < d.length; i += step) if (isFinite(d[i])) sample.push(d[i]);
    sample.sort(function (a, b) { return a - b; });
    var lo = sample.length ? sample[Math.floor(sample.length * 0.01)] : 0;
    var hi = sample.length ? sample[Math.min(sample.length - 1, Math.floor(sample.length * 0.99))] : 1;
    if (!(hi > lo)) { hi = lo + 1; }
    return { perDim: false, value: function (v) { return (v - lo) / (hi - lo); } };
  }

  function drawHeatmap(m, st, canvas) {
    var rows = m.rows, cols = m.cols;
    var step = Math.max(1, Math.ceil(rows / 1200));
    var width = Math.ceil(rows / step);
    canvas.width = width;
    canvas.height = cols;
    var ctx = canvas.getContext("2d");
    var img = ctx.createImageData(width, cols);
    var px = img.data, scale = heatmapScale(m);
    canvas.dataset.scale = scale.perDim ? "per-dimension" : "global";
    for (var x = 0; x < width; x++) {
      var r = x * step;
      for (var c = 0; c < cols; c++) {
        var v = m.data[r * cols + c];
        var ci = isFinite(v) ? Math.max(0, Math.min(255, Math.round(scale.value(v, c) * 255))) : 0;
        var o = ((cols - 1 - c) * width + x) * 4;
        px[o] = COLORMAP[ci * 3]; px[o + 1] = COLORMAP[ci * 3 + 1]; px[o + 2] = COLORMAP[ci * 3 + 2]; px[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  function renderAudioOutput(card, name, value) {
    var bytes;
    try { bytes = base64ToBytes(value.wav_base64); } catch (e) {
      card.appendChild(el("p", { class: "error-inline", text: "The audio could not be decoded: " + e.message }));
      return;
    }
    var blob = new Blob([bytes], { type: "audio/wav" });
    var url = URL.createObjectURL(blob);
    state.objectUrls.push(url);
    var fileName = (state.graph ? state.graph.name + "-" : "") + name + ".wav";
    var audio = el("audio", { controls: true, class: "output-audio", src: url, preload: "auto" });
    audio.setAttribute("aria-label", "Output " + name);
    var meta = [];
    if (typeof value.seconds === "number") meta.push(value.seconds.toFixed(2) + " s");
    if (value.sr) meta.push(value.sr + " Hz");
    meta.push(fmtBytes(bytes.length));
    var canvas = el("canvas", { class: "spectrogram", role: "img", "aria-label": "Spectrogram of output " + name });
    var caption = el("p", { class: "spec-caption" });
    card.appendChild(audio);
    card.appendChild(el("div", { class: "audio-meta" }, [
      el("span", { text: meta.join(" · ") }),
      el("a", { class: "download", href: url, download: fileName }, [
        svgIcon("M12 3v11m0 0l-4.5-4.5M12 14l4.5-4.5M4.5 19.5h15"), el("span", { text: "Download WAV" })
      ])
    ]));
    card.appendChild(el("div", { class: "spec-wrap" }, [canvas]));
    card.appendChild(caption);
    drawSpectrogramFromWav(bytes.buffer, canvas, caption).catch(function (err) {
      caption.textContent = "Could not draw a spectrogram: " + (err && err.message ? err.message : err);
    });
  }

  function svgIcon(d) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
    return svg;
  }

  function renderTimings(timings) {
    var table = $("timings");
    var tbody = table.tBodies[0], tfoot = table.tFoot;
    clear(tbody);
    clear(tfoot);
    var names = timings ? Object.keys(timings) : [];
    $("timings-empty").hidden = names.length > 0;
    table.hidden = names.length === 0;
    if (!names.length) return;
    var max = 0, total = 0;
    names.forEach(function (n) {
      var ms = Number(timings[n]) || 0;
      if (ms > max) max = ms;
      if (n.indexOf(" > ") < 0) total += ms;     // nested nodes are inside their parent's time
    });
    names.forEach(function (n) {
      var ms = Number(timings[n]) || 0;
      var depth = n.split(" > ").length - 1;
      var pct = max > 0 ? Math.max(1, Math.round(ms / max * 100)) : 0;
      var nameCell = el("th", { scope: "row", class: "node-name" }, [
        el("span", { style: "padding-left:" + depth * 0.9 + "em", text: depth ? n.split(" > ").pop() : n, title: n })
      ]);
      tbody.appendChild(el("tr", { "data-node": n }, [
        nameCell,
        el("td", { class: "num", text: fmtMs(ms) }),
        el("td", { class: "bar-col" }, [el("span", { class: "bar", style: "width:" + pct + "%" })])
      ]));
    });
    tfoot.appendChild(el("tr", {}, [
      el("th", { scope: "row", text: "Sum of nodes" }),
      el("td", { class: "num", text: fmtMs(total) }),
      el("td", { class: "bar-col" })
    ]));
  }

  // ------------------------------------------------------------------ diagram

  var diagramToken = 0;
  function loadDiagram(name, timings) {
    var box = $("diagram");
    var token = ++diagramToken;
    var q = timings ? "?timings=" + encodeURIComponent(JSON.stringify(timings)) : "";
    request(graphPath(name, "/diagram" + q)).then(function (resp) { return resp.text(); }).then(function (text) {
      if (token !== diagramToken) return;
      var doc = new DOMParser().parseFromString(text, "image/svg+xml");
      var svg = doc.documentElement;
      if (!svg || svg.nodeName.toLowerCase() !== "svg" || doc.getElementsByTagName("parsererror").length) {
        throw new ApiError("The diagram is not SVG.");
      }
      Array.prototype.forEach.call(svg.querySelectorAll("script, foreignObject"), function (s) { s.remove(); });
      var w = parseFloat(svg.getAttribute("width")), h = parseFloat(svg.getAttribute("height"));
      if (!svg.getAttribute("viewBox") && w && h) svg.setAttribute("viewBox", "0 0 " + w + " " + h);
      if (w) {
        var px = /pt$/.test(svg.getAttribute("width")) ? w * 4 / 3 : w;
        svg.style.maxWidth = px + "px";
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
    }).catch(function (err) {
      if (token !== diagramToken) return;
      clear(box);
      box.appendChild(el("p", { class: "error-inline" }, [
        el("strong", { text: "Diagram unavailable: " }), (err && err.message) || String(err)
      ]));
      if (err && err.status === 401) { state.retry = function () { loadDiagram(name, timings); }; showKeyForm(false); }
    });
  }

  function updateDiagramHint() {
    var box = $("diagram");
    $("diagram-hint").hidden = !(box.querySelector("svg") && box.scrollWidth > box.clientWidth + 2);
  }

  // ------------------------------------------------------------------ start

  function init() {
    initKeyForm();
    $("graph-select").addEventListener("change", function (ev) { chooseGraph(ev.target.value); });
    $("description-more").addEventListener("click", function () {
      var p = $("graph-description"), open = p.classList.toggle("clamped") === false;
      this.setAttribute("aria-expanded", open ? "true" : "false");
      this.textContent = open ? "Show less" : "Show more";
    });
    $("run-form").addEventListener("submit", run);
    // Ctrl/Cmd+Enter in a text field runs the graph
    $("inputs").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) run(ev);
    });
    window.addEventListener("hashchange", function () {
      var m = location.hash.match(/graph=([^&]+)/);
      var name = m ? decodeURIComponent(m[1]) : "";
      if (name && state.graph && name !== state.graph.name && state.graphs.some(function (g) { return g.name === name; })) {
        $("graph-select").value = name;
        chooseGraph(name);
      }
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
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
})();
