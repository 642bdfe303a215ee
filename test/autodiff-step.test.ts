/**
 * The DCGAN's training step (tfjs autodiff, src/train/autodiff-step.ts), for the DCGAN and the
 * conditional DCGAN, against references written out here:
 *   - the losses as binary cross-entropy on probabilities, -[t log p + (1 - t) log(1 - p)], with
 *     the targets each setting implies (1 real / 0 fake; label smoothing's soft targets; the
 *     real half alone with --debug-d-real-only), G's non-saturating loss and feature matching.
 *     The step's gradient is read back from Adam's first moment after one update (m = (1 - beta1) g),
 *     so the whole step is under test: its draws, its targets and which batch is which. Early on
 *     D(x) ~ D(G(z)) ~ 1/2, so swapped targets change the loss little (both near 2 ln 2) but turn
 *     the gradients round.
 *   - D's step differentiates nothing of G: the fakes are made outside its gradient tape.
 *   - batch norm's moving averages as PyTorch updates them (momentum 0.1, unbiased running
 *     variance), in float64.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type * as tfType from '@tensorflow/tfjs';
import { testTf, testConfig, relativeError } from './helpers';
import type { Tf } from '../src/backends';
import type { TrainConfig } from '../src/config';
import { GanTrainer } from '../src/train/trainer';
import { setTensors } from '../src/train/dataset';
import { loadImages } from '../src/data/mnist';
import { noiseTensor, randomLabels, type Network } from '../src/nets/gan-model';
import { Rng, Stream } from '../src/core/rng';

type Tensor = tfType.Tensor;
type Tensor1D = tfType.Tensor1D;
type Tensor2D = tfType.Tensor2D;

const ARCHS: Array<[string, Partial<TrainConfig>]> = [
  ['dcgan', { arch: 'dcgan', channels: 4 }],
  ['conditional dcgan', { arch: 'dcgan', channels: 4, conditional: true }],
];
const STEP = 3;

async function setup(overrides: Partial<TrainConfig>, batch = 8) {
  const tf = await testTf();
  const config = testConfig({ batchSize: batch, ...overrides });
  const trainer = new GanTrainer(tf, config);
  const data = setTensors(tf, loadImages({ limit: batch, labels: true }), trainer.model.spec.workSize);
  const labels = config.conditional ? data.labels : (data.labels?.dispose(), undefined);
  const dispose = () => (trainer.dispose(), data.images.dispose(), labels?.dispose());
  return { tf, config, trainer, real: data.images, labels, dispose };
}

/** The noise (and digits) a step draws for G: stream noiseD/labelsD in D's update, noiseG/labelsG in G's. */
function stepInputs(tf: Tf, c: TrainConfig, b: number, noise: number, digits: number): { z: Tensor2D; labels?: Tensor1D } {
  const z = noiseTensor(tf, b, c.latentDim, Rng.for(c.seed, noise, STEP));
  return { z, labels: c.conditional ? tf.tensor1d(randomLabels(b, Rng.for(c.seed, digits, STEP)), 'int32') : undefined };
}

/** Binary cross-entropy by its definition, mean over the batch: -[t log sigmoid(l) + (1 - t) log(1 - sigmoid(l))]. */
function bce(tf: Tf, logits: Tensor, t: number): tfType.Scalar {
  const p = tf.sigmoid(logits);
  return tf.neg(tf.mean(tf.add(tf.mul(t, tf.log(p)), tf.mul(1 - t, tf.log(tf.sub(1, p)))))) as tfType.Scalar;
}

function bce64(logits: ArrayLike<number>, t: number): number {
  let s = 0;
  for (const l of Array.from(logits)) {
    const p = 1 / (1 + Math.exp(-l));
    s -= t * Math.log(p) + (1 - t) * Math.log(1 - p);
  }
  return s / logits.length;
}

const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;

/** The gradient the optimizer was given at its first update: m = (1 - beta1) g. */
function firstGradients(trainer: GanTrainer, which: 'optD' | 'optG'): Float32Array[] {
  const opt = trainer[which];
  assert.equal(opt.t, 1, 'one update');
  return opt.m.map((m) => (m.dataSync() as Float32Array).map((v) => v / (1 - trainer.config.beta1)));
}

function assertGradients(got: Float32Array[], want: Record<string, Tensor>, vars: tfType.Variable[], what: string): void {
  vars.forEach((v, i) => {
    const e = relativeError(got[i], want[v.name].dataSync());
    assert.ok(e < 1e-4, `${what}: dL/d${v.name} relative error ${e}`);
  });
}

