/**
 * The evaluation measures can fail: real digits score near-0 FID, noise a huge FID and IS near
 * 1, a single digit covers one class. A small classifier (1 epoch on 3,000 images, seconds)
 * stands in for the cached one, so the suite stays fast and needs no cache.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { testTf } from './helpers';
import { trainClassifier, type Classifier } from '../src/eval/classifier';
import { Evaluator } from '../src/eval/evaluator';
import { loadImages } from '../src/data/mnist';
import { Rng } from '../src/core/rng';

let shared: Promise<{ evaluator: Evaluator; classifier: Classifier }> | undefined;
function setup() {
  shared ??= (async () => {
    const tf = await testTf();
    const classifier = await trainClassifier(tf, 'wasm', { limit: 3000, epochs: 1, seed: 3 });
    return { evaluator: new Evaluator(tf, classifier), classifier };
  })();
  return shared;
}

test('the small classifier learns (test accuracy well above chance)', async () => {
  const { classifier } = await setup();
  assert.ok(classifier.info.testAccuracy > 0.85, `accuracy ${classifier.info.testAccuracy}`);
});

test('real vs real: FID near 0, high IS, all 10 classes; uniform noise: huge FID, IS near 1', async () => {
  const { evaluator } = await setup();
  const real = loadImages({ limit: 2000 }); // training images, against the test set
  const r = evaluator.evaluate(real.pixels, real.n, 'real');
  const noisePixels = new Uint8Array(2000 * 784);
  const rng = Rng.for(9, 0);
  for (let i = 0; i < noisePixels.length; i++) noisePixels[i] = rng.int(256);
  const noise = evaluator.evaluate(noisePixels, 2000, 'noise');
  assert.equal(r.classes_covered, 10);
  assert.ok(r.inception_score > 5, `real IS ${r.inception_score}`);
  assert.ok(noise.inception_score < 1.5, `noise IS ${noise.inception_score}`);
  assert.ok(noise.fid > 50 * r.fid, `noise FID ${noise.fid} vs real FID ${r.fid}`);
  assert.ok(r.fid < 0.05 * noise.fid && noise.fid > 10, `real FID ${r.fid}, noise FID ${noise.fid}`);
});

test('a single digit: one class covered, KL to uniform near ln 10, IS near 1', async () => {
  const { evaluator } = await setup();
  const all = loadImages({ labels: true, limit: 10000 });
  const ones: number[] = [];
  for (let i = 0; i < all.n && ones.length < 1000; i++) if (all.labels![i] === 1) ones.push(i);
  const pixels = new Uint8Array(ones.length * 784);
  ones.forEach((src, k) => pixels.set(all.pixels.subarray(src * 784, (src + 1) * 784), k * 784));
  const r = evaluator.evaluate(pixels, ones.length, 'ones');
  assert.equal(r.classes_covered, 1);
  assert.ok(r.histogram[1] > 0.95, `share of 1s ${r.histogram[1]}`);
  assert.ok(Math.abs(r.kl_to_uniform - Math.log(10)) < 0.3, `KL ${r.kl_to_uniform}`);
  assert.ok(r.inception_score < 1.5, `IS ${r.inception_score}`);
});
