/**
 * The pure parts of colour and classes: PNG decoding that keeps gray grids gray, colour GIF
 * frames, the timeline frame in rgb, class names and --class, and FIDs that are compared only
 * within one feature space. No backend.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { decodePng, encodeGrayPng, encodeRgbPng } from '../src/core/image/grid';
import { imageGif } from '../src/core/image/gif';
import { BAND_HEIGHT, timelineFrame } from '../src/report/timeline';
import { classIndex, runClassNames } from '../src/run/sample';
import { bestEval, newestSpace, type EvalRecord } from '../src/report/evals-log';
import { ConfigError } from '../src/util/errors';

test('decodePng: a gray grid stays one byte a pixel, exactly; a colour one is rgb', () => {
  const gray = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
  const g = decodePng(encodeGrayPng(gray, 4, 3));
  assert.equal(g.channels, 1);
  assert.deepEqual(g.pixels, gray);
  const rgb = Uint8Array.from({ length: 36 }, (_, i) => (i * 37) % 256);
  const c = decodePng(encodeRgbPng(rgb, 4, 3));
  assert.equal(c.channels, 3);
  assert.deepEqual(c.pixels, rgb);
});

test('imageGif: rgb frames get a palette of their colours; gray frames the 256 grays', () => {
  const red = new Uint8Array(8 * 8 * 3);
  for (let i = 0; i < 64; i++) red.set([200, 10, 10], 3 * i);
  const gif = imageGif([red, red], 8, 8, 3, { delayMs: 100 });
  assert.equal(Buffer.from(gif.subarray(0, 6)).toString('latin1'), 'GIF89a');
  const entries = 2 << (gif[10] & 7);
  const palette = Array.from({ length: entries }, (_, i) => Array.from(gif.subarray(13 + 3 * i, 16 + 3 * i)));
  assert.ok(
    palette.some(([r, g, b]) => r === 200 && g === 10 && b === 10),
    'the red of the frame is in the palette',
  );
  const grayGif = imageGif([new Uint8Array(64)], 8, 8, 1, { delayMs: 100 });
  assert.equal(grayGif[10] & 7, 7, '256 entries');
  assert.deepEqual(Array.from(grayGif.subarray(13 + 3 * 77, 16 + 3 * 77)), [77, 77, 77]);
});

test('timelineFrame in rgb: the grid, then the progress band in gray on all three channels', () => {
  const grid = new Uint8Array(10 * 4 * 3).fill(9);
  const frame = timelineFrame(grid, 10, 4, 1, 2, 3);
  assert.equal(frame.length, 10 * (4 + BAND_HEIGHT) * 3);
  assert.deepEqual(frame.subarray(0, grid.length), grid);
  const row = (4 + 1) * 10;
  assert.deepEqual(Array.from(frame.subarray((row + 2) * 3, (row + 3) * 3)), [255, 255, 255]);
  assert.deepEqual(Array.from(frame.subarray((row + 6) * 3, (row + 7) * 3)), [40, 40, 40]);
});

test("class names: a run's class folders, else the digits; --class NAME is refused in one line listing them", () => {
  assert.deepEqual(runClassNames({ classes: 3 }), ['0', '1', '2']);
  assert.deepEqual(runClassNames({ classes: 2 }, { classes: ['cat', 'dog'] }), ['cat', 'dog']);
  assert.equal(classIndex('dog', ['cat', 'dog'], 'run'), 1);
  assert.throws(
    () => classIndex('cow', ['cat', 'dog'], 'run'),
    (e: unknown) =>
      e instanceof ConfigError && e.message === "--class cow: run has no class 'cow'" && e.hint === 'Pass one of its classes: cat, dog',
  );
});

test('FIDs of different feature spaces are not compared: the best is taken in the newest one', () => {
  const rec = (fid: number, feature_space?: string): EvalRecord => ({
    time: '',
    checkpoint: 'c',
    epoch: 1,
    step: 1,
    generator: 'raw',
    n: 2,
    seed: 0,
    fid,
    inception_score: 1,
    classes_covered: 1,
    kl_to_uniform: 0,
    mean_confidence: 1,
    feature_space,
  });
  const mnist = rec(5);
  const own = [rec(40, 'data:abc'), rec(30, 'data:abc')];
  assert.equal(bestEval([mnist, ...own]), own[1], "MNIST's lower FID is not the best of the data's own");
  assert.deepEqual(newestSpace([...own, mnist]), [mnist]);
  assert.equal(bestEval([...own, mnist]), mnist);
});
