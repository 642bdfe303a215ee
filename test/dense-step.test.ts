/** The hand-written gradients of the training step agree with tfjs's autodiff. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type * as tfType from '@tensorflow/tfjs';
import { denseStep, testTf, testConfig } from './helpers';
import { GanTrainer } from '../src/train/trainer';
import { noiseTensor } from '../src/nets/gan-model';
import { Rng } from '../src/core/rng';
import { loadImages, scaleToSigned } from '../src/data/mnist';

function assertClose(tf: typeof tfType, ours: tfType.Tensor, theirs: tfType.Tensor, what: string): void {
  const scale = Math.max(1e-6, tf.max(tf.abs(theirs)).dataSync()[0]);
  const diff = tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0];
  assert.ok(diff / scale < 1e-4, `${what}: max |difference| ${diff} against max |value| ${scale}`);
}

test('D gradients (real+fake halves, dropout) match tf.variableGrads of the same loss', async () => {
  const tf = await testTf();
  const trainer = new GanTrainer(tf, testConfig());
  const model = trainer.model;
  const b = 8;
  tf.tidy(() => {
    const real = tf.tensor2d(scaleToSigned(loadImages({ limit: b }).pixels), [b, 784]);
    const fake = model.generate(noiseTensor(tf, b, 100, Rng.for(1, 0)));
    const both = tf.concat([real, fake], 0) as tfType.Tensor2D;
    const masks = model.dropoutMasks(2 * b, Rng.for(1, 1));
    const ours = denseStep(trainer).discriminatorGradients(both, masks);
    const vars = model.discriminator.variables;
    const ref = tf.variableGrads(() => {
      const [lr, lf] = tf.split(model.discriminate(both, undefined, { batchStats: [], dropoutMasks: masks }), 2, 0);
      return tf.add(tf.mean(tf.softplus(tf.neg(lr))), tf.mean(tf.softplus(lf))) as tfType.Scalar;
    }, vars);
    assertClose(tf, ours.loss, ref.value, 'd_loss');
    vars.forEach((v, i) => assertClose(tf, ours.grads[i], ref.grads[v.name], `dL/d${v.name}`));
  });
  trainer.dispose();
});

test('G gradients (non-saturating, through D with dropout) match tf.variableGrads', async () => {
  const tf = await testTf();
  const trainer = new GanTrainer(tf, testConfig());
  const model = trainer.model;
  const b = 8;
  tf.tidy(() => {
    const z = noiseTensor(tf, b, 100, Rng.for(2, 0));
    const masks = model.dropoutMasks(b, Rng.for(2, 1));
    const ours = denseStep(trainer).generatorGradients(z, masks);
    const vars = model.generator.variables;
    const ref = tf.variableGrads(
      () =>
        tf.mean(
          tf.softplus(tf.neg(model.discriminate(model.generate(z), undefined, { batchStats: [], dropoutMasks: masks }))),
        ) as tfType.Scalar,
      vars,
    );
    assertClose(tf, ours.loss, ref.value, 'g_loss');
    vars.forEach((v, i) => assertClose(tf, ours.grads[i], ref.grads[v.name], `dL/d${v.name}`));
  });
  trainer.dispose();
});

test('conditional MLP: D and G gradients, the label embeddings included, match tf.variableGrads', async () => {
  const tf = await testTf();
  const trainer = new GanTrainer(tf, testConfig({ conditional: true }));
  const model = trainer.model;
  const b = 8;
  tf.tidy(() => {
    const labels = tf.tensor1d([0, 1, 2, 3, 9, 9, 5, 0], 'int32');
    const real = tf.tensor2d(scaleToSigned(loadImages({ limit: b }).pixels), [b, 784]);
    const fake = model.generate(noiseTensor(tf, b, 100, Rng.for(1, 0)), labels);
    const both = tf.concat([real, fake], 0) as tfType.Tensor2D;
    const bothLabels = tf.concat([labels, labels]) as tfType.Tensor1D;
    const dMasks = model.dropoutMasks(2 * b, Rng.for(1, 1));
    const d = denseStep(trainer).discriminatorGradients(both, dMasks, bothLabels);
    const dVars = model.discriminator.trainable();
    const dRef = tf.variableGrads(() => {
      const [lr, lf] = tf.split(model.discriminate(both, bothLabels, { batchStats: [], dropoutMasks: dMasks }), 2, 0);
      return tf.add(tf.mean(tf.softplus(tf.neg(lr))), tf.mean(tf.softplus(lf))) as tfType.Scalar;
    }, dVars);
    assert.equal(dVars[0].name.endsWith('d_embedding/embeddings'), true);
    dVars.forEach((v, i) => assertClose(tf, d.grads[i], dRef.grads[v.name], `dL/d${v.name}`));

    const z = noiseTensor(tf, b, 100, Rng.for(2, 0));
    const gMasks = model.dropoutMasks(b, Rng.for(2, 1));
    const g = denseStep(trainer).generatorGradients(z, gMasks, labels);
    const gVars = model.generator.trainable();
    const gRef = tf.variableGrads(
      () =>
        tf.mean(
          tf.softplus(tf.neg(model.discriminate(model.generate(z, labels), labels, { batchStats: [], dropoutMasks: gMasks }))),
        ) as tfType.Scalar,
      gVars,
    );
    assertClose(tf, g.loss, gRef.value, 'g_loss');
    gVars.forEach((v, i) => assertClose(tf, g.grads[i], gRef.grads[v.name], `dL/d${v.name}`));
  });
  trainer.dispose();
});
