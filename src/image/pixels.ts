/**
 * Generator outputs to image bytes. No imports: this module is also compiled for the browser
 * (src/web), so the page turns the same floats into the same bytes as `gan sample`.
 */

/** Floats in [-1, 1] back to bytes, rounding and clipping (what a PNG or IDX sample holds). */
export function toBytes(values: Float32Array | number[]): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Math.round((values[i] + 1) * 127.5);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

/**
 * The centred `crop` x `crop` window of each of n square images of side `size` (a DCGAN's
 * 32x32 outputs are shown as MNIST's 28x28). Returns the input when there is nothing to crop.
 */
export function cropCenter(pixels: Uint8Array, n: number, size: number, crop: number): Uint8Array {
  if (crop === size) return pixels;
  if (crop > size) throw new Error(`cropCenter: cannot crop ${size}x${size} images to ${crop}x${crop}`);
  const off = Math.floor((size - crop) / 2);
  const out = new Uint8Array(n * crop * crop);
  for (let k = 0; k < n; k++) {
    for (let y = 0; y < crop; y++) {
      const src = (k * size + off + y) * size + off;
      out.set(pixels.subarray(src, src + crop), (k * crop + y) * crop);
    }
  }
  return out;
}
