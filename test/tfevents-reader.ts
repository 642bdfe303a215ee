/**
 * A reader of TensorBoard event files written for the tests alone, sharing no code with
 * src/report/tfevents.ts: its own bitwise CRC-32C, its own protobuf decoding. It checks both CRCs
 * of every record and throws on anything malformed, so a file it reads is one TensorBoard reads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ReadValue {
  tag: string;
  simpleValue?: number;
  image?: { height: number; width: number; colorspace: number; png: Buffer };
}
export interface ReadEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  values: ReadValue[];
}

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one bit at a time. */
export function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function masked(bytes: Uint8Array): number {
  const c = crc32cBitwise(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** Protobuf fields of a message: [field number, wire type, value] (varint as number, length-delimited as bytes). */
function fields(buf: Buffer): Array<[number, number, number | Buffer]> {
  const out: Array<[number, number, number | Buffer]> = [];
  let i = 0;
  const varint = () => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (i >= buf.length) throw new Error('varint runs past the message');
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return Number(v);
    }
  };
  while (i < buf.length) {
    const key = varint();
    const [field, wire] = [key >>> 3, key & 7];
    if (wire === 0) out.push([field, wire, varint()]);
    else if (wire === 1) (out.push([field, wire, buf.subarray(i, i + 8)]), (i += 8));
    else if (wire === 5) (out.push([field, wire, buf.subarray(i, i + 4)]), (i += 4));
    else if (wire === 2) {
      const n = varint();
      out.push([field, wire, buf.subarray(i, i + n)]);
      i += n;
    } else throw new Error(`unknown wire type ${wire}`);
    if (i > buf.length) throw new Error('field runs past the message');
  }
  return out;
}

function decodeValue(buf: Buffer): ReadValue {
  const v: ReadValue = { tag: '' };
  for (const [f, , x] of fields(buf)) {
    if (f === 1) v.tag = (x as Buffer).toString('utf8');
    else if (f === 2) v.simpleValue = (x as Buffer).readFloatLE(0);
    else if (f === 4) {
      const image = { height: 0, width: 0, colorspace: 0, png: Buffer.alloc(0) };
      for (const [g, , y] of fields(x as Buffer)) {
        if (g === 1) image.height = y as number;
        else if (g === 2) image.width = y as number;
        else if (g === 3) image.colorspace = y as number;
        else if (g === 4) image.png = Buffer.from(y as Buffer);
      }
      v.image = image;
    }
  }
  return v;
}

function decodeEvent(buf: Buffer): ReadEvent {
  const e: ReadEvent = { wallTime: NaN, step: 0, values: [] };
  for (const [f, , x] of fields(buf)) {
    if (f === 1) e.wallTime = (x as Buffer).readDoubleLE(0);
    else if (f === 2) e.step = x as number;
    else if (f === 3) e.fileVersion = (x as Buffer).toString('utf8');
    else if (f === 5) for (const [g, , y] of fields(x as Buffer)) if (g === 1) e.values.push(decodeValue(y as Buffer));
  }
  return e;
}

/** Every event of a file; throws at a bad CRC or a torn record. */
export function readEventFile(bytes: Buffer): ReadEvent[] {
  const out: ReadEvent[] = [];
  let i = 0;
  while (i < bytes.length) {
    if (i + 12 > bytes.length) throw new Error(`torn record header at byte ${i}`);
    const header = bytes.subarray(i, i + 8);
    if (bytes.readUInt32LE(i + 8) !== masked(header)) throw new Error(`bad length CRC at byte ${i}`);
    const n = Number(bytes.readBigUInt64LE(i));
    if (i + 12 + n + 4 > bytes.length) throw new Error(`torn record at byte ${i}`);
    const data = bytes.subarray(i + 12, i + 12 + n);
    if (bytes.readUInt32LE(i + 12 + n) !== masked(data)) throw new Error(`bad data CRC at byte ${i}`);
    out.push(decodeEvent(data));
    i += 12 + n + 4;
  }
  return out;
}

/** The event files of a run folder in name order, each read whole. */
export function readRunEvents(runDir: string): Array<{ name: string; events: ReadEvent[] }> {
  return fs
    .readdirSync(runDir)
    .filter((n) => n.includes('tfevents'))
    .sort()
    .map((name) => ({ name, events: readEventFile(fs.readFileSync(path.join(runDir, name))) }));
}

/** A run's scalars as "tag@step=value" lines in step order (what must match between runs), and its images. */
export function scalarsAndImages(runDir: string): { scalars: string[]; images: Array<{ tag: string; step: number; png: Buffer }> } {
  const scalars: Array<[number, string]> = [];
  const images: Array<{ tag: string; step: number; png: Buffer }> = [];
  for (const { events } of readRunEvents(runDir)) {
    for (const e of events) {
      for (const v of e.values) {
        if (v.simpleValue !== undefined && !v.tag.startsWith('speed/')) scalars.push([e.step, `${v.tag}@${e.step}=${v.simpleValue}`]);
        if (v.image) images.push({ tag: v.tag, step: e.step, png: v.image.png });
      }
    }
  }
  return { scalars: scalars.sort((a, b) => a[0] - b[0]).map((s) => s[1]), images };
}
