/**
 * The three ways a training set is held (src/train/dataset.ts): as float32 on the device, as
 * bytes on the host, or read from its cache file per batch. The choice by size, the same bytes
 * and fingerprint whichever way, the same batches, and a run whose weights do not depend on it
 * (resumed across ways too).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTrainingSet } from '../src/data/dataset';
import { CacheRowReader } from '../src/data/image-cache';
import { dataFingerprint, isStreamed, type ImageSet, type StreamedImageSet } from '../src/data/mnist';
import { dataBudgets, dataPlacement, gatherRows, openDataset, placementLine } from '../src/train/dataset';
import { ConfigError } from '../src/util/errors';
import { testTf, tmpDir } from './helpers';
import { writeMnistFolder } from './image-fixtures';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');
const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A small folder of coloured digits (40 images, 32x32 RGB, 4 per class), written once for the file. */
let folder: Promise<{ data: string; cache: string }> | undefined;
function digits(): Promise<{ data: string; cache: string }> {
  folder ??= (async () => {
    const work = tmpDir();
    const data = path.join(work, 'digits');
    await writeMnistFolder(data, { perClass: 4, size: 32 });
    return { data, cache: path.join(work, 'cache') };
  })();
  return folder;
}

test('budgets: 1 GiB of float32 on the device, 1 GiB of bytes on the host (an eighth of a small machine); the environment overrides them', () => {
  assert.deepEqual(dataBudgets({}, 24 * GiB), { deviceBytes: GiB, hostBytes: GiB });
  assert.deepEqual(dataBudgets({}, 4 * GiB), { deviceBytes: GiB, hostBytes: GiB / 2 });
  assert.deepEqual(dataBudgets({ GAN_DEVICE_DATA_MB: '0', GAN_HOST_DATA_MB: '1.5' }, 24 * GiB), { deviceBytes: 0, hostBytes: 1.5 * MiB });
  assert.throws(
    () => dataBudgets({ GAN_HOST_DATA_MB: 'lots' }),
    (e: Error) => e instanceof ConfigError && /GAN_HOST_DATA_MB=lots is not a size in MiB/.test(e.message),
  );
  assert.throws(() => dataBudgets({ GAN_DEVICE_DATA_MB: '-1' }), ConfigError);
});

test('placement by size: MNIST and CIFAR-10 on the device, 60,000 64x64 RGB images on the host, a set left in its file streamed', () => {
  const budgets = dataBudgets({}, 24 * GiB);
  const held = (n: number, size: number, channels: number): ImageSet => ({
    pixels: new Uint8Array(0),
    n,
    rows: size,
    cols: size,
    channels,
  });
  assert.equal(dataPlacement(held(60000, 28, 1), 32, budgets), 'device', "MNIST padded to the DCGAN's 32x32: 246 MB");
  assert.equal(dataPlacement(held(50000, 32, 3), 32, budgets), 'device', 'CIFAR-10: 614 MB');
  const big = held(60000, 64, 3);
  assert.equal(dataPlacement(big, 64, budgets), 'host', '2.9 GB of float32');
  assert.equal(placementLine(big, 'host'), 'data: 60000 images held on the host (737 MB), each batch uploaded per step');
  assert.equal(placementLine(big, 'device'), undefined);
  const streamed: StreamedImageSet = { file: '/c/x.bin', pixelOffset: 100, fileChannels: 3, n: 60000, rows: 64, cols: 64, channels: 1 };
  assert.equal(dataPlacement(streamed, 64, { deviceBytes: Infinity }), 'stream');
  assert.equal(
    placementLine(streamed, 'stream'),
    'data: 60000 images streamed from the cache file /c/x.bin (246 MB), each batch read per step',
  );
});

test('gatherRows: the rows asked for, in their order, repeats included', () => {
  const bytes = Uint8Array.from([0, 1, 10, 11, 20, 21]);
  assert.deepEqual(gatherRows(bytes, [2, 0, 2], 2), Uint8Array.from([20, 21, 0, 1, 20, 21]));
});

test('a folder streamed from its cache reads the same bytes, labels and fingerprint as held, in either colour and with --limit', async () => {
  const { data, cache } = await digits();
  for (const color of [undefined, 'gray', 'rgb'] as const) {
    for (const limit of [undefined, 25]) {
      const config = { data, imageSize: 32, limit, conditional: true };
      const held = await loadTrainingSet(config, { color, cacheDir: cache });
      const streamed = await loadTrainingSet(config, { color, cacheDir: cache, streamAbove: 0 });
      const what = `color ${color}, limit ${limit}`;
      assert.ok(!isStreamed(held) && isStreamed(streamed), what);
      assert.equal(streamed.n, held.n, what);
      assert.equal(streamed.channels, held.channels, what);
      assert.deepEqual(streamed.labels, held.labels, what);
      assert.deepEqual(streamed.classNames, held.classNames, what);
      const reader = new CacheRowReader(streamed as StreamedImageSet);
      const all = Int32Array.from({ length: held.n }, (_, i) => i);
      assert.deepEqual(reader.read(all), held.pixels, what);
      reader.close();
      assert.deepEqual(dataFingerprint(streamed), dataFingerprint(held), what);
    }
  }
  // Decoded now, then read from the cache just written; held in memory when the bytes fit under streamAbove (40 x 32 x 32 x 3).
  const all = { data, imageSize: 32, limit: undefined, conditional: false };
  const fresh = path.join(tmpDir(), 'cache');
  const decodedThenStreamed = await loadTrainingSet(all, { cacheDir: fresh, streamAbove: 0 });
  assert.ok(isStreamed(decodedThenStreamed) && decodedThenStreamed.file.startsWith(fresh));
  assert.deepEqual(dataFingerprint(decodedThenStreamed), dataFingerprint(await loadTrainingSet(all, { cacheDir: cache })));
  assert.ok(
    !isStreamed(
      await loadTrainingSet({ data, imageSize: 32, limit: undefined, conditional: false }, { cacheDir: cache, streamAbove: 40 * 3072 }),
    ),
  );
  assert.ok(
    isStreamed(
      await loadTrainingSet({ data, imageSize: 32, limit: undefined, conditional: false }, { cacheDir: cache, streamAbove: 40 * 3072 - 1 }),
    ),
  );
});

