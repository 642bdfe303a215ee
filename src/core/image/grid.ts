/**
 * Tiling N equally sized images (gray or rgb) into one picture, and writing it as a PNG.
 * Pure functions over typed arrays: no tfjs here, so they are tested without a backend.
 */
import { PNG } from 'pngjs';
import { tileImages } from './tile';

export { gridLayout, tileImages, type GridLayout } from './tile';

/** Encodes a grayscale image as an 8-bit grayscale PNG. */
export function encodeGrayPng(gray: Uint8Array, width: number, height: number): Buffer {
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  png.data = Buffer.from(gray.buffer, gray.byteOffset, gray.byteLength);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}

/** Encodes an 8-bit RGB image (3 bytes per pixel) as an RGB PNG. */
export function encodeRgbPng(rgb: Uint8Array, width: number, height: number): Buffer {
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false, bitDepth: 8 });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false, bitDepth: 8 });
}

/** The grid of n images (`channels` 1: gray, 3: rgb) as PNG bytes. */
export function gridPng(
  pixels: Uint8Array,
  n: number,
  tileH: number,
  tileW: number,
  opts: { cols?: number; padding?: number; channels?: number } = {},
): Buffer {
  const { layout, gray } = tileImages(pixels, n, tileH, tileW, opts);
  return opts.channels === 3 ? encodeRgbPng(gray, layout.width, layout.height) : encodeGrayPng(gray, layout.width, layout.height);
}

/**
 * Decodes a PNG to its pixels: 1 byte per pixel when every pixel is gray (a gray run's grid,
 * exactly as written), else 3 (rgb).
 */
export function decodePng(data: Uint8Array): { pixels: Uint8Array; channels: number; width: number; height: number } {
  const png = PNG.sync.read(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const n = png.width * png.height;
  let colour = false;
  for (let i = 0; i < n && !colour; i++) colour = png.data[4 * i] !== png.data[4 * i + 1] || png.data[4 * i] !== png.data[4 * i + 2];
  const channels = colour ? 3 : 1;
  const pixels = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) pixels[i * channels + c] = png.data[4 * i + c];
  return { pixels, channels, width: png.width, height: png.height };
}

/** Decodes a PNG (gray or colour) to gray bytes: the red channel. */
export function decodeGrayPng(data: Uint8Array): { gray: Uint8Array; width: number; height: number } {
  const png = PNG.sync.read(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const gray = new Uint8Array(png.width * png.height);
  for (let i = 0; i < gray.length; i++) gray[i] = png.data[4 * i];
  return { gray, width: png.width, height: png.height };
}
