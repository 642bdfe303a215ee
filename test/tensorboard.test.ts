/** The TensorBoard event files: CRC-32C, the Event encoding and the writer, read back by the tests' own reader; no backend. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { gridPng } from '../src/core/image/grid';
import { crc32c, encodeEvent, eventStep, frameRecord, maskedCrc32c, pngSize, readRecords } from '../src/report/tfevents';
import { EventWriter, dropEventsAfter, listEventFiles } from '../src/report/tensorboard';
import { tmpDir } from './helpers';
import { crc32cBitwise, readEventFile, readRunEvents } from './tfevents-reader';

const bytes = (s: string) => new TextEncoder().encode(s);

test('CRC-32C: the check value and the RFC 3720 vectors, from the crc-32 package and from the bitwise reference', () => {
  const vectors: Array<[Uint8Array, number]> = [
    [bytes('123456789'), 0xe3069283],
    [new Uint8Array(32), 0x8a9136aa],
    [new Uint8Array(32).fill(0xff), 0x62a8ab43],
    [Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    [Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
  ];
  for (const [data, want] of vectors) {
    assert.equal(crc32c(data), want);
    assert.equal(crc32cBitwise(data), want);
  }
  // TFRecord's mask: rotate right by 15, add 0xa282ead8 (mod 2^32).
  const c = 0xe3069283;
  assert.equal(maskedCrc32c(bytes('123456789')), (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0);
});

test('a record frames its data with the length and both masked CRCs; damage or a cut ends the readable records', () => {
  const data = encodeEvent({ wallTime: 1.5, step: 7, fileVersion: 'brain.Event:2' });
  const rec = frameRecord(data);
  assert.equal(rec.length, 8 + 4 + data.length + 4);
  assert.equal(Buffer.from(rec).readBigUInt64LE(0), BigInt(data.length));
  const two = Buffer.concat([rec, rec]);
  assert.equal(readRecords(two).length, 2);
  assert.equal(readRecords(two.subarray(0, two.length - 3)).length, 1, 'a torn second record is not read');
  const bad = Buffer.from(two);
  bad[rec.length + 14] ^= 1;
  assert.equal(readRecords(bad).length, 1, 'a flipped bit in the second record stops the reading there');
  assert.throws(() => readEventFile(bad), /bad data CRC/);
  assert.deepEqual(eventStep(data), { step: 7, fileVersion: true });
  assert.deepEqual(eventStep(encodeEvent({ wallTime: 0, step: 2 ** 40 + 3, values: [] })), { step: 2 ** 40 + 3, fileVersion: false });
});

test('events decode as TensorBoard reads them: wall_time, step, scalars as float32, a PNG image with its size', () => {
  const png = gridPng(
    Uint8Array.from({ length: 4 * 28 * 28 }, (_, i) => i % 251),
    4,
    28,
    28,
  );
  const decoded = PNG.sync.read(Buffer.from(png));
  assert.deepEqual(pngSize(png), { width: decoded.width, height: decoded.height });
  const { width, height } = decoded;
  const scalarEvent = encodeEvent({
    wallTime: 1767225600.25,
    step: 300,
    values: [
      { tag: 'loss/d_loss', scalar: 1.2345678 },
      { tag: 'loss/g_loss', scalar: -0.5 },
    ],
  });
  const imageEvent = encodeEvent({ wallTime: 2, step: 938, values: [{ tag: 'samples', image: { png, width, height, colorspace: 1 } }] });
  const [s, i] = readEventFile(Buffer.concat([frameRecord(scalarEvent), frameRecord(imageEvent)]));
  assert.equal(s.wallTime, 1767225600.25);
  assert.equal(s.step, 300);
  assert.deepEqual(
    s.values.map((v) => [v.tag, v.simpleValue]),
    [
      ['loss/d_loss', Math.fround(1.2345678)],
      ['loss/g_loss', -0.5],
    ],
  );
  assert.equal(i.step, 938);
  assert.deepEqual({ ...i.values[0].image, png: undefined }, { height, width, colorspace: 1, png: undefined });
  assert.ok(i.values[0].image!.png.equals(Buffer.from(png)));
});

test('EventWriter: a version event first, then scalars and images; files named in time order', () => {
  const dir = tmpDir();
  const w = EventWriter.create(dir, 1_800_000_000_000);
  w.scalars(5, [['loss/d_loss', 1.25]], 1_800_000_001);
  w.image(10, 'samples/fixed_noise', gridPng(new Uint8Array(28 * 28), 1, 28, 28), 1_800_000_002);
  w.sync();
  w.close();
  const [file] = readRunEvents(dir);
  assert.match(file.name, /^events\.out\.tfevents\.1800000000\./);
  assert.deepEqual(
    file.events.map((e) => [e.step, e.fileVersion, e.values.map((v) => v.tag)]),
    [
      [0, 'brain.Event:2', []],
      [5, undefined, ['loss/d_loss']],
      [10, undefined, ['samples/fixed_noise']],
    ],
  );
  assert.equal(file.events[1].values[0].simpleValue, 1.25);
  // A second process, even in the same second (or with the clock set back), sorts after the first.
  EventWriter.create(dir, 1_700_000_000_000).close();
  assert.match(path.basename(listEventFiles(dir)[1]), /^events\.out\.tfevents\.1800000001\./);
});

test('dropEventsAfter: records past the step and a torn tail go; a file left with none goes', () => {
  const dir = tmpDir();
  const a = EventWriter.create(dir, 1_000_000);
  for (const step of [5, 10, 15]) a.scalars(step, [['x', step]]);
  a.close();
  const b = EventWriter.create(dir, 1_000_000);
  b.scalars(20, [['x', 20]]);
  b.close();
  // A kill in the middle of a write: half a record at the end of the first file.
  fs.appendFileSync(listEventFiles(dir)[0], frameRecord(encodeEvent({ wallTime: 0, step: 16, values: [] })).subarray(0, 9));
  dropEventsAfter(dir, 10);
  const files = readRunEvents(dir);
  assert.equal(files.length, 1, 'the second file held only steps past 10');
  assert.deepEqual(
    files[0].events.map((e) => e.step),
    [0, 5, 10],
  );
  dropEventsAfter(dir, 0);
  assert.deepEqual(listEventFiles(dir), []);
});