/** D's targets per setting: real rows, and fake rows (absent: D's loss has no fake half). */
const D_CASES: Array<[string, Partial<TrainConfig>, { real: number; fake?: number }]> = [
  ['real 1, fake 0', {}, { real: 1, fake: 0 }],
  ['two-sided label smoothing 0.1: real 0.9, fake 0.1', { labelSmoothing: 0.1 }, { real: 0.9, fake: 0.1 }],
  ['one-sided label smoothing 0.2: real 0.8, fake 0', { labelSmoothing: 0.2, oneSided: true }, { real: 0.8, fake: 0 }],
  ['--debug-d-real-only: the real half alone, target 1', { dRealOnly: true }, { real: 1 }],
  [
    '--debug-d-real-only with one-sided smoothing 0.1: the real half alone, target 0.9',
    { dRealOnly: true, labelSmoothing: 0.1, oneSided: true },
    { real: 0.9 },
  ],
];

for (const [arch, archConfig] of ARCHS) {
  for (const [name, caseConfig, targets] of D_CASES) {
    test(`${arch} D step, ${name}: loss, D(x), D(G(z)) and gradients match the cross-entropy written out`, async () => {
      const { tf, config, trainer, real, labels, dispose } = await setup({ ...archConfig, ...caseConfig });
      const model = trainer.model;
      const vars = model.discriminator.trainable();
      const ref = tf.tidy(() => {
        // D's fakes: G in training mode (batch statistics) on the step's noise.
        const { z, labels: fakeLabels } = stepInputs(tf, config, real.shape[0], Stream.noiseD, Stream.labelsD);
        const fake = model.generate(z, fakeLabels, { batchStats: [] });
        const logits = () => [
          model.discriminate(real, labels, { batchStats: [] }),
          model.discriminate(fake, fakeLabels, { batchStats: [] }),
        ];
        const { grads } = tf.variableGrads(() => {
          const [lr, lf] = logits();
          return (
            targets.fake === undefined ? bce(tf, lr, targets.real) : tf.add(bce(tf, lr, targets.real), bce(tf, lf, targets.fake))
          ) as tfType.Scalar;
        }, vars);
        const [lr, lf] = logits().map((l) => l.dataSync());
        return { grads: grads as Record<string, Tensor>, lr, lf };
      });
      const stats = trainer.stepD(real, STEP, labels);
      const [dLoss, dReal, dFake] = stats.dataSync();
      stats.dispose();
      const loss = bce64(ref.lr, targets.real) + (targets.fake === undefined ? 0 : bce64(ref.lf, targets.fake));
      assert.ok(Math.abs(dLoss - loss) < 1e-5 * loss, `d_loss ${dLoss}, written out ${loss}`);
      const sigmoidMean = (ls: ArrayLike<number>) => mean(Array.from(ls, (l) => 1 / (1 + Math.exp(-l))));
      assert.ok(Math.abs(dReal - sigmoidMean(ref.lr)) < 1e-6, `D(x) ${dReal}`);
      assert.ok(Math.abs(dFake - sigmoidMean(ref.lf)) < 1e-6, `D(G(z)) ${dFake}`);
      assertGradients(firstGradients(trainer, 'optD'), ref.grads, vars, 'D');
      tf.dispose(Object.values(ref.grads));
      dispose();
    });
  }

  test(`${arch} G step: the non-saturating loss -log D(G(z)) and its gradients, through D in training mode`, async () => {
    const { tf, config, trainer, real, dispose } = await setup(archConfig);
    const model = trainer.model;
    const vars = model.generator.trainable();
    const ref = tf.tidy(() => {
      const { z, labels } = stepInputs(tf, config, real.shape[0], Stream.noiseG, Stream.labelsG);
      const logits = () => model.discriminate(model.generate(z, labels, { batchStats: [] }), labels, { batchStats: [] });
      const { grads } = tf.variableGrads(() => bce(tf, logits(), 1), vars);
      return { grads: grads as Record<string, Tensor>, logits: logits().dataSync() };
    });
    const gLoss = trainer.stepG(real.shape[0], STEP);
    assert.ok(
      Math.abs(gLoss.dataSync()[0] - bce64(ref.logits, 1)) < 1e-5,
      `g_loss ${gLoss.dataSync()[0]}, written out ${bce64(ref.logits, 1)}`,
    );
    gLoss.dispose();
    assertGradients(firstGradients(trainer, 'optG'), ref.grads, vars, 'G');
    tf.dispose(Object.values(ref.grads));
    dispose();
  });

  test(`${arch} G step with feature matching: ||mean f(x) - mean f(G(z))||^2 at D's third LeakyReLU (inference mode), and its gradients`, async () => {
    const { tf, config, trainer, real, labels: realLabels, dispose } = await setup({ ...archConfig, featureMatching: true });
    const model = trainer.model;
    const vars = model.generator.trainable();
    const d = model.discriminator;
    const layer = d.spec.layers.findIndex((l) => l.name === 'd_leaky_3');
    const ref = tf.tidy(() => {
      const { z, labels } = stepInputs(tf, config, real.shape[0], Stream.noiseG, Stream.labelsG);
      const realMean = tf.mean(d.forward(real, realLabels, undefined, layer), 0);
      const fakeMean = () => tf.mean(d.forward(model.generate(z, labels, { batchStats: [] }), labels, undefined, layer), 0);
      const { grads } = tf.variableGrads(() => tf.sum(tf.pow(tf.sub(realMean, fakeMean()), 2)) as tfType.Scalar, vars);
      const [r, f] = [realMean.dataSync(), fakeMean().dataSync()];
      return { grads: grads as Record<string, Tensor>, loss: Array.from(r).reduce((s, v, i) => s + (v - f[i]) ** 2, 0) };
    });
    const gLoss = trainer.stepG(real.shape[0], STEP, real, realLabels);
    assert.ok(Math.abs(gLoss.dataSync()[0] - ref.loss) < 1e-4 * ref.loss, `g_loss ${gLoss.dataSync()[0]}, written out ${ref.loss}`);
    gLoss.dispose();
    assertGradients(firstGradients(trainer, 'optG'), ref.grads, vars, 'G');
    tf.dispose(Object.values(ref.grads));
    dispose();
  });
}

