/**
 * A folder of images as a training set, the way torchvision's ImageFolder + Resize(N) +
 * CenterCrop(N) reads one: every file under the folder (recursively, in sorted order) that the
 * decoder reads is an image; the first folder level names the classes when every image sits in
 * one. Images are decoded by sharp (libvips, prebuilt in the @img/sharp-* packages): any size
 * and mode (gray, RGB, RGBA, palette, 16-bit; alpha flattened onto black; 16-bit scaled to 8),
 * then resized so the shorter side is N with sharp's 'linear' kernel (bilinear, antialiased when
 * shrinking: PIL's BILINEAR, torchvision Resize's default), then the centre N x N is cut.
 *
 * The pure parts (the resize plan, the gray conversion, the folder's fingerprint, the classes)
 * are separate functions and tested without a decoder or a backend.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import type { ImageSet } from './image-set';
import { DataError } from '../util/errors';
import { plural } from '../util/text';

/** One file found under the folder: its path relative to the folder ('/'-separated), size and mtime. */
export interface FolderEntry {
  rel: string;
  size: number;
  mtimeMs: number;
}

/** The resampling filter, by sharp's name: bilinear, as torchvision's Resize. Part of the cache key. */
export const RESIZE_KERNEL = 'linear';
/** Images of more pixels than this are refused before decoding (decompression bombs): 8192 x 8192. */
export const PIXEL_LIMIT = 8192 * 8192;
/** Images narrower or lower than this are refused: nothing to learn from a 1x1 image. */
export const MIN_SIDE = 8;

/**
 * Every file under `dir`, recursively, sorted by relative path (code-unit order, the same on
 * every machine). Hidden names (starting with '.') are skipped; a folder reached twice through
 * links (a loop) is read once. A file that cannot be read (no permission, a dangling link) is
 * refused in one line.
 */
export function scanFolder(dir: string): FolderEntry[] {
  const out: FolderEntry[] = [];
  const seen = new Set<string>();
  const walk = (abs: string, rel: string) => {
    const st = statOrThrow(abs, rel || '.');
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    let names: string[];
    try {
      names = fs.readdirSync(abs);
    } catch (e) {
      throw unreadable(rel || dir, e);
    }
    for (const name of names.sort()) {
      if (name.startsWith('.')) continue;
      const childAbs = path.join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      const s = statOrThrow(childAbs, childRel);
      if (s.isDirectory()) walk(childAbs, childRel);
      else if (s.isFile()) out.push({ rel: childRel, size: s.size, mtimeMs: s.mtimeMs });
    }
  };
  walk(dir, '');
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

function statOrThrow(abs: string, rel: string): fs.Stats {
  try {
    return fs.statSync(abs);
  } catch (e) {
    throw unreadable(rel, e);
  }
}

export function unreadable(rel: string, e: unknown): DataError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'it is a link to nothing' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
  return new DataError(`cannot read ${rel} in the data folder (${why})`, 'Fix or remove that file, then run the command again');
}

/**
 * The folder's fingerprint: sha256 of the sorted relative paths, sizes and modification times.
 * It keys the decoded cache (with the size and the filter), so a changed, added or removed file
 * decodes the folder again; what a run checks on resume is the decoded pixels' own hash.
 */
export function folderFingerprint(entries: FolderEntry[]): string {
  const hash = crypto.createHash('sha256');
  for (const e of entries) hash.update(`${e.rel}\t${e.size}\t${e.mtimeMs}\n`);
  return hash.digest('hex');
}

/**
 * torchvision's Resize(size) then CenterCrop(size) for a w x h image: the shorter side becomes
 * `size` and the longer int(size * long / short); the crop starts at round((side - size) / 2),
 * rounding halves to even as Python's round() does.
 */
export function resizeCropPlan(w: number, h: number, size: number): { width: number; height: number; left: number; top: number } {
  const width = w <= h ? size : Math.floor((size * w) / h);
  const height = w <= h ? Math.floor((size * h) / w) : size;
  const roundHalfEven = (x: number) => {
    const f = Math.floor(x);
    const d = x - f;
    return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
  };
  return { width, height, left: roundHalfEven((width - size) / 2), top: roundHalfEven((height - size) / 2) };
}

/** RGB bytes to gray as PIL's convert('L') (ITU-R 601-2 luma, its fixed-point form). */
export function grayFromRgb(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = (rgb[3 * i] * 19595 + rgb[3 * i + 1] * 38470 + rgb[3 * i + 2] * 7471 + 0x8000) >>> 16;
  return out;
}

/** Gray bytes to RGB (each value three times). */
export function rgbFromGray(gray: Uint8Array): Uint8Array {
  const out = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = gray[i];
  return out;
}