test('the three ways give the same batches: floats padded to the working size and labels, for the same rows', async () => {
  const tf = await testTf();
  const { data, cache } = await digits();
  const config = { data, imageSize: 32, limit: undefined, conditional: true };
  const held = await loadTrainingSet(config, { color: 'gray', cacheDir: cache });
  const streamed = await loadTrainingSet(config, { color: 'gray', cacheDir: cache, streamAbove: 0 });
  const rows = Int32Array.from([39, 0, 7, 7, 21]);
  const ways = [
    openDataset(tf, held, 36, { deviceBytes: GiB, hostBytes: GiB }),
    openDataset(tf, held, 36, { deviceBytes: 0, hostBytes: GiB }),
    openDataset(tf, streamed, 36, { deviceBytes: 0, hostBytes: 0 }),
  ];
  assert.deepEqual(
    ways.map((d) => d.held),
    ['device', 'host', 'stream'],
  );
  const before = tf.memory().numTensors;
  const batches = ways.map((d) => {
    const b = d.batch(rows);
    const out = { shape: b.images.shape, images: b.images.dataSync(), labels: b.labels?.dataSync() };
    b.images.dispose();
    b.labels?.dispose();
    return out;
  });
  assert.equal(tf.memory().numTensors, before, 'a batch leaves no tensor behind');
  assert.deepEqual(batches[0].shape, [5, 36 * 36]);
  assert.equal(batches[0].images[0], -1, 'padded with the background');
  assert.deepEqual(
    Array.from(batches[0].labels!),
    Array.from(rows, (r) => held.labels![r]),
  );
  for (const b of batches.slice(1)) assert.deepEqual(b, batches[0]);
  for (const d of ways) d.dispose();
});

function gan(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** sha256 of the newest checkpoint's weight and state files. */
function weightHashes(run: string): Record<string, string> {
  const dir = path.join(run, 'checkpoints');
  const ckpt = path.join(
    dir,
    fs
      .readdirSync(dir)
      .filter((n) => n.startsWith('step-'))
      .sort()
      .pop()!,
  );
  const out: Record<string, string> = {};
  for (const f of ['generator/weights.bin', 'discriminator/weights.bin', 'state.bin'])
    out[f] = crypto
      .createHash('sha256')
      .update(fs.readFileSync(path.join(ckpt, f)))
      .digest('hex');
  return out;
}

test('a run trains to the same weights whichever way holds its data, and resumes across ways', async () => {
  const { data, cache } = await digits();
  const work = tmpDir();
  // Gray from the RGB cache and the first 36 images: both applied as rows are read when streamed.
  const flags = ['train', '--data', data, '--image-size', '32', '--color', 'gray', '--limit', '36', '--batch-size', '8'];
  const model = ['--arch', 'dcgan', '--channels', '4', '--seed', '3'];
  const ways = {
    device: { GAN_CACHE_DIR: cache },
    host: { GAN_CACHE_DIR: cache, GAN_DEVICE_DATA_MB: '0' },
    stream: { GAN_CACHE_DIR: cache, GAN_DEVICE_DATA_MB: '0', GAN_HOST_DATA_MB: '0' },
  };
  const runs: Record<string, Record<string, string>> = {};
  for (const [way, env] of Object.entries(ways)) {
    const out = path.join(work, way);
    const t = gan([...flags, ...model, '--epochs', '2', '--out', out], env);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /36 images, 5 iterations of 8 per epoch/);
    if (way === 'device') assert.doesNotMatch(t.stdout, /^data: /m);
    if (way === 'host') assert.match(t.stdout, /^data: 36 images held on the host \(37 kB\), each batch uploaded per step$/m);
    if (way === 'stream')
      assert.match(t.stdout, /^data: 36 images streamed from the cache file .*\.bin \(37 kB\), each batch read per step$/m);
    runs[way] = weightHashes(out);
  }
  assert.deepEqual(runs.host, runs.device, 'held on the host: the same weights');
  assert.deepEqual(runs.stream, runs.device, 'streamed: the same weights');

  // An epoch streamed, the next on the device: the data's fingerprint agrees, and so do the weights.
  const resumed = path.join(work, 'resumed');
  const first = gan([...flags, ...model, '--epochs', '1', '--out', resumed], ways.stream);
  assert.equal(first.code, 0, first.stderr);
  const second = gan(['train', '--resume', '--out', resumed, '--epochs', '2'], ways.device);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /resuming/);
  assert.deepEqual(weightHashes(resumed), runs.device);
});
