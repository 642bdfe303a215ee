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
 * Cuts the centre size x size of n square images of side `from` (bytes or floats, `channels`
 * values per pixel, channels last): the DCGAN's 32 x 32 back to MNIST's 28 x 28. A no-op when
 * the sides agree.
 */
export function cropCenter<T extends Uint8Array | Float32Array>(images: T, n: number, from: number, size: number, channels = 1): T {
  if (from === size) return images;
  const off = (from - size) >> 1;
  const c = channels;
  const out = new (images.constructor as { new (n: number): T })(n * size * size * c);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < size; r++) {
      const src = (i * from * from + (r + off) * from + off) * c;
      out.set(images.subarray(src, src + size * c) as unknown as ArrayLike<number>, (i * size + r) * size * c);
    }
  }
  return out;
}
