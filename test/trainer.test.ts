import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { testTf, testConfig, snapshot, changed } from './helpers';
import { GanTrainer } from '../src/train/trainer';
import { loadImages, scaleToSigned } from '../src/data/mnist';

async function setup(batch = 16) {
  const tf = await testTf();
  const trainer = new GanTrainer(tf, testConfig({ batchSize: batch }));
  const images = loadImages({ limit: batch });
  const real = tf.tensor2d(scaleToSigned(images.pixels), [batch, 784]);
  return { tf, trainer, real };
}

test('a D step changes every D variable and no G variable', async () => {
  const { trainer, real } = await setup();
  const g0 = snapshot(trainer.model.generator.variables);
  const d0 = snapshot(trainer.model.discriminator.variables);
  trainer.stepD(real, 0).dispose();
  const g1 = snapshot(trainer.model.generator.variables);
  const d1 = snapshot(trainer.model.discriminator.variables);
  g0.forEach((w, i) => assert.ok(!changed(w, g1[i]), `G variable ${i} changed in the D step`));
  d0.forEach((w, i) => assert.ok(changed(w, d1[i]), `D variable ${i} did not change in the D step`));
  assert.equal(trainer.optD.t, 1);
  assert.equal(trainer.optG.t, 0);
  trainer.dispose();
  real.dispose();
});

test('a G step changes every G variable and no D variable (gradients flow through D into G only)', async () => {
  const { trainer, real } = await setup();
  const g0 = snapshot(trainer.model.generator.variables);
  const d0 = snapshot(trainer.model.discriminator.variables);
  trainer.stepG(16, 0).dispose();
  const g1 = snapshot(trainer.model.generator.variables);
  const d1 = snapshot(trainer.model.discriminator.variables);
  d0.forEach((w, i) => assert.ok(!changed(w, d1[i]), `D variable ${i} changed in the G step`));
  g0.forEach((w, i) => assert.ok(changed(w, g1[i]), `G variable ${i} did not change in the G step`));
  assert.equal(trainer.optG.t, 1);
  assert.equal(trainer.optD.t, 0);
  trainer.dispose();
  real.dispose();
});

test('losses start where BCE theory says: d_loss ~ 2 ln 2, g_loss ~ ln 2, D outputs ~ 1/2', async () => {
  const { trainer, real } = await setup(64 > 16 ? 16 : 64);
  const stats = trainer.step(real, 0);
  const [dLoss, gLoss, dReal, dFake] = stats.dataSync();
  stats.dispose();
  assert.ok(Math.abs(dLoss - 2 * Math.LN2) < 0.3, `d_loss ${dLoss}`);
  assert.ok(Math.abs(gLoss - Math.LN2) < 0.3, `g_loss ${gLoss}`);
  assert.ok(Math.abs(dReal - 0.5) < 0.1 && Math.abs(dFake - 0.5) < 0.1, `D(x) ${dReal} D(G(z)) ${dFake}`);
  trainer.dispose();
  real.dispose();
});

test('no tensor leaks: tf.memory().numTensors is constant over many steps', async () => {
  const { tf, trainer, real } = await setup();
  trainer.step(real, 0).dispose(); // warm-up
  const before = tf.memory().numTensors;
  for (let s = 1; s <= 25; s++) trainer.step(real, s).dispose();
  assert.equal(tf.memory().numTensors, before);
  trainer.dispose();
  real.dispose();
});

test('steps are deterministic: the same seed and step give bit-identical weights', async () => {
  const a = await setup();
  const b = await setup();
  for (let s = 0; s < 3; s++) {
    a.trainer.step(a.real, s).dispose();
    b.trainer.step(b.real, s).dispose();
  }
  const wa = snapshot(a.trainer.model.generator.variables);
  const wb = snapshot(b.trainer.model.generator.variables);
  wa.forEach((w, i) => assert.ok(!changed(w, wb[i]), `G variable ${i} differs`));
  for (const x of [a, b]) {
    x.trainer.dispose();
    x.real.dispose();
  }
});
