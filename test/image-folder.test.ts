/**
 * Folders of images without a backend: torchvision's Resize + CenterCrop arithmetic, PIL's gray,
 * ImageFolder's classes, the folder's fingerprint and cache key, the scan, CIFAR-10's record
 * layout, the decoder on every mode a folder may hold (gray, RGBA, palette, 16-bit, JPEG), and
 * IDX / CIFAR-10 images resized as a folder's are.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { PNG } from 'pngjs';
import { tmpDir } from './helpers';
import {
  classesOf,
  decodeImage,
  folderFingerprint,
  grayFromRgb,
  isGrayRgb,
  resizeCropPlan,
  resizeImages,
  rgbFromGray,
  scanFolder,
} from '../src/data/image-folder';
import { cacheKey } from '../src/data/image-cache';
import { loadCifar } from '../src/data/cifar';
import { dataKind, inColor } from '../src/data/dataset';
import { loadImages, type ImageSet } from '../src/data/mnist';

test('resizeCropPlan is torchvision Resize(N) + CenterCrop(N): shorter side to N, int() of the longer, centre rounded half to even', () => {
  assert.deepEqual(resizeCropPlan(64, 64, 64), { width: 64, height: 64, left: 0, top: 0 });
  assert.deepEqual(resizeCropPlan(100, 50, 64), { width: 128, height: 64, left: 32, top: 0 });
  assert.deepEqual(resizeCropPlan(50, 100, 64), { width: 64, height: 128, left: 0, top: 32 });
  // A 500x333 photo at 32: int(32 * 500 / 333) = 48 wide, cut from x = 8; then the halves of odd remainders:
  assert.deepEqual(resizeCropPlan(500, 333, 32), { width: 48, height: 32, left: 8, top: 0 });
  assert.equal(resizeCropPlan(85, 64, 64).left, 10); // round(10.5) = 10
  assert.equal(resizeCropPlan(87, 64, 64).left, 12); // round(11.5) = 12
  assert.deepEqual(resizeCropPlan(28, 28, 64), { width: 64, height: 64, left: 0, top: 0 }); // upscaling too
});

test('gray from rgb is PIL convert("L"); gray <-> rgb round trips; R = G = B is gray', () => {
  assert.deepEqual([...grayFromRgb(Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30]))], [76, 150, 29, 255, 18]);
  const g = Uint8Array.from([0, 7, 128, 255]);
  assert.deepEqual(grayFromRgb(rgbFromGray(g)), g);
  assert.ok(isGrayRgb(rgbFromGray(g)));
  assert.ok(!isGrayRgb(Uint8Array.from([1, 1, 1, 1, 2, 1])));
  const set = { pixels: g, n: 1, rows: 2, cols: 2 };
  assert.equal(inColor(set, 'gray'), set);
  assert.deepEqual(inColor(set, 'rgb').pixels, rgbFromGray(g));
});

test('classes: the first folder level when every image sits in one, sorted; none when an image lies at the top', () => {
  assert.deepEqual(classesOf(['dog/a.png', 'cat/x/b.png', 'cat/c.png']), { names: ['cat', 'dog'], labels: Uint8Array.from([1, 0, 0]) });
  assert.equal(classesOf(['dog/a.png', 'b.png']), undefined);
  assert.equal(classesOf([]), undefined);
});

test('the fingerprint follows paths, sizes and times; the cache key adds the size', () => {
  const a = [
    { rel: 'a.png', size: 10, mtimeMs: 1 },
    { rel: 'b/c.png', size: 20, mtimeMs: 2 },
  ];
  const f = folderFingerprint(a);
  assert.equal(folderFingerprint(a.map((e) => ({ ...e }))), f);
  assert.notEqual(folderFingerprint([a[0], { ...a[1], mtimeMs: 3 }]), f);
  assert.notEqual(folderFingerprint([a[0], { ...a[1], size: 21 }]), f);
  assert.notEqual(folderFingerprint([a[0], { ...a[1], rel: 'b/d.png' }]), f);
  assert.notEqual(folderFingerprint([a[0]]), f);
  assert.equal(cacheKey(f, 64), cacheKey(f, 64));
  assert.notEqual(cacheKey(f, 64), cacheKey(f, 32));
});

test('scanFolder: recursive, sorted, hidden names skipped, a link loop read once, a dangling link refused in one line', () => {
  const dir = tmpDir();
  fs.mkdirSync(path.join(dir, 'b', 'deep'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'b', 'deep', 'z.png'), 'x');
  fs.writeFileSync(path.join(dir, 'a.png'), 'xy');
  fs.writeFileSync(path.join(dir, '.DS_Store'), 'x');
  fs.symlinkSync(dir, path.join(dir, 'b', 'loop'));
  const rels = scanFolder(dir).map((e) => e.rel);
  assert.deepEqual(rels, ['a.png', 'b/deep/z.png']);
  assert.equal(scanFolder(dir)[0].size, 2);
  fs.symlinkSync(path.join(dir, 'gone.png'), path.join(dir, 'c.png'));
  assert.throws(() => scanFolder(dir), /cannot read c\.png in the data folder \(it is a link to nothing\)/);
});

test('dataKind: IDX files, CIFAR-10 batches, else a folder of images', () => {
  const dir = tmpDir();
  assert.equal(dataKind(undefined), 'idx');
  assert.equal(dataKind(dir), 'images');
  fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), '');
  assert.equal(dataKind(dir), 'cifar');
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte.gz'), '');
  assert.equal(dataKind(dir), 'idx');
});

test('CIFAR-10 records: label byte, then the red, green and blue planes, read as RGB channels last', () => {
  const dir = tmpDir();
  const rec = Buffer.alloc(3073);
  rec[0] = 7;
  rec[1] = 11; // red of pixel 0
  rec[1 + 1024] = 22; // green of pixel 0
  rec[1 + 2048 + 1] = 33; // blue of pixel 1
  fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), Buffer.concat([rec, rec]));
  fs.writeFileSync(path.join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  const c = loadCifar(dir);
  assert.equal(c.n, 2);
  assert.equal(c.channels, 3);
  assert.deepEqual([...c.labels!], [7, 7]);
  assert.deepEqual([...c.pixels.subarray(0, 6)], [11, 22, 0, 0, 0, 33]);
  assert.equal(c.classNames![7], 'horse');
  fs.writeFileSync(path.join(dir, 'data_batch_2.bin'), Buffer.alloc(100));
  assert.throws(() => loadCifar(dir), /not a whole number of CIFAR-10 records/);
});

/** A PNG of raw pixels through pngjs (its 16-bit data is little-endian in memory). */
function png(width: number, height: number, colorType: 0 | 2 | 6, bitDepth: 8 | 16, data: Buffer): Buffer {
  const p = new PNG({ width, height, colorType, inputColorType: colorType, inputHasAlpha: colorType === 6, bitDepth });
  p.data = data;
  return PNG.sync.write(p, { colorType, inputColorType: colorType, inputHasAlpha: colorType === 6, bitDepth });
}

