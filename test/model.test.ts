import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { testTf, testConfig } from './helpers';
import { MlpGan, noiseTensor, toLayersModel, generatorWidths, discriminatorWidths } from '../src/model';
import { Rng } from '../src/rng';

test('the seeds model: G 100-256-512-1024-784, D 784-512-256-1, with the shapes they promise', async () => {
  const tf = await testTf();
  const config = testConfig();
  assert.deepEqual(generatorWidths(config), [100, 256, 512, 1024, 784]);
  assert.deepEqual(discriminatorWidths(config), [784, 512, 256, 1]);
  const gan = MlpGan.create(tf, config, 1);
  assert.deepEqual(gan.generator.variables().map((v) => v.shape), [[100, 256], [256], [256, 512], [512], [512, 1024], [1024], [1024, 784], [784]]);
  assert.deepEqual(gan.discriminator.variables().map((v) => v.shape), [[784, 512], [512], [512, 256], [256], [256, 1], [1]]);
  tf.tidy(() => {
    const images = gan.generate(noiseTensor(tf, 5, 100, Rng.for(1, 0)));
    assert.deepEqual(images.shape, [5, 784]);
    const v = images.dataSync();
    assert.ok(v.every((x) => x >= -1 && x <= 1), 'tanh output in [-1, 1]');
    const logits = gan.discriminate(images, gan.dropoutMasks(5, Rng.for(1, 1)));
    assert.deepEqual(logits.shape, [5, 1]);
  });
  gan.dispose();
});

test('the same seed gives the same initial weights', async () => {
  const tf = await testTf();
  const a = MlpGan.create(tf, testConfig(), 9);
  const b = MlpGan.create(tf, testConfig(), 9);
  const c = MlpGan.create(tf, testConfig(), 10);
  assert.deepEqual(a.generator.layers[0].kernel.dataSync(), b.generator.layers[0].kernel.dataSync());
  assert.notDeepEqual(a.generator.layers[0].kernel.dataSync(), c.generator.layers[0].kernel.dataSync());
  [a, b, c].forEach((g) => g.dispose());
});

test('the exported LayersModel computes what our forward pass computes (browser-loadable format)', async () => {
  const tf = await testTf();
  const config = testConfig();
  const gan = MlpGan.create(tf, config, 2);
  for (const which of ['generator', 'discriminator'] as const) {
    const stack = which === 'generator' ? gan.generator : gan.discriminator;
    const model = toLayersModel(tf, config, which, stack);
    let saved: import('@tensorflow/tfjs').io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    tf.tidy(() => {
      const x = which === 'generator' ? noiseTensor(tf, 4, 100, Rng.for(3, 0)) : tf.randomUniform([4, 784], -1, 1, 'float32', 1);
      const ours = which === 'generator' ? gan.generate(x as import('@tensorflow/tfjs').Tensor2D) : gan.discriminate(x as import('@tensorflow/tfjs').Tensor2D);
      const theirs = loaded.predict(x) as import('@tensorflow/tfjs').Tensor;
      const diff = tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0];
      assert.ok(diff < 1e-5, `${which}: max difference ${diff}`);
    });
    model.dispose();
    loaded.dispose();
  }
  gan.dispose();
});
