import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { gridLayout, tileImages, gridPng } from '../src/core/image/grid';

test('grid layout is near-square and honours a column count', () => {
  assert.deepEqual(gridLayout(64, 28, 28), { rows: 8, cols: 8, width: 8 * 28 + 9 * 2, height: 8 * 28 + 9 * 2 });
  assert.deepEqual([gridLayout(10, 28, 28).rows, gridLayout(10, 28, 28).cols], [3, 4]);
  assert.deepEqual([gridLayout(1, 28, 28).rows, gridLayout(1, 28, 28).cols], [1, 1]);
  assert.deepEqual([gridLayout(10000, 28, 28).rows, gridLayout(10000, 28, 28).cols], [100, 100]);
  const wide = gridLayout(12, 28, 28, { cols: 6, padding: 0 });
  assert.deepEqual(wide, { rows: 2, cols: 6, width: 168, height: 56 });
  assert.throws(() => gridLayout(0, 28, 28));
});

test('tiles land where the layout says, padding elsewhere', () => {
  // Three 2x2 tiles with distinct values, 2 columns, padding 1 of value 9.
  const pixels = Uint8Array.from([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
  const { layout, gray } = tileImages(pixels, 3, 2, 2, { cols: 2, padding: 1, padValue: 9 });
  assert.deepEqual([layout.width, layout.height], [7, 7]);
  const at = (x: number, y: number) => gray[y * layout.width + x];
  assert.equal(at(1, 1), 1);
  assert.equal(at(2, 2), 1);
  assert.equal(at(4, 1), 2);
  assert.equal(at(1, 4), 3);
  assert.equal(at(4, 4), 9); // empty fourth cell
  assert.equal(at(0, 0), 9);
  assert.equal(at(3, 1), 9);
});

test('PNG written then decoded with pngjs matches pixel by pixel', () => {
  const n = 64;
  const pixels = Uint8Array.from({ length: n * 28 * 28 }, (_, i) => (i * 37 + (i >> 5)) & 255);
  const png = PNG.sync.read(gridPng(pixels, n, 28, 28));
  const { layout, gray } = tileImages(pixels, n, 28, 28);
  assert.equal(png.width, 242);
  assert.equal(png.height, 242);
  assert.equal(png.width, layout.width);
  for (let i = 0; i < layout.width * layout.height; i++) {
    // pngjs decodes to RGBA; a grayscale PNG has R = G = B = the gray value, A = 255.
    assert.equal(png.data[4 * i], gray[i]);
    assert.equal(png.data[4 * i + 1], gray[i]);
    assert.equal(png.data[4 * i + 2], gray[i]);
    assert.equal(png.data[4 * i + 3], 255);
  }
  // and a sample pixel of tile 9 (row 1, col 1) is the source pixel.
  const x = 2 + 1 * 30 + 5,
    y = 2 + 1 * 30 + 7;
  assert.equal(png.data[4 * (y * png.width + x)], pixels[9 * 784 + 7 * 28 + 5]);
});
