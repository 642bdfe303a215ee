/**
 * Tiling N equally sized grayscale images into one picture, and writing it as a PNG.
 * Pure functions over typed arrays: no tfjs here, so they are tested without a backend.
 */
import { PNG } from 'pngjs';

export interface GridLayout {
  rows: number;
  cols: number;
  width: number;
  height: number;
}

/** Near-square: cols = ceil(sqrt(n)) unless given (64 -> 8 x 8, 10 -> 4 x 3). */
export function gridLayout(n: number, tileH: number, tileW: number, opts: { cols?: number; padding?: number } = {}): GridLayout {
  if (n < 1) throw new Error('gridLayout: need at least one image');
  const padding = opts.padding ?? 2;
  const cols = Math.min(n, opts.cols ?? Math.ceil(Math.sqrt(n)));
  const rows = Math.ceil(n / cols);
  return {
    rows,
    cols,
    width: cols * tileW + (cols + 1) * padding,
    height: rows * tileH + (rows + 1) * padding,
  };
}

/**
 * Places images (n x tileH x tileW bytes, row-major) into a grid with `padding` pixels of
 * `padValue` around every tile. Unused cells of the last row stay `padValue`.
 */
export function tileImages(
  pixels: Uint8Array,
  n: number,
  tileH: number,
  tileW: number,
  opts: { cols?: number; padding?: number; padValue?: number } = {},
): { layout: GridLayout; gray: Uint8Array } {
  const padding = opts.padding ?? 2;
  const layout = gridLayout(n, tileH, tileW, { cols: opts.cols, padding });
  const gray = new Uint8Array(layout.width * layout.height).fill(opts.padValue ?? 128);
  for (let k = 0; k < n; k++) {
    const r = Math.floor(k / layout.cols);
    const c = k % layout.cols;
    const y0 = padding + r * (tileH + padding);
    const x0 = padding + c * (tileW + padding);
    for (let y = 0; y < tileH; y++) {
      const src = (k * tileH + y) * tileW;
      gray.set(pixels.subarray(src, src + tileW), (y0 + y) * layout.width + x0);
    }
  }
  return { layout, gray };
}

/** Encodes a grayscale image as an 8-bit grayscale PNG. */
export function encodeGrayPng(gray: Uint8Array, width: number, height: number): Buffer {
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  png.data = Buffer.from(gray.buffer, gray.byteOffset, gray.byteLength);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}

/** The grid of n images as PNG bytes. */
export function gridPng(pixels: Uint8Array, n: number, tileH: number, tileW: number, opts: { cols?: number; padding?: number } = {}): Buffer {
  const { layout, gray } = tileImages(pixels, n, tileH, tileW, opts);
  return encodeGrayPng(gray, layout.width, layout.height);
}