/** Pixels of `from` bytes each (1 gray, 3 rgb) as `to` bytes each; the same array when they agree. */
export function convertChannels(pixels: Uint8Array, from: number, to: number): Uint8Array {
  if (from === to) return pixels;
  return to === 3 ? rgbFromGray(pixels) : grayFromRgb(pixels);
}

/** Whether every pixel of RGB bytes has R = G = B (a gray image, whatever its file's mode). */
export function isGrayRgb(rgb: Uint8Array): boolean {
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] !== rgb[i + 1] || rgb[i] !== rgb[i + 2]) return false;
  return true;
}

/**
 * Classes from the images' paths, as ImageFolder: the first folder level, sorted, when every
 * image sits in a subfolder; undefined when any image lies in the folder itself.
 */
export function classesOf(rels: string[]): { names: string[]; labels: Uint8Array } | undefined {
  if (rels.length === 0 || rels.some((r) => !r.includes('/'))) return undefined;
  const first = rels.map((r) => r.slice(0, r.indexOf('/')));
  const names = [...new Set(first)].sort();
  if (names.length > 256) return undefined;
  const index = new Map(names.map((n, i) => [n, i]));
  return { names, labels: Uint8Array.from(first, (c) => index.get(c)!) };
}

/** What decoding one file gave: its pixels at size x size (RGB), or why it is no image. */
export type Decoded = { rgb: Uint8Array } | { notImage: string };

type Sharp = typeof import('sharp');
let sharpModule: Sharp | undefined;
/** sharp, loaded on first use (it loads libvips: not for commands that read no folder). */
function loadSharp(): Sharp {
  if (!sharpModule) {
    try {
      sharpModule = require('sharp') as Sharp;
    } catch (e) {
      throw new DataError(`the image decoder (sharp) does not load here: ${(e as Error).message}`, 'Run `npm ci` in the gan folder');
    }
  }
  return sharpModule;
}

/**
 * Decodes one image file's bytes to size x size RGB (Resize + CenterCrop, alpha on black).
 * A file the decoder cannot read is no image (returned, for the warning); a decompression bomb
 * (over PIXEL_LIMIT) and an image under MIN_SIDE are refused (thrown).
 */
export async function decodeImage(bytes: Buffer, rel: string, size: number, pixelLimit = PIXEL_LIMIT): Promise<Decoded> {
  const sharp = loadSharp();
  const opts = { limitInputPixels: pixelLimit, failOn: 'none' as const };
  let meta;
  try {
    // Only the header is read: the size of a decompression bomb is known before a pixel is.
    meta = await sharp(bytes, { ...opts, limitInputPixels: false }).metadata();
  } catch (e) {
    return { notImage: (e as Error).message };
  }
  // EXIF orientation is not applied, as PIL and torchvision's ImageFolder do not.
  const w = meta.width;
  const h = meta.height;
  if (!w || !h) return { notImage: 'no size' };
  if (w * h > pixelLimit)
    throw new DataError(
      `${rel} is ${w}x${h} pixels, more than the ${pixelLimit} (${Math.sqrt(pixelLimit)}x${Math.sqrt(pixelLimit)}) gan decodes (a decompression bomb, or a photo far larger than training needs)`,
      'Remove it from the data folder, or shrink it first',
    );
  if (w < MIN_SIDE || h < MIN_SIDE)
    throw new DataError(`${rel} is only ${w}x${h} pixels; images need at least ${MIN_SIDE}x${MIN_SIDE}`, 'Remove it from the data folder');
  const plan = resizeCropPlan(w, h, size);
  try {
    const { data, info } = await sharp(bytes, opts)
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .resize(plan.width, plan.height, { kernel: RESIZE_KERNEL, fit: 'fill', fastShrinkOnLoad: false })
      .extract({ left: plan.left, top: plan.top, width: size, height: size })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== size * size * 3) return { notImage: `decoded to ${info.channels} channels` };
    return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    const msg = (e as Error).message;
    if (/pixel limit/i.test(msg)) throw new DataError(`${rel} has more pixels than gan decodes (${pixelLimit})`, 'Remove it from the data folder');
    return { notImage: msg };
  }
}

/**
 * Every image of an in-memory set (IDX or CIFAR-10 data) at size x size: the same Resize +
 * CenterCrop and filter as a folder's images (a square image is only resized), channels kept.
 * As torchvision's Resize transform, done when the data loads rather than cached: MNIST's 60,000
 * small images take seconds, not the minutes a folder's files take to decode.
 */
