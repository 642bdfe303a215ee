/**
 * The TensorBoard event file format, pure bytes in and out: TFRecord framing and the few fields
 * of the Event protobuf that scalars and images need (tensorflow/core/util/event.proto,
 * tensorflow/core/framework/summary.proto).
 *
 *   record  = uint64 length | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
 *   Event   = 1 wall_time: double, 2 step: int64, 3 file_version: string, 5 summary: Summary
 *   Summary = 1 value: repeated Value
 *   Value   = 1 tag: string, 2 simple_value: float, 4 image: Image
 *   Image   = 1 height, 2 width, 3 colorspace: int32, 4 encoded_image_string: bytes (PNG)
 *
 * The protobuf encoder is written by hand: four messages of a few fields each take less code
 * than a .proto schema and protobufjs's loading of it, and fix the bytes we write. CRC-32C comes
 * from the crc-32 package (SheetJS; pure JS, no dependencies), whose crc32c module we check
 * against the standard vectors in the tests.
 */
import * as CRC32C from 'crc-32/crc32c';

/** The first event of every file: the version TensorBoard's reader expects. */
export const FILE_VERSION = 'brain.Event:2';

/** TensorBoard's grayscale colorspace for Summary.Image. */
export const GRAYSCALE = 1;

export function crc32c(bytes: Uint8Array): number {
  return CRC32C.buf(bytes) >>> 0;
}

/** TFRecord's masked CRC: rotated and offset, so that a CRC of data holding CRCs stays strong. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

/** A TFRecord around `data`. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

// ---- protobuf encoding: varints, and fields of the three wire types we use ----

function varint(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint of ${n}: a non-negative safe integer is needed`);
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

const key = (field: number, wireType: number) => varint(field * 8 + wireType);
const fieldVarint = (field: number, n: number) => [...key(field, 0), ...varint(n)];
const fieldBytes = (field: number, bytes: Uint8Array) => [...key(field, 2), ...varint(bytes.length), ...bytes];
const utf8 = (s: string) => new TextEncoder().encode(s);

function fieldFixed(field: number, value: number, kind: 'double' | 'float'): number[] {
  const bytes = new Uint8Array(kind === 'double' ? 8 : 4);
  const view = new DataView(bytes.buffer);
  if (kind === 'double') view.setFloat64(0, value, true);
  else view.setFloat32(0, value, true);
  return [...key(field, kind === 'double' ? 1 : 5), ...bytes];
}

/** One Summary.Value: a scalar, or an image. */
export type SummaryValue =
  { tag: string; scalar: number } | { tag: string; image: { png: Uint8Array; width: number; height: number; colorspace: number } };

function encodeValue(v: SummaryValue): Uint8Array {
  const out = fieldBytes(1, utf8(v.tag));
  if ('scalar' in v) out.push(...fieldFixed(2, v.scalar, 'float'));
  else {
    const { png, width, height, colorspace } = v.image;
    const image = [...fieldVarint(1, height), ...fieldVarint(2, width), ...fieldVarint(3, colorspace)];
    // The PNG is appended after the spread: spreading ~100 KB onto the stack would be slow.
    const head = Uint8Array.from([...image, ...key(4, 2), ...varint(png.length)]);
    out.push(...key(4, 2), ...varint(head.length + png.length));
    return concat([Uint8Array.from(out), head, png]);
  }
  return Uint8Array.from(out);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An Event's bytes: the file-version event, or a summary of values at `step`. */
export function encodeEvent(e: { wallTime: number; step: number; fileVersion?: string; values?: SummaryValue[] }): Uint8Array {
  const head = [...fieldFixed(1, e.wallTime, 'double'), ...fieldVarint(2, e.step)];
  if (e.fileVersion !== undefined) head.push(...fieldBytes(3, utf8(e.fileVersion)));
  if (!e.values) return Uint8Array.from(head);
  const parts: Uint8Array[] = [];
  for (const value of e.values.map(encodeValue)) parts.push(Uint8Array.from([...key(1, 2), ...varint(value.length)]), value);
  const summary = concat(parts);
  return concat([Uint8Array.from([...head, ...key(5, 2), ...varint(summary.length)]), summary]);
}

// ---- reading back what a resume must trim: whole records, and each event's step ----

/**
 * The complete, intact records of a file's bytes with their offsets, up to the first torn or
 * damaged one (a write cut short by a kill ends the file there).
 */
export function readRecords(bytes: Uint8Array): Array<{ start: number; end: number; data: Uint8Array }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Array<{ start: number; end: number; data: Uint8Array }> = [];
  let at = 0;
  while (at + 12 <= bytes.length) {
    const length = view.getBigUint64(at, true);
    if (view.getUint32(at + 8, true) !== maskedCrc32c(bytes.subarray(at, at + 8))) break;
    const end = at + 12 + Number(length) + 4;
    if (length > BigInt(bytes.length) || end > bytes.length) break;
    const data = bytes.subarray(at + 12, end - 4);
    if (view.getUint32(end - 4, true) !== maskedCrc32c(data)) break;
    out.push({ start: at, end, data });
    at = end;
  }
  return out;
}

/** An event's step and whether it is the file-version event; throws on bytes that are no protobuf. */
export function eventStep(data: Uint8Array): { step: number; fileVersion: boolean } {
  let at = 0;
  let step = 0;
  let fileVersion = false;
  const readVarint = () => {
    let n = 0;
    for (let scale = 1; ; scale *= 0x80) {
      if (at >= data.length) throw new RangeError('truncated varint');
      const b = data[at++];
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
    }
  };
  while (at < data.length) {
    const k = readVarint();
    const [field, wireType] = [Math.floor(k / 8), k % 8];
    if (wireType === 0) {
      const v = readVarint();
      if (field === 2) step = v;
    } else if (wireType === 1 || wireType === 5) at += wireType === 1 ? 8 : 4;
    else if (wireType === 2) {
      const length = readVarint();
      if (field === 3) fileVersion = true;
      at += length;
    } else throw new RangeError(`wire type ${wireType}`);
  }
  if (at !== data.length) throw new RangeError('truncated field');
  return { step, fileVersion };
}

/** Width and height of a PNG, from its IHDR chunk. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  if (png.length < 24 || view.getUint32(12) !== 0x49484452) throw new RangeError('not a PNG (no IHDR chunk first)');
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