/**
 * `tf` with variableGrads spied on: every call differentiates the loss for every trainable
 * variable of the process (what variableGrads does without a list), records the ones the loss
 * reaches, and hands back only those asked for. A variable is reached when its ops are on the
 * call's tape: for D's step, G's would be exactly when the fakes were made on D's tape.
 */
function spyOnGradients(tf: Tf): { tf: Tf; reached: string[][] } {
  const reached: string[][] = [];
  const variableGrads = (f: () => tfType.Scalar, varList?: tfType.Variable[]) => {
    const all = tf.variableGrads(f);
    const asked = new Set(varList?.map((v) => v.name));
    reached.push(Object.keys(all.grads).sort());
    for (const [name, g] of Object.entries(all.grads)) if (varList && !asked.has(name)) (g.dispose(), delete all.grads[name]);
    return all;
  };
  return { tf: Object.create(tf, { variableGrads: { value: variableGrads } }) as Tf, reached };
}

/** Per-channel mean and unbiased (n - 1) variance of an NHWC activation, in float64. */
function channelStats(x: ArrayLike<number>, c: number): { mean: Float64Array; unbiased: Float64Array } {
  const m = x.length / c;
  const mean = new Float64Array(c);
  const unbiased = new Float64Array(c);
  for (let i = 0; i < x.length; i++) mean[i % c] += x[i] / m;
  for (let i = 0; i < x.length; i++) unbiased[i % c] += (x[i] - mean[i % c]) ** 2 / (m - 1);
  return { mean, unbiased };
}
type BatchStats = Map<string, ReturnType<typeof channelStats>>;
type Moving = Map<string, { mean: Float64Array; variance: Float64Array }>;

/** The statistics each batch-norm layer of `net` sees in a training-mode pass over x. */
function bnInputStats(tf: Tf, net: Network, x: Tensor2D, labels?: Tensor1D): BatchStats {
  const out: BatchStats = new Map();
  net.spec.layers.forEach((layer, i) => {
    if (layer.kind !== 'batchNorm') return;
    const h = tf.tidy(() => net.forward(x, labels, { batchStats: [] }, i - 1));
    out.set(layer.name, channelStats(h.dataSync(), h.shape[h.rank - 1]));
    h.dispose();
  });
  return out;
}

/** f of a step's noise (and digits) for G and of G's training-mode images of them; the tensors are then freed. */
function withStepInputs<T>(
  trainer: GanTrainer,
  b: number,
  noise: number,
  digits: number,
  f: (z: Tensor2D, labels: Tensor1D | undefined, fake: Tensor2D) => T,
): T {
  const tf = trainer.tf;
  const { z, labels } = stepInputs(tf, trainer.config, b, noise, digits);
  const fake = tf.tidy(() => trainer.model.generate(z, labels, { batchStats: [] }));
  try {
    return f(z, labels, fake);
  } finally {
    tf.dispose([z, fake, ...(labels ? [labels] : [])]);
  }
}

function readMoving(net: Network, layers: Iterable<string>): Moving {
  const read = (name: string) => Float64Array.from(net.get(name).dataSync());
  return new Map([...layers].map((l) => [l, { mean: read(`${l}/moving_mean`), variance: read(`${l}/moving_variance`) }]));
}

/**
 * Sets each layer's moving averages near a batch's statistics (seeded offsets), so that the
 * batch's share of the update, and the unbiased correction within it, are far above float32
 * rounding (the initial 0 and 1 dwarf D's small activations). Returns what was stored.
 */
