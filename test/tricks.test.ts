/**
 * The stabilising tricks (src/train/tricks.ts): each formula against its closed form, the written-out
 * gradients of feature matching, label smoothing and historical averaging against tfjs autodiff,
 * and the replay ring's contents. Exact resume with every trick on is in test/resume.test.ts.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type * as tfType from '@tensorflow/tfjs';
import { denseStep, testTf, testConfig, snapshot, tmpDir } from './helpers';
import { GanTrainer } from '../src/train/trainer';
import { train } from '../src/train/loop';
import { sampleRun } from '../src/run/sample';
import { loadLatestCheckpoint, disposeLoaded } from '../src/run/checkpoint';
import { GanModel, Network, generatePixels, noiseTensor } from '../src/nets/gan-model';
import { ganSpec } from '../src/nets';
import { Rng, Stream } from '../src/core/rng';
import { loadImages, scaleToSigned } from '../src/data/mnist';
import { DEFAULT_TRICKS, PRESETS, applyPreset, resolveTrainConfig, type TrickConfig } from '../src/config';
import { ReplayRing, featureDistance, featureLayerIndex, gaussianNoise, instanceNoiseStd, smoothedTargets } from '../src/train/tricks';

const tricks = (t: Partial<TrickConfig>): TrickConfig => ({ ...DEFAULT_TRICKS, ...t });
const f32 = (x: number) => Math.fround(x);

function assertClose(tf: typeof tfType, ours: tfType.Tensor, theirs: tfType.Tensor, what: string, tol = 1e-4): void {
  const scale = Math.max(1e-6, tf.max(tf.abs(theirs)).dataSync()[0]);
  const diff = tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0];
  assert.ok(diff / scale < tol, `${what}: max |difference| ${diff} against max |value| ${scale}`);
}

test('label smoothing: targets are 1-S / S (two-sided), 1-S / 0 (one-sided), U[1-S, 1) per real sample (uniform), and none when off', () => {
  const b = 4;
  assert.equal(smoothedTargets(tricks({}), b, 1, 0), undefined);
  assert.deepEqual(
    [...smoothedTargets(tricks({ labelSmoothing: 0.1 }), b, 1, 0)!],
    [...Array(b).fill(f32(0.9)), ...Array(b).fill(f32(0.1))],
  );
  assert.deepEqual(
    [...smoothedTargets(tricks({ labelSmoothing: 0.2, oneSided: true }), b, 1, 0)!],
    [...Array(b).fill(f32(0.8)), ...Array(b).fill(0)],
  );
  const c = tricks({ labelSmoothing: 0.3, smoothReal: 'uniform', oneSided: true });
  const t = smoothedTargets(c, 1000, 7, 42)!;
  const rng = Rng.for(7, Stream.smoothing, 42);
  for (let i = 0; i < 1000; i++) assert.equal(t[i], f32(0.7 + 0.3 * rng.next()));
  const real = t.subarray(0, 1000);
  assert.ok(Math.min(...real) >= f32(0.7) && Math.max(...real) < 1, 'real targets in [1-S, 1)');
  assert.ok(Math.abs(real.reduce((a, v) => a + v, 0) / 1000 - 0.85) < 0.02, 'mean of U[0.7, 1) near 0.85');
  assert.ok(t.subarray(1000).every((v) => v === 0));
  // The same step draws the same targets; another step others.
  assert.deepEqual(smoothedTargets(c, 8, 7, 42), smoothedTargets(c, 8, 7, 42));
  assert.notDeepEqual(smoothedTargets(c, 8, 7, 42), smoothedTargets(c, 8, 7, 43));
});

test('instance noise: std sigma * R^epoch, drawn from the seeded stream with that std', async () => {
  const tf = await testTf();
  const c = tricks({ instanceNoise: 0.2, noiseDecay: 0.5 });
  assert.deepEqual(
    [0, 1, 2, 3].map((e) => instanceNoiseStd(c, e)),
    [0.2, 0.1, 0.05, 0.025],
  );
  assert.equal(instanceNoiseStd(tricks({ instanceNoise: 0.1 }), 9), 0.1);
  const n = gaussianNoise(tf, 100, 784, 0.1, Rng.for(3, Stream.instanceNoiseD, 5));
  const v = n.dataSync() as Float32Array;
  const mean = v.reduce((a, x) => a + x, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
  assert.ok(Math.abs(mean) < 0.002 && Math.abs(std - 0.1) < 0.002, `mean ${mean}, std ${std}`);
  const again = gaussianNoise(tf, 100, 784, 0.1, Rng.for(3, Stream.instanceNoiseD, 5));
  assert.deepEqual(again.dataSync(), v);
  n.dispose();
  again.dispose();
});

test('the preset fills in the settings the user did not give (its learning rate included), and explicit flags win', () => {
  for (const arch of ['mlp', 'dcgan'] as const) {
    const preset = PRESETS.stable[arch];
    const c = resolveTrainConfig({ seed: 1, ...applyPreset({ arch }, 'stable') });
    for (const [key, value] of Object.entries(preset)) assert.equal(c[key as keyof typeof c], value, `${arch}: ${key}`);
    const given = resolveTrainConfig({ seed: 1, ...applyPreset({ arch, labelSmoothing: 0.2, lr: 0.0001, ema: 0.9 }, 'stable') });
    assert.deepEqual([given.labelSmoothing, given.lr, given.ema], [0.2, 0.0001, 0.9], arch);
  }
  assert.throws(() => applyPreset({}, 'wild'), /unknown preset 'wild'.*stable/);
  assert.throws(() => resolveTrainConfig({ seed: 1, oneSided: true }), /--one-sided needs --label-smoothing/);
});

test("feature matching uses D's last hidden activation: the MLP's second LeakyReLU, the DCGAN's third", async () => {
  const tf = await testTf();
  for (const [overrides, name, shape] of [
    [{}, 'd_leaky_2', [8, 256]],
    [{ arch: 'dcgan', channels: 4 }, 'd_leaky_3', [8, 4, 4, 16]],
  ] as const) {
    const trainer = new GanTrainer(tf, testConfig({ ...overrides, featureMatching: true }));
    const spec = trainer.model.spec.discriminator;
    assert.equal(spec.layers[featureLayerIndex(spec)].name, name);
    const f = tf.tidy(() =>
      trainer.model.discriminator.forward(tf.zeros([8, trainer.model.spec.workSize ** 2]), undefined, undefined, trainer.featureLayer),
    );
    assert.deepEqual(f.shape, shape);
    f.dispose();
    trainer.dispose();
  }
});

for (const conditional of [false, true]) {
  test(`feature matching${conditional ? ' (conditional)' : ''}: written-out G gradients, with instance noise, match tf.variableGrads`, async () => {
    const tf = await testTf();
    const trainer = new GanTrainer(tf, testConfig({ featureMatching: true, conditional, instanceNoise: 0.1 }));
    const model = trainer.model;
    const b = 8;
    tf.tidy(() => {
      const labels = conditional ? tf.tensor1d([0, 1, 2, 3, 9, 9, 5, 0], 'int32') : undefined;
      const real = tf.tensor2d(scaleToSigned(loadImages({ limit: b }).pixels), [b, 784]);
      const realMean = tf.mean(model.discriminator.forward(real, labels, undefined, trainer.featureLayer), 0, true);
      const z = noiseTensor(tf, b, 100, Rng.for(2, 0));
      const noise = gaussianNoise(tf, b, 784, 0.1, Rng.for(2, 1));
      const ours = denseStep(trainer).generatorGradients(z, [], labels, { inputNoise: noise, realFeatureMean: realMean });
      const vars = model.generator.trainable();
      const ref = tf.variableGrads(
        () =>
          featureDistance(
            tf,
            trainer.model.discriminator,
            trainer.featureLayer,
            tf.add(model.generate(z, labels), noise) as tfType.Tensor2D,
            labels,
            realMean,
          ),
        vars,
      );
      assertClose(tf, ours.loss, ref.value, 'feature matching loss');
      assert.ok(ours.loss.dataSync()[0] > 0);
      vars.forEach((v, i) => assertClose(tf, ours.grads[i], ref.grads[v.name], `dL/d${v.name}`));
    });
    trainer.dispose();
  });
}

test('label smoothing: written-out D gradients with soft targets (and the real-only weights) match tf.variableGrads', async () => {
  const tf = await testTf();
  const trainer = new GanTrainer(tf, testConfig({ labelSmoothing: 0.2, smoothReal: 'uniform' }));
  const model = trainer.model;
  const b = 8;
  tf.tidy(() => {
    const real = tf.tensor2d(scaleToSigned(loadImages({ limit: b }).pixels), [b, 784]);
    const both = tf.concat([real, model.generate(noiseTensor(tf, b, 100, Rng.for(1, 0)))], 0) as tfType.Tensor2D;
    const masks = model.dropoutMasks(2 * b, Rng.for(1, 1));
    const target = tf.tensor2d(smoothedTargets(trainer.config, b, 1, 3)!, [2 * b, 1]);
    const vars = model.discriminator.variables;
    for (const weight of [undefined, tf.tensor2d(new Float32Array(2 * b).fill(1, 0, b), [2 * b, 1])]) {
      const ours = denseStep(trainer).discriminatorGradients(both, masks, undefined, { target, weight });
      const ref = tf.variableGrads(() => {
        const l = model.discriminate(both, undefined, { batchStats: [], dropoutMasks: masks });
        // t * BCE(l, 1) + (1 - t) * BCE(l, 0), summed over rows and divided by B (each half a mean).
        const row = tf.add(tf.mul(target, tf.softplus(tf.neg(l))), tf.mul(tf.sub(1, target), tf.softplus(l)));
        return tf.div(tf.sum(weight ? tf.mul(row, weight) : row), b) as tfType.Scalar;
      }, vars);
      assertClose(tf, ours.loss, ref.value, 'smoothed d_loss');
      vars.forEach((v, i) => assertClose(tf, ours.grads[i], ref.grads[v.name], `dL/d${v.name}${weight ? ' (real only)' : ''}`));
    }
  });
  trainer.dispose();
});

test("historical averaging: the penalty gradient added to D's matches tf.variableGrads of loss + lambda ||theta - mean||^2", async () => {
  const tf = await testTf();
  const trainer = new GanTrainer(tf, testConfig({ historicalAveraging: 0.5 }));
  const model = trainer.model;
  const b = 8;
  // Move the weights away from their running mean first, so the penalty is not zero.
  const data = tf.tensor2d(scaleToSigned(loadImages({ limit: b }).pixels), [b, 784]);
  for (let s = 0; s < 2; s++) trainer.step(data, s).dispose();
  tf.tidy(() => {
    const both = tf.concat([data, model.generate(noiseTensor(tf, b, 100, Rng.for(1, 0)))], 0) as tfType.Tensor2D;
    const masks = model.dropoutMasks(2 * b, Rng.for(1, 1));
    const vars = model.discriminator.variables;
    const ours = trainer.historyD!.addPenalty(denseStep(trainer).discriminatorGradients(both, masks).grads, vars);
    assert.ok(trainer.historyD!.penalty(vars).dataSync()[0] > 0);
    const ref = tf.variableGrads(() => {
      const [lr, lf] = tf.split(model.discriminate(both, undefined, { batchStats: [], dropoutMasks: masks }), 2, 0);
      const bce = tf.add(tf.mean(tf.softplus(tf.neg(lr))), tf.mean(tf.softplus(lf)));
      return tf.add(bce, trainer.historyD!.penalty(vars)) as tfType.Scalar;
    }, vars);
    vars.forEach((v, i) => assertClose(tf, ours[i], ref.grads[v.name], `dL/d${v.name}`));
  });
  data.dispose();
  trainer.dispose();
});

test('historical averaging and the EMA generator follow their closed forms over a few steps', async () => {
  const tf = await testTf();
  const decay = 0.8;
  const trainer = new GanTrainer(tf, testConfig({ historicalAveraging: 0.01, ema: decay, batchSize: 8 }));
  const b = 8;
  const data = tf.tensor2d(scaleToSigned(loadImages({ limit: b }).pixels), [b, 784]);
  const gHistory = [snapshot(trainer.model.generator.variables)];
  const dHistory = [snapshot(trainer.model.discriminator.variables)];
  for (let s = 0; s < 4; s++) {
    trainer.step(data, s).dispose();
    gHistory.push(snapshot(trainer.model.generator.variables));
    dHistory.push(snapshot(trainer.model.discriminator.variables));
  }
  const t = gHistory.length - 1;
  const check = (got: Float32Array, want: (k: number) => number, what: string) => {
    for (let k = 0; k < got.length; k += 97) assert.ok(Math.abs(got[k] - want(k)) < 1e-6, `${what}[${k}]: ${got[k]} vs ${want(k)}`);
  };
  // Historical average: the plain mean of theta_0 .. theta_t.
  for (const [name, history, avg] of [
    ['G', gHistory, trainer.historyG!],
    ['D', dHistory, trainer.historyD!],
  ] as const) {
    snapshot(avg.averages).forEach((got, v) =>
      check(got, (k) => history.reduce((a, h) => a + h[v][k], 0) / history.length, `${name} mean ${v}`),
    );
  }
  // EMA: decay^t theta_0 + (1 - decay) sum_i decay^(t - i) theta_i.
  snapshot(trainer.ema!.network.variables).forEach((got, v) =>
    check(
      got,
      (k) => decay ** t * gHistory[0][v][k] + gHistory.slice(1).reduce((a, h, i) => a + (1 - decay) * decay ** (t - 1 - i) * h[v][k], 0),
      `EMA ${v}`,
    ),
  );
  data.dispose();
  trainer.dispose();
});

test('replay ring: keeps the last K batches oldest first, draws only stored rows reproducibly, and round-trips through its tensors', async () => {
  const tf = await testTf();
  const ring = new ReplayRing(tf, 3);
  const batch = (k: number) =>
    tf.tensor2d(
      Float32Array.from({ length: 4 * 2 }, (_, i) => 10 * k + Math.floor(i / 2)),
      [4, 2],
    );
  for (let k = 1; k <= 5; k++) {
    const x = batch(k);
    ring.push(x, tf.tensor1d([k, k, k, k], 'int32'));
    x.dispose();
  }
  assert.equal(ring.size, 3);
  assert.deepEqual(
    ring.contents().map((s) => s.images.dataSync()[0]),
    [30, 40, 50],
  );
  const drawn = ring.draw(6, Rng.for(1, Stream.replay, 9))!;
  const rows = drawn.images.arraySync() as number[][];
  const labels = drawn.labels!.arraySync() as number[];
  rows.forEach((r, i) => {
    assert.equal(r[0], r[1]);
    assert.ok([3, 4, 5].includes(Math.floor(r[0] / 10)) && r[0] % 10 < 4, `row ${r} was stored`);
    assert.equal(labels[i], Math.floor(r[0] / 10), 'labels travel with their images');
  });
  assert.deepEqual(ring.draw(6, Rng.for(1, Stream.replay, 9))!.images.arraySync(), rows);
  const copy = new ReplayRing(tf, 3);
  copy.restore(Object.fromEntries(ring.tensors().map((t) => [t.name, t.tensor])));
  assert.deepEqual(
    copy.contents().map((s) => [...s.images.dataSync()]),
    ring.contents().map((s) => [...s.images.dataSync()]),
  );
  ring.dispose();
  copy.dispose();
});

test("replay in training: the ring holds the fakes of the last K steps, and D's fake half mixes them in", async () => {
  const tf = await testTf();
  const trainer = new GanTrainer(tf, testConfig({ replay: 2, replayFraction: 0.5, batchSize: 8 }));
  const b = 8;
  const data = tf.tensor2d(scaleToSigned(loadImages({ limit: b }).pixels), [b, 784]);
  const expected: Float32Array[] = [];
  let before = 0;
  for (let s = 0; s < 3; s++) {
    // D's fresh fakes at step s: G as it stands before the step, on the step's noise.
    const fake = tf.tidy(() => trainer.model.generate(noiseTensor(tf, b, 100, Rng.for(1, Stream.noiseD, s))));
    expected.push(Float32Array.from(fake.dataSync()));
    fake.dispose();
    if (s === 2) before = tf.memory().numTensors;
    trainer.step(data, s).dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'a full ring stays full (the oldest batch is freed) and nothing else leaks');
  const stored = trainer.replay!.contents().map((c) => c.images.dataSync() as Float32Array);
  assert.equal(stored.length, 2);
  for (const [i, s] of [1, 2].entries())
    assert.ok(
      stored[i].every((v, k) => v === expected[s][k]),
      `slot ${i} holds step ${s}'s fakes`,
    );
  data.dispose();
  trainer.dispose();
});

test("--ema: checkpoints carry ema_generator/, and sampling draws the EMA network's own pixels unless the raw generator is asked for", async () => {
  const tf = await testTf();
  const runDir = tmpDir();
  await train({ tf, backend: 'wasm', config: testConfig({ ema: 0.5, epochs: 1, limit: 64, batchSize: 32, gridSize: 4 }), runDir });
  const { checkpoint } = loadLatestCheckpoint(tf, runDir);
  assert.ok(checkpoint.emaGeneratorWeights, 'the checkpoint has the EMA generator');
  assert.ok(Object.keys(checkpoint.state.files).includes('ema_generator/weights.bin'), 'its files are hashed in state.json');
  // What each stored generator draws itself, on gan sample's noise for --seed 1.
  const spec = ganSpec(checkpoint.state.config);
  const own = async (weights: tfType.Tensor[]) => {
    const g = Network.fromValues(tf, spec.generator, weights);
    const model = new GanModel(tf, checkpoint.state.config, g, Network.fromValues(tf, spec.discriminator, checkpoint.discriminatorWeights));
    const pixels = await generatePixels(tf, model, 8, Rng.for(1, Stream.sample));
    model.dispose();
    return pixels;
  };
  const [emaOwn, rawOwn] = [await own(checkpoint.emaGeneratorWeights), await own(checkpoint.generatorWeights)];
  disposeLoaded(checkpoint);
  assert.notDeepEqual(emaOwn, rawOwn, 'the two generators draw different pixels, so the comparisons below tell them apart');
  const ema = await sampleRun(tf, runDir, { n: 8, seed: 1 });
  const raw = await sampleRun(tf, runDir, { n: 8, seed: 1, raw: true });
  assert.equal(ema.generator, 'ema');
  assert.equal(raw.generator, 'raw');
  assert.deepEqual(ema.pixels, emaOwn);
  assert.deepEqual(raw.pixels, rawOwn);
});
