import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseIdx, encodeIdx3, encodeIdx1 } from '../src/data/idx';
import { loadImages, scaleToSigned, toBytes, epochOrder, batchesPerEpoch } from '../src/data/mnist';
import { DataError } from '../src/util/errors';
import { tmpDir } from './helpers';

test('IDX3 round trip: encode then parse gives the same dims and bytes', () => {
  const pixels = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => i);
  const buf = encodeIdx3(pixels, 3, 4, 5);
  assert.equal(buf.length, 16 + 60);
  const parsed = parseIdx(buf, 3);
  assert.deepEqual(parsed.dims, [3, 4, 5]);
  assert.deepEqual(Array.from(parsed.data), Array.from(pixels));
});

test('IDX1 round trip', () => {
  const labels = Uint8Array.from([7, 2, 1, 0]);
  const parsed = parseIdx(encodeIdx1(labels), 1);
  assert.deepEqual(parsed.dims, [4]);
  assert.deepEqual(Array.from(parsed.data), [7, 2, 1, 0]);
});

test('IDX: a wrong magic number, a label file read as images, truncation and trailing bytes are errors', () => {
  const good = encodeIdx3(new Uint8Array(2 * 28 * 28), 2, 28, 28);
  const wrongMagic = Uint8Array.from(good);
  wrongMagic[2] = 0x0d; // float32 dtype
  assert.throws(
    () => parseIdx(wrongMagic, 3, 'x'),
    (e: unknown) => e instanceof DataError && /magic number 0x00000d03, expected 0x00000803/.test(e.message),
  );
  assert.throws(() => parseIdx(encodeIdx1(new Uint8Array(3)), 3, 'labels'), /magic number 0x00000801/);
  assert.throws(() => parseIdx(good.subarray(0, 2), 3, 'x'), /truncated: 2 bytes/);
  assert.throws(() => parseIdx(good.subarray(0, 10), 3, 'x'), /truncated inside its header/);
  assert.throws(
    () => parseIdx(good.subarray(0, good.length - 1), 3, 'x'),
    /promises 2 x 28 x 28 = 1568 bytes of data, the file holds 1567/,
  );
  const longer = new Uint8Array(good.length + 5);
  longer.set(good);
  assert.throws(() => parseIdx(longer, 3, 'x'), /5 bytes beyond/);
});

test('the installed MNIST: 60000 training and 10000 test images of 28x28 with labels 0-9', () => {
  const train = loadImages({ labels: true });
  assert.equal(train.n, 60000);
  assert.equal(train.pixels.length, 60000 * 784);
  assert.equal(train.labels!.length, 60000);
  assert.deepEqual([...new Set(train.labels)].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(train.labels![0], 5); // MNIST's famous first digit
  const t10k = loadImages({ split: 't10k', limit: 100 });
  assert.equal(t10k.n, 100);
});

test('loadImages: missing folder, missing file and a corrupt file name the file and the fix', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gan-idx-'));
  assert.throws(() => loadImages({ dir: path.join(dir, 'nope') }), /data folder .* does not exist/);
  assert.throws(() => loadImages({ dir }), /missing data file .*train-images-idx3-ubyte/);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx3(new Uint8Array(4 * 784), 4, 28, 28).subarray(0, 100));
  assert.throws(
    () => loadImages({ dir }),
    (e: unknown) => e instanceof DataError && /train-images-idx3-ubyte is truncated/.test(e.message),
  );
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx3(new Uint8Array(4 * 16), 4, 4, 4));
  assert.throws(() => loadImages({ dir }), /4x4 images; the models here need 28x28/);
  fs.rmSync(dir, { recursive: true });
});

test('scaling maps 0 -> -1 and 255 -> 1, and toBytes inverts it with clipping', () => {
  const x = scaleToSigned(Uint8Array.from([0, 255, 128]));
  assert.equal(x[0], -1);
  assert.equal(x[1], 1);
  assert.deepEqual(Array.from(toBytes(x)), [0, 255, 128]);
  assert.deepEqual(Array.from(toBytes([-3, 3])), [0, 255]);
});

test('epoch order is a permutation that depends on seed and epoch only', () => {
  const a = epochOrder(1000, 1, 1);
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.deepEqual(a, epochOrder(1000, 1, 1));
  assert.notDeepEqual(a, epochOrder(1000, 1, 2));
  assert.notDeepEqual(a, epochOrder(1000, 2, 1));
  assert.equal(batchesPerEpoch(60000, 64), 938);
  assert.equal(batchesPerEpoch(512, 64), 8);
});

test('labels are untrusted: a label of 10 or more (an Embedding(10) index out of range) is refused on read', () => {
  const dir = tmpDir();
  const set = loadImages({ limit: 20, labels: true });
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx3(set.pixels, 20, 28, 28));
  const labels = Uint8Array.from(set.labels!);
  labels[13] = 200;
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx1(labels));
  assert.throws(() => loadImages({ dir, labels: true }), /train-labels-idx1-ubyte: the label of image 13 is 200, not a digit 0-9/);
  assert.equal(loadImages({ dir, labels: true, limit: 13 }).n, 13, 'labels past --limit are not used, nor checked');
  assert.equal(loadImages({ dir }).n, 20, 'an unconditional run does not read them');
});
