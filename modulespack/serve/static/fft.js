/* A radix-2 FFT and its tables (bit reversal, twiddles, a periodic Hann window), cached per size. */

const cache = {};

export function fftTables(n) {
  if (cache[n]) return cache[n];
  const bits = Math.round(Math.log2(n));
  const rev = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    rev[i] = r;
  }
  const cos = new Float64Array(n / 2), sin = new Float64Array(n / 2);
  for (let k = 0; k < n / 2; k++) {
    cos[k] = Math.cos(-2 * Math.PI * k / n);
    sin[k] = Math.sin(-2 * Math.PI * k / n);
  }
  const win = new Float64Array(n);   // periodic Hann
  for (let j = 0; j < n; j++) win[j] = 0.5 - 0.5 * Math.cos(2 * Math.PI * j / n);
  return (cache[n] = { rev: rev, cos: cos, sin: sin, win: win });
}

/* In-place iterative radix-2 FFT of (re, im) with the tables `t` of fftTables(n); n a power of two. */
export function fft(re, im, t) {
  const n = re.length;
  for (let i = 0; i < n; i++) {
    const j = t.rev[i];
    if (j > i) {
      let tmp = re[i]; re[i] = re[j]; re[j] = tmp;
      tmp = im[i]; im[i] = im[j]; im[j] = tmp;
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1, step = n / size;
    for (let i = 0; i < n; i += size) {
      for (let k = 0; k < half; k++) {
        const wr = t.cos[k * step], wi = t.sin[k * step];
        const a = i + k, b = a + half;
        const tr = re[b] * wr - im[b] * wi;
        const ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr; im[b] = im[a] - ti;
        re[a] += tr; im[a] += ti;
      }
    }
  }
}