test('decodeImage: gray, 16-bit, RGBA (alpha on black), palette and JPEG all come out as size x size RGB bytes', async () => {
  const gray = await decodeImage(png(8, 8, 0, 8, Buffer.alloc(64, 200)), 'g.png', 8);
  assert.ok('rgb' in gray && gray.rgb.length === 192 && gray.rgb.every((v) => v === 200));
  const d16 = Buffer.alloc(128);
  for (let i = 0; i < 64; i++) d16.writeUInt16LE(40000, 2 * i);
  const g16 = await decodeImage(png(8, 8, 0, 16, d16), 'g16.png', 8);
  assert.ok('rgb' in g16 && g16.rgb.every((v) => v === Math.round(40000 / 257)), '16-bit scaled to 8');
  const rgba = Buffer.alloc(8 * 8 * 4);
  for (let i = 0; i < 64; i++) rgba.set([255, 100, 0, i < 32 ? 255 : 0], 4 * i);
  const a = await decodeImage(png(8, 8, 6, 8, rgba), 'a.png', 8);
  assert.ok('rgb' in a);
  assert.deepEqual([...a.rgb.subarray(0, 3)], [255, 100, 0]);
  assert.deepEqual([...a.rgb.subarray(189)], [0, 0, 0], 'transparent pixels are black');
  const pal = await sharp(rgba, { raw: { width: 8, height: 8, channels: 4 } })
    .png({ palette: true })
    .toBuffer();
  const p = await decodeImage(pal, 'p.png', 8);
  assert.ok('rgb' in p && p.rgb[0] > 200 && p.rgb[189] === 0);
  const jpg = await sharp(Buffer.alloc(40 * 20 * 3, 120), { raw: { width: 40, height: 20, channels: 3 } })
    .jpeg()
    .toBuffer();
  const j = await decodeImage(jpg, 'j.jpg', 16);
  assert.ok('rgb' in j && j.rgb.length === 16 * 16 * 3 && Math.abs(j.rgb[0] - 120) <= 2);
  const text = await decodeImage(Buffer.from('not an image'), 'notes.txt', 8);
  assert.ok('notImage' in text);
});

test('resizeImages: IDX and CIFAR-10 images at another --image-size, by the same filter as a folder of the same pictures', async () => {
  const mnist = loadImages({ limit: 6, labels: true });
  const big = await resizeImages(mnist, 64);
  assert.deepEqual([big.n, big.rows, big.cols, big.channels ?? 1, big.pixels.length], [6, 64, 64, 1, 6 * 64 * 64]);
  assert.deepEqual(big.labels, mnist.labels, 'labels kept');
  for (let i = 0; i < mnist.n; i++) {
    // The same digit written as a PNG and decoded from a folder at 64x64: the same bytes.
    const file = png(28, 28, 0, 8, Buffer.from(mnist.pixels.subarray(i * 784, (i + 1) * 784)));
    const decoded = await decodeImage(file, `${i}.png`, 64);
    assert.ok('rgb' in decoded);
    assert.deepEqual(grayFromRgb(decoded.rgb), big.pixels.subarray(i * 4096, (i + 1) * 4096), `digit ${i}`);
  }
  const colour: ImageSet = {
    pixels: Uint8Array.from({ length: 2 * 32 * 32 * 3 }, (_, k) => (k % 3) * 100),
    n: 2,
    rows: 32,
    cols: 32,
    channels: 3,
  };
  const small = await resizeImages(colour, 16);
  assert.deepEqual([small.rows, small.channels, small.pixels.length], [16, 3, 2 * 16 * 16 * 3]);
  assert.ok(
    small.pixels.every((v, k) => v === (k % 3) * 100),
    'a flat colour stays that colour, channels in place',
  );
});
