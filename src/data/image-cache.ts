/**
 * The decoded images of a folder, cached once as bytes, so that epoch 2 and a resume do not
 * decode again. One file per (folder fingerprint, image size, resize filter), in the per-user
 * cache: $GAN_CACHE_DIR/datasets (else $XDG_CACHE_HOME/gan/datasets, else ~/.cache/gan/datasets).
 * The images are stored in their own colour (one channel when every image is gray, else three);
 * --color converts on load, which is exact for gray -> rgb and a fixed formula for rgb -> gray.
 *
 *   "GANIMG1\n", uint32 LE header length, header JSON, pixels (n x size x size x channels),
 *   labels (n bytes, when the folder has classes)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { userCacheDir } from '../util/paths';
import { writeFileAtomic } from '../util/fs';
import { RESIZE_KERNEL, type DecodedFolder } from './image-folder';

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
