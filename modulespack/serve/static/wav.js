/* Audio bytes <-> samples: WAV parsing and 16-bit PCM WAV writing, base64, the browser's decoder. */

/* Parse a WAV file (PCM 8/16/24/32-bit, float 32/64, WAVE_FORMAT_EXTENSIBLE) into mono float samples:
 * {samples, sr, channels}. Returns null when the data is not a WAV this understands. */
export function parseWav(buf) {
  const v = new DataView(buf);
  if (buf.byteLength < 12) return null;
  const tag = (o) => String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2), v.getUint8(o + 3));
  if ((tag(0) !== "RIFF" && tag(0) !== "RF64") || tag(8) !== "WAVE") return null;
  let off = 12, fmt = null, dataOff = -1, dataLen = 0;
  while (off + 8 <= buf.byteLength) {
    const id = tag(off), size = v.getUint32(off + 4, true);
    const body = off + 8;
    if (id === "fmt ") {
      fmt = {
        format: v.getUint16(body, true),
        channels: v.getUint16(body + 2, true),
        sr: v.getUint32(body + 4, true),
        bits: v.getUint16(body + 14, true)
      };
      if (fmt.format === 0xFFFE && size >= 26) fmt.format = v.getUint16(body + 24, true);
    } else if (id === "data") {
      dataOff = body;
      dataLen = Math.min(size, buf.byteLength - body);   // streamed WAVs may say 0xFFFFFFFF
      break;
    }
    off = body + size + (size & 1);
  }
  if (!fmt || dataOff < 0 || !fmt.channels || !fmt.sr) return null;
  const read = sampleReader(v, fmt.format, fmt.bits);
  if (!read) return null;
  const bytes = fmt.bits / 8, ch = fmt.channels;
  const frames = Math.floor(dataLen / (bytes * ch));
  const out = new Float32Array(frames);
  for (let i = 0, o = dataOff; i < frames; i++) {
    let acc = 0;
    for (let c = 0; c < ch; c++, o += bytes) acc += read(o);
    out[i] = acc / ch;
  }
  return { samples: out, sr: fmt.sr, channels: ch };
}

/* offset -> sample in [-1, 1] for a WAV format code (1 PCM, 3 float) and sample size; null if unknown. */
function sampleReader(v, format, bits) {
  if (format === 1 && bits === 16) return (o) => v.getInt16(o, true) / 32768;
  if (format === 1 && bits === 8) return (o) => (v.getUint8(o) - 128) / 128;
  if (format === 1 && bits === 24) {
    return (o) => (v.getUint8(o) | (v.getUint8(o + 1) << 8) | (v.getInt8(o + 2) << 16)) / 8388608;
  }
  if (format === 1 && bits === 32) return (o) => v.getInt32(o, true) / 2147483648;
  if (format === 3 && bits === 32) return (o) => v.getFloat32(o, true);
  if (format === 3 && bits === 64) return (o) => v.getFloat64(o, true);
  return null;
}

function writeAscii(view, offset, text) {
  for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i));
}

/* RIFF/WAVE, PCM (format 1), one channel, 16 bits, little endian. */
export function encodeWav16(samples, sr) {
  const n = samples.length;
  const buf = new ArrayBuffer(44 + n * 2);
  const v = new DataView(buf);
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
  for (let i = 0, o = 44; i < n; i++, o += 2) {
    let s = samples[i];
    s = s > 1 ? 1 : s < -1 ? -1 : s;
    v.setInt16(o, s < 0 ? Math.round(s * 32768) : Math.round(s * 32767), true);
  }
  return buf;
}

export function base64ToBytes(b64) {
  const bin = atob(b64), n = bin.length, out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/* Any audio the browser can decode (webm, ogg, mp4, WAV…) -> {samples (mono), sr, channels}. */
export function decodeWithBrowser(buf) {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return Promise.reject(new Error("this browser has no Web Audio"));
  const ctx = new Ctx();
  const done = () => { if (ctx.close) ctx.close(); };
  return new Promise((resolve, reject) => {
    // Safari only knows the callback form; the promise form is used where it exists.
    const p = ctx.decodeAudioData(buf.slice(0), resolve, (e) => {
      reject(e || new Error("the browser could not decode this audio"));
    });
    if (p && p.then) p.then(resolve, reject);
  }).then((ab) => {
    done();
    return { samples: mixDown(ab), sr: ab.sampleRate, channels: ab.numberOfChannels };
  }, (err) => {
    done();
    throw err;
  });
}

/* WAV bytes -> {samples, sr, channels}: parsed here when it is a WAV this knows, else by the browser. */
export function decodeAudio(buf) {
  let parsed = null;
  try { parsed = parseWav(buf); } catch (e) { parsed = null; }
  return parsed ? Promise.resolve(parsed) : decodeWithBrowser(buf);
}

function mixDown(audioBuffer) {
  const n = audioBuffer.length, ch = audioBuffer.numberOfChannels;
  if (ch === 1) return audioBuffer.getChannelData(0).slice(0);
  const out = new Float32Array(n);
  for (let c = 0; c < ch; c++) {
    const d = audioBuffer.getChannelData(c);
    for (let i = 0; i < n; i++) out[i] += d[i] / ch;
  }
  return out;
}
