/**
 * What a training set is, in memory or left in its dataset cache file: types, the one test
 * between them and the gather of rows, without imports, so that the loaders (mnist.ts), the
 * cache (image-cache.ts), training and evaluation can all use them.
 */

export interface ImageSet {
  /** n x rows x cols x channels unsigned bytes (channels last), 0 = background. */
  pixels: Uint8Array;
  labels?: Uint8Array;
  n: number;
  rows: number;
  cols: number;
  /** Bytes per pixel: 1 (gray; also when absent) or 3 (rgb). */
  channels?: number;
  /** Names of the classes the labels index (a folder's class subfolders); absent for MNIST's digits. */
  classNames?: string[];
}

/**
 * A training set too large to hold in memory: its pixels stay in a dataset cache file
 * (src/data/image-cache.ts) and each batch reads its rows from there; the labels (n bytes) are
 * held. The file stores `fileChannels` bytes per pixel, converted to `channels` as rows are read.
 */
export interface StreamedImageSet {
  file: string;
  /** Where image 0's pixels start in the file; image i's follow at i x rows x cols x fileChannels. */
  pixelOffset: number;
  fileChannels: number;
  n: number;
  rows: number;
  cols: number;
  channels: number;
  labels?: Uint8Array;
  classNames?: string[];
}

/** What a run trains on: images in memory, or streamed from their cache file. */
export type TrainingImages = ImageSet | StreamedImageSet;

export function isStreamed(images: TrainingImages): images is StreamedImageSet {
  return 'file' in images;
}

/** Rows `indices` of n rows of `per` bytes each, in that order. */
export function gatherRows(bytes: Uint8Array, indices: ArrayLike<number>, per: number): Uint8Array {
  const out = new Uint8Array(indices.length * per);
  for (let k = 0; k < indices.length; k++) out.set(bytes.subarray(indices[k] * per, (indices[k] + 1) * per), k * per);
  return out;
}