function setMoving(tf: Tf, net: Network, near: BatchStats, seed: number): Moving {
  const rng = Rng.for(seed, 0);
  for (const [l, s] of near) {
    const mean = s.mean.map((m, k) => m + Math.sqrt(s.unbiased[k]) * (2 * rng.next() - 1));
    const variance = s.unbiased.map((v) => v * (0.5 + rng.next()));
    tf.tidy(() => {
      net.get(`${l}/moving_mean`).assign(tf.tensor1d(Float32Array.from(mean)));
      net.get(`${l}/moving_variance`).assign(tf.tensor1d(Float32Array.from(variance)));
    });
  }
  return readMoving(net, near.keys());
}

/** PyTorch's BatchNorm2d in training: running = (1 - 0.1) running + 0.1 batch, the running variance from the unbiased one. */
function pytorchUpdate(running: Moving, batch: BatchStats): Moving {
  const out: Moving = new Map();
  for (const [l, r] of running) {
    const s = batch.get(l)!;
    out.set(l, {
      mean: r.mean.map((v, k) => 0.9 * v + 0.1 * s.mean[k]),
      variance: r.variance.map((v, k) => 0.9 * v + 0.1 * s.unbiased[k]),
    });
  }
  return out;
}

function assertMoving(net: Network, want: Moving, what: string): void {
  for (const [l, w] of readMoving(net, want.keys())) {
    for (const key of ['mean', 'variance'] as const) {
      const e = relativeError(w[key], want.get(l)![key]);
      assert.ok(e < 1e-5, `${what}: ${l} moving_${key} relative error ${e}`);
    }
  }
}

for (const [arch, archConfig] of ARCHS) {
  test(`${arch}: D's step differentiates nothing of G (its fakes are detached), while G's step reaches through D`, async () => {
    const spied = spyOnGradients(await testTf());
    const tf = spied.tf;
    const config = testConfig({ batchSize: 8, ...archConfig });
    const trainer = new GanTrainer(tf, config);
    const data = setTensors(tf, loadImages({ limit: 8, labels: true }), trainer.model.spec.workSize);
    const labels = config.conditional ? data.labels : undefined;
    const names = (net: Network) => net.trainable().map((v) => v.name);
    const [g, d] = [names(trainer.model.generator), names(trainer.model.discriminator)];
    trainer.stepD(data.images, 0, labels).dispose();
    assert.equal(spied.reached.length, 1, 'one gradient computation in the D step');
    assert.deepEqual(
      spied.reached[0].filter((n) => g.includes(n)),
      [],
      "D's loss reaches G's variables: the fakes were made on D's gradient tape",
    );
    assert.deepEqual(spied.reached[0], [...d].sort());
    trainer.stepG(8, 0).dispose();
    // The spy sees through a tape: G's loss reaches D's variables, which the step does not update.
    assert.deepEqual(spied.reached[1], [...g, ...d].sort());
    trainer.dispose();
    data.images.dispose();
    data.labels?.dispose();
  });

  test(`${arch}: batch-norm moving averages follow PyTorch in float64 (momentum 0.1, unbiased running variance): G once a step, D on the real then the generated batch`, async () => {
    const { tf, trainer, real, labels, dispose } = await setup(archConfig, 4);
    const { generator: g, discriminator: d } = trainer.model;
    const b = real.shape[0];
    // (1) Update D: G runs once (training mode) on D's noise; D on the real batch, then on the fakes.
    const one = withStepInputs(trainer, b, Stream.noiseD, Stream.labelsD, (z, fl, fake) => ({
      g: bnInputStats(tf, g, z, fl),
      real: bnInputStats(tf, d, real, labels),
      fake: bnInputStats(tf, d, fake, fl),
    }));
    const [g0, d0] = [setMoving(tf, g, one.g, 1), setMoving(tf, d, one.real, 2)];
    trainer.stepD(real, STEP, labels).dispose();
    assertMoving(g, pytorchUpdate(g0, one.g), 'after the D step, G');
    assertMoving(d, pytorchUpdate(pytorchUpdate(d0, one.real), one.fake), 'after the D step, D');
    // (2) Update G: G once on G's noise, and D once on G's images.
    const two = withStepInputs(trainer, b, Stream.noiseG, Stream.labelsG, (z, fl, fake) => ({
      g: bnInputStats(tf, g, z, fl),
      d: bnInputStats(tf, d, fake, fl),
    }));
    const [g1, d1] = [setMoving(tf, g, two.g, 3), setMoving(tf, d, two.d, 4)];
    trainer.stepG(b, STEP).dispose();
    assertMoving(g, pytorchUpdate(g1, two.g), 'after the G step, G');
    assertMoving(d, pytorchUpdate(d1, two.d), 'after the G step, D');
    dispose();
  });
}
