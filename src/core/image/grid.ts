/**
 * Tiling N equally sized grayscale images into one picture, and writing it as a PNG.
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

/** The grid of n images as PNG bytes. */
export function gridPng(
  pixels: Uint8Array,
  n: number,
  tileH: number,
  tileW: number,
  opts: { cols?: number; padding?: number } = {},
): Buffer {
  const { layout, gray } = tileImages(pixels, n, tileH, tileW, opts);
  return encodeGrayPng(gray, layout.width, layout.height);
}

/** Decodes a PNG (gray or colour) to gray bytes: the red channel, as our grids are gray. */
export function decodeGrayPng(data: Uint8Array): { gray: Uint8Array; width: number; height: number } {
  const png = PNG.sync.read(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const gray = new Uint8Array(png.width * png.height);
  for (let i = 0; i < gray.length; i++) gray[i] = png.data[4 * i];
  return { gray, width: png.width, height: png.height };
}