export async function resizeImages(images: ImageSet, size: number, onProgress?: (done: number, total: number) => void): Promise<ImageSet> {
  const sharp = loadSharp();
  const c = images.channels ?? 1;
  const [w, h] = [images.cols, images.rows];
  const plan = resizeCropPlan(w, h, size);
  const per = w * h * c;
  const out = new Uint8Array(images.n * size * size * c);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < images.n) {
      const i = next++;
      const raw = Buffer.from(images.pixels.buffer, images.pixels.byteOffset + i * per, per);
      const data = await sharp(raw, { raw: { width: w, height: h, channels: c as 1 | 3 } })
        .resize(plan.width, plan.height, { kernel: RESIZE_KERNEL, fit: 'fill', fastShrinkOnLoad: false })
        .extract({ left: plan.left, top: plan.top, width: size, height: size })
        .toColourspace(c === 1 ? 'b-w' : 'srgb')
        .raw({ depth: 'uchar' })
        .toBuffer();
      if (data.length !== size * size * c) throw new Error(`resizeImages: image ${i} came out as ${data.length} bytes, want ${size * size * c}`);
      out.set(data, i * size * size * c);
      if (++done % 1000 === 0 || done === images.n) onProgress?.(done, images.n);
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, images.n) }, worker));
  return { ...images, pixels: out, rows: size, cols: size };
}

/** The folder's images, decoded: what the cache holds. */
export interface DecodedFolder {
  /** n x size x size x channels bytes. */
  pixels: Uint8Array;
  n: number;
  size: number;
  /** 1 when every image is gray (stored as one channel), else 3. */
  channels: number;
  /** Relative paths of the images, in order. */
  files: string[];
  /** Files that are no image (relative path), for the warning. */
  skipped: string[];
  classes?: { names: string[]; labels: Uint8Array };
}

/**
 * Decodes every file of the folder at size x size, `concurrency` at a time (sharp decodes on
 * libuv's thread pool), calling `onProgress(done, total)`. Refuses an empty folder, a folder
 * without images, an unreadable file, a decompression bomb and a tiny image, before anything
 * is written.
 */
export async function decodeFolder(
  dir: string,
  entries: FolderEntry[],
  size: number,
  opts: { concurrency?: number; onProgress?: (done: number, total: number) => void; pixelLimit?: number } = {},
): Promise<DecodedFolder> {
  if (entries.length === 0) throw new DataError(`the data folder ${dir} holds no files`, 'Put images in it (PNG, JPEG, WebP, GIF, TIFF, AVIF), or pass another --data');
  // Each image goes into its slot of one RGB array as it is decoded, so that the decoded folder
  // is held once (60,000 images at 64x64: 737 MB), not as per-image buffers and then a copy.
  const rgbPer = size * size * 3;
  const rgbAll = new Uint8Array(entries.length * rgbPer);
  const results: Array<'image' | { notImage: string }> = new Array(entries.length);
  let allGray = true;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < entries.length) {
      const i = next++;
      let bytes: Buffer;
      try {
        bytes = await fs.promises.readFile(path.join(dir, entries[i].rel));
      } catch (e) {
        throw unreadable(entries[i].rel, e);
      }
      const decoded = await decodeImage(bytes, entries[i].rel, size, opts.pixelLimit);
      if ('rgb' in decoded) {
        rgbAll.set(decoded.rgb, i * rgbPer);
        allGray &&= isGrayRgb(decoded.rgb);
        results[i] = 'image';
      } else results[i] = decoded;
      opts.onProgress?.(++done, entries.length);
    }
  };
  const k = Math.max(1, Math.min(opts.concurrency ?? 4, entries.length));
  await Promise.all(Array.from({ length: k }, worker));
  const files: string[] = [];
  const skipped: string[] = [];
  // The images close ranks in place over the slots of the files that were no images.
  results.forEach((r, i) => {
    if (r === 'image') {
      if (files.length !== i) rgbAll.copyWithin(files.length * rgbPer, i * rgbPer, (i + 1) * rgbPer);
      files.push(entries[i].rel);
    } else skipped.push(entries[i].rel);
  });
  const n = files.length;
  if (n === 0)
    throw new DataError(
      `none of the ${plural(entries.length, 'file')} in ${dir} is an image the decoder reads (${listSome(skipped)})`,
      'Point --data at a folder of PNG, JPEG, WebP, GIF, TIFF or AVIF images, or at MNIST IDX or CIFAR-10 binary files',
    );
  let pixels: Uint8Array;
  if (allGray) {
    // Every image gray: one channel of each (the three are equal).
    pixels = new Uint8Array(n * size * size);
    for (let p = 0; p < pixels.length; p++) pixels[p] = rgbAll[3 * p];
  } else pixels = n === entries.length ? rgbAll : rgbAll.slice(0, n * rgbPer);
  return { pixels, n, size, channels: allGray ? 1 : 3, files, skipped, classes: classesOf(files) };
}

/** The first few names of a list and how many more. */
export function listSome(names: string[], max = 5): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}
