/** The model family: shapes from the specs, seeded initialisation, and export round trips per architecture. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type * as tfType from '@tensorflow/tfjs';
import { testTf, testConfig } from './helpers';
import { GanModel, noiseTensor } from '../src/nets/gan-model';
import { exportMetadata, toLayersModel } from '../src/nets/export';
import { shapes, forwardFlops, paramSpecs } from '../src/nets/spec';
import { Rng } from '../src/core/rng';
import type { TrainConfig } from '../src/config';

const FAMILY: Array<[string, Partial<TrainConfig>]> = [
  ['mlp', {}],
  ['conditional mlp', { conditional: true }],
  ['dcgan', { arch: 'dcgan', channels: 4 }],
  ['conditional dcgan', { arch: 'dcgan', channels: 4, conditional: true }],
];

test("the seeds' MLP: G 100-256-512-1024-784, D 784-512-256-1, weights as before", async () => {
  const tf = await testTf();
  const config = testConfig();
  const gan = GanModel.create(tf, config, 1);
  assert.deepEqual(
    gan.generator.variables.map((v) => v.shape),
    [[100, 256], [256], [256, 512], [512], [512, 1024], [1024], [1024, 784], [784]],
  );
  assert.deepEqual(
    gan.discriminator.variables.map((v) => v.shape),
    [[784, 512], [512], [512, 256], [256], [256, 1], [1]],
  );
  // 2 * (100*256 + 256*512 + 512*1024 + 1024*784) multiply-adds.
  assert.equal(forwardFlops(gan.spec.generator), 2 * 1483776);
  tf.tidy(() => {
    const images = gan.generate(noiseTensor(tf, 5, 100, Rng.for(1, 0)));
    assert.deepEqual(images.shape, [5, 784]);
    assert.ok(
      images.dataSync().every((x) => x >= -1 && x <= 1),
      'tanh output in [-1, 1]',
    );
    assert.deepEqual(
      gan.discriminate(images, undefined, { batchStats: [], dropoutMasks: gan.dropoutMasks(5, Rng.for(1, 1)) }).shape,
      [5, 1],
    );
  });
  gan.dispose();
});

test("the tutorial's DCGAN: G 1x1 -> 4x4x4C -> 8x8x2C -> 16x16xC -> 32x32x1, D 32x32 -> 16 -> 8 -> 4 -> one logit, no biases", async () => {
  const tf = await testTf();
  const gan = GanModel.create(tf, testConfig({ arch: 'dcgan', channels: 8 }), 1);
  const g = shapes(gan.spec.generator).filter((s) => s.length === 3);
  assert.deepEqual(g[0], [1, 1, 100]);
  assert.deepEqual(g.at(-1), [32, 32, 1]);
  assert.ok(
    g.some((s) => JSON.stringify(s) === '[4,4,32]') &&
      g.some((s) => JSON.stringify(s) === '[8,8,16]') &&
      g.some((s) => JSON.stringify(s) === '[16,16,8]'),
  );
  const d = shapes(gan.spec.discriminator);
  assert.deepEqual(d.at(-1), [1]);
  assert.ok(d.some((s) => JSON.stringify(s) === '[4,4,32]'));
  assert.ok(
    paramSpecs(gan.spec.generator).every((p) => !p.name.endsWith('/bias')),
    'no biases',
  );
  // Kernels: ConvT [4, 4, out, in], Conv [4, 4, in, out].
  assert.deepEqual(gan.generator.get('g_convt_1/kernel').shape, [4, 4, 32, 100]);
  assert.deepEqual(gan.discriminator.get('d_conv_1/kernel').shape, [4, 4, 1, 8]);
  assert.equal(gan.spec.workSize, 32);
  tf.tidy(() => {
    const images = gan.generate(noiseTensor(tf, 3, 100, Rng.for(1, 0)));
    assert.deepEqual(images.shape, [3, 1024]);
    assert.deepEqual(gan.discriminate(images).shape, [3, 1]);
  });
  gan.dispose();
});

test('the same seed gives the same initial weights, for every architecture', async () => {
  const tf = await testTf();
  for (const [name, overrides] of FAMILY) {
    const a = GanModel.create(tf, testConfig(overrides), 9);
    const b = GanModel.create(tf, testConfig(overrides), 9);
    const c = GanModel.create(tf, testConfig(overrides), 10);
    a.generator.variables.forEach((v, i) => assert.deepEqual(v.dataSync(), b.generator.variables[i].dataSync(), `${name}: ${v.name}`));
    assert.notDeepEqual(a.discriminator.variables[0].dataSync(), c.discriminator.variables[0].dataSync(), name);
    [a, b, c].forEach((g) => g.dispose());
  }
});

async function roundTrip(
  tf: typeof tfType,
  model: tfType.LayersModel,
): Promise<{ loaded: tfType.LayersModel; json: tfType.io.ModelArtifacts }> {
  let saved: tfType.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })),
  );
  return { loaded: await tf.loadLayersModel(tf.io.fromMemory(saved!)), json: saved! };
}

test('exported LayersModels (stock layers) compute what our forward pass computes, for every architecture', async () => {
  const tf = await testTf();
  for (const [name, overrides] of FAMILY) {
    const config = testConfig(overrides);
    const gan = GanModel.create(tf, config, 2);
    // Moving averages away from their initial 0 / 1, so the export must carry them.
    for (const net of [gan.generator, gan.discriminator]) {
      net.params.forEach((p, i) => {
        if (p.name.endsWith('moving_mean')) net.variables[i].assign(tf.randomUniform(p.shape, -0.5, 0.5, 'float32', 3));
        if (p.name.endsWith('moving_variance')) net.variables[i].assign(tf.randomUniform(p.shape, 0.5, 2, 'float32', 4));
      });
    }
    for (const net of [gan.generator, gan.discriminator]) {
      const meta = exportMetadata(net.spec, config.arch, 28);
      const model = toLayersModel(tf, net, meta);
      const { loaded, json } = await roundTrip(tf, model);
      assert.deepEqual((json.userDefinedMetadata as { gan: unknown }).gan, JSON.parse(JSON.stringify(meta)));
      tf.tidy(() => {
        const n = 4;
        const x =
          net.spec.name === 'generator'
            ? noiseTensor(tf, n, 100, Rng.for(3, 0))
            : tf.randomUniform([n, gan.spec.workSize ** 2], -1, 1, 'float32', 1);
        const labels = tf.tensor1d([3, 0, 9, 5], 'int32');
        const ours = net.forward(x, config.conditional ? labels : undefined);
        const input = tf.reshape(x, [n, ...net.spec.input]);
        const theirs = loaded.predict(config.conditional ? [input, tf.reshape(labels.toFloat(), [n, 1])] : input) as tfType.Tensor;
        const diff = tf.max(tf.abs(tf.sub(tf.reshape(ours, [-1]), tf.reshape(theirs, [-1])))).dataSync()[0];
        assert.ok(diff < 1e-4, `${name} ${net.spec.name}: max difference ${diff}`);
      });
      model.dispose();
      loaded.dispose();
    }
    gan.dispose();
  }
});
