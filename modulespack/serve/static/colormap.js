/* The colour map of spectrograms and heat maps ("inferno"-like, 256 entries) and painting with it. */

const STOPS = [[0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
  [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164]];

const LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = i / 255 * (STOPS.length - 1), lo = Math.floor(x), hi = Math.min(lo + 1, STOPS.length - 1), f = x - lo;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = STOPS[lo][c] + (STOPS[hi][c] - STOPS[lo][c]) * f;
  }
  return lut;
})();

/* Size `canvas` to width × height pixels and colour each: level(x, row) is a fraction of the colour
 * map (clipped to [0, 1]; NaN is the bottom colour), rows count from the bottom of the image. */
export function paint(canvas, width, height, level) {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(width, height);
  const px = img.data;
  for (let x = 0; x < width; x++) {
    for (let row = 0; row < height; row++) {
      const f = level(x, row);
      const ci = (f > 0 ? (f < 1 ? Math.round(f * 255) : 255) : 0) * 3;
      const o = ((height - 1 - row) * width + x) * 4;
      px[o] = LUT[ci];
      px[o + 1] = LUT[ci + 1];
      px[o + 2] = LUT[ci + 2];
      px[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}
