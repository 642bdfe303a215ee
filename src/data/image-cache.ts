/**
 * The decoded images of a folder, cached once as bytes, so that epoch 2 and a resume do not
 * decode again. One file per (folder fingerprint, image size, resize filter), in the per-user
 * cache: $GAN_CACHE_DIR/datasets (else $XDG_CACHE_HOME/gan/datasets, else ~/.cache/gan/datasets).
 * The images are stored in their own colour (one channel when every image is gray, else three);
 * --color converts on load, which is exact for gray -> rgb and a fixed formula for rgb -> gray.
 *
 *   "GANIMG1\n", uint32 LE header length, header JSON, pixels (n x size x size x channels),
 *   labels (n bytes, when the folder has classes)
 *
 * A set too large to hold is read from here as it trains: its layout is read alone, and each
 * batch reads its rows at their offsets (StreamedImageSet).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { userCacheDir } from '../util/paths';
import { writeFileAtomic } from '../util/fs';
import { DataError } from '../util/errors';
import { RESIZE_KERNEL, convertChannels, type DecodedFolder } from './image-folder';
import type { StreamedImageSet } from './image-set';

const MAGIC = 'GANIMG1\n';
/** Raised when what a cache file holds or how it is decoded changes. */
const CACHE_VERSION = 1;

export function datasetCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(userCacheDir(env), 'datasets');
}

/** The cache file's name: sha256 of the folder's fingerprint, the size, the filter and the format version. */
export function cacheKey(fingerprint: string, size: number): string {
  return crypto.createHash('sha256').update(JSON.stringify({ v: CACHE_VERSION, fingerprint, size, kernel: RESIZE_KERNEL })).digest('hex');
}

interface Header {
  version: number;
  n: number;
  size: number;
  channels: number;
  files: string[];
  skipped: string[];
  classNames?: string[];
}

/** The cached decode, or undefined when there is none (or it does not read back whole). */
export function readCache(file: string): DecodedFolder | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  try {
    if (buf.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
    const len = buf.readUInt32LE(MAGIC.length);
    const start = MAGIC.length + 4;
    const h = JSON.parse(buf.toString('utf8', start, start + len)) as Header;
    const body = start + len;
    const bytes = h.n * h.size * h.size * h.channels;
    const labelled = h.classNames !== undefined;
    if (h.version !== CACHE_VERSION || buf.length !== body + bytes + (labelled ? h.n : 0)) return undefined;
    const pixels = new Uint8Array(buf.buffer, buf.byteOffset + body, bytes);
    const labels = labelled ? new Uint8Array(buf.buffer, buf.byteOffset + body + bytes, h.n) : undefined;
    return {
      pixels,
      n: h.n,
      size: h.size,
      channels: h.channels,
      files: h.files,
      skipped: h.skipped,
      classes: labels ? { names: h.classNames!, labels } : undefined,
    };
  } catch {
    return undefined;
  }
}

/** A cache file's header and where its pixels start, read without the pixels. */
export type CacheLayout = Omit<Header, 'version'> & { pixelOffset: number };

/** The cache file's layout, or undefined when there is none (or its length does not match its header). */
export function readCacheLayout(file: string): CacheLayout | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(MAGIC.length + 4);
    if (fs.readSync(fd, head, 0, head.length, 0) !== head.length || head.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
    const len = head.readUInt32LE(MAGIC.length);
    const json = Buffer.alloc(len);
    if (fs.readSync(fd, json, 0, len, head.length) !== len) return undefined;
    const h = JSON.parse(json.toString('utf8')) as Header;
    const pixelOffset = head.length + len;
    const bytes = h.n * h.size * h.size * h.channels;
    const labelled = h.classNames !== undefined;
    if (h.version !== CACHE_VERSION || fs.fstatSync(fd).size !== pixelOffset + bytes + (labelled ? h.n : 0)) return undefined;
    return { n: h.n, size: h.size, channels: h.channels, files: h.files, skipped: h.skipped, classNames: h.classNames, pixelOffset };
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** The labels a cache file holds after its pixels (n bytes), or undefined when it has no classes. */
export function readCacheLabels(file: string, layout: CacheLayout): Uint8Array | undefined {
  if (layout.classNames === undefined) return undefined;
  const labels = new Uint8Array(layout.n);
  readAt(file, labels, layout.pixelOffset + layout.n * layout.size * layout.size * layout.channels);
  return labels;
}

/** Fills `into` from the file at `position`, or refuses a file that ends first (changed since its layout was read). */
function readAt(file: string | number, into: Uint8Array, position: number): void {
  const fd = typeof file === 'number' ? file : fs.openSync(file, 'r');
  try {
    for (let done = 0; done < into.length; ) {
      const got = fs.readSync(fd, into, done, into.length - done, position + done);
      if (got === 0) throw new DataError(`the dataset cache file ended early`, 'Delete it (gan decodes the folder again), and run again');
      done += got;
    }
  } finally {
    if (typeof file !== 'number') fs.closeSync(fd);
  }
}

/**
 * Reads rows of a streamed set from its file, each converted to the set's colour. Holds the file
 * open until closed: a cache rewritten meanwhile (a rename) does not change what it reads.
 */
export class CacheRowReader {
  private readonly fd: number;
  private readonly rowBytes: number;

  constructor(private readonly set: StreamedImageSet) {
    this.fd = fs.openSync(set.file, 'r');
    this.rowBytes = set.rows * set.cols * set.fileChannels;
  }

  /** The images `indices`, in that order: indices.length x rows x cols x channels bytes. */
  read(indices: ArrayLike<number>): Uint8Array {
    const per = this.rowBytes;
    const raw = new Uint8Array(indices.length * per);
    for (let k = 0; k < indices.length; k++) readAt(this.fd, raw.subarray(k * per, (k + 1) * per), this.set.pixelOffset + indices[k] * per);
    return convertChannels(raw, this.set.fileChannels, this.set.channels);
  }

  /** Images start .. start + count - 1, read in one piece. */
  readRange(start: number, count: number): Uint8Array {
    const raw = new Uint8Array(count * this.rowBytes);
    readAt(this.fd, raw, this.set.pixelOffset + start * this.rowBytes);
    return convertChannels(raw, this.set.fileChannels, this.set.channels);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** A streamed set's pixels in order, `rowsPerPart` images at a time, in the set's colour (what its fingerprint hashes). */
export function* streamedPixelChunks(set: StreamedImageSet, rowsPerPart = 1024): Generator<Uint8Array> {
  const reader = new CacheRowReader(set);
  try {
    for (let start = 0; start < set.n; start += rowsPerPart) yield reader.readRange(start, Math.min(rowsPerPart, set.n - start));
  } finally {
    reader.close();
  }
}

/** Writes the decode atomically (a killed write leaves no half file under the name). */
export function writeCache(file: string, d: DecodedFolder): void {
  const header: Header = {
    version: CACHE_VERSION,
    n: d.n,
    size: d.size,
    channels: d.channels,
    files: d.files,
    skipped: d.skipped,
    classNames: d.classes?.names,
  };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, [Buffer.from(MAGIC, 'latin1'), len, json, d.pixels, ...(d.classes ? [d.classes.labels] : [])]);
}
