/**
 * Training-mode batch norm (src/backends/native/batchnorm.ts) against float64 references: the forward
 * by definition, the gradients by central differences of the float64 forward, and the same
 * gradients by tfjs autodiff of the naive formula.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type * as tfType from '@tensorflow/tfjs';
import { testTf, relativeError, onStack } from './helpers';
import { Rng } from '../src/core/rng';
import { batchNormTraining } from '../src/backends/native/batchnorm';

/** y, mean and biased variance of NHWC x in float64. */
function batchNormReference(x: ArrayLike<number>, shape: number[], gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number) {
  const c = shape[3];
  const m = x.length / c;
  const mean = new Float64Array(c),
    variance = new Float64Array(c);
  for (let i = 0; i < x.length; i++) mean[i % c] += x[i] / m;
  for (let i = 0; i < x.length; i++) variance[i % c] += (x[i] - mean[i % c]) ** 2 / m;
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const k = i % c;
    y[i] = ((x[i] - mean[k]) / Math.sqrt(variance[k] + eps)) * gamma[k] + beta[k];
  }
  return { y, mean, variance };
}

/** d/dv of L = sum(r * y) for each element of v, by central differences in float64. */
function numericGrad(v: Float64Array, loss: () => number): Float64Array {
  const g = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const keep = v[i];
    const h = 1e-5 * Math.max(1, Math.abs(keep));
    v[i] = keep + h;
    const up = loss();
    v[i] = keep - h;
    const down = loss();
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

function randomCase(seed: number, shape: [number, number, number, number]) {
  const c = shape[3];
  const size = shape.reduce((a, b) => a * b);
  // An offset and a scale per channel, as activations have, so the centring matters.
  const x = Rng.for(seed, 0)
    .fillUniform(new Float32Array(size), -1, 1)
    .map((v, i) => 3 * (i % c) - 2 + v * (1 + (i % c)));
  const gamma = Rng.for(seed, 1).fillUniform(new Float32Array(c), 0.5, 1.5);
  const beta = Rng.for(seed, 2).fillUniform(new Float32Array(c), -0.5, 0.5);
  const r = Rng.for(seed, 3).fillUniform(new Float32Array(size), -1, 1);
  return { x, gamma, beta, r };
}

test(onStack('batchNormTraining: forward, mean, biased variance and all three gradients match float64'), async () => {
  const tf = await testTf();
  const eps = 1e-5;
  for (const [i, shape] of (
    [
      [3, 2, 3, 4],
      [2, 4, 4, 3],
      [5, 1, 1, 2],
    ] as Array<[number, number, number, number]>
  ).entries()) {
    const { x, gamma, beta, r } = randomCase(i, shape);
    const ref = batchNormReference(x, shape, gamma, beta, eps);
    const x64 = Float64Array.from(x),
      g64 = Float64Array.from(gamma),
      b64 = Float64Array.from(beta);
    const loss = () => batchNormReference(x64, shape, g64, b64, eps).y.reduce((s, y, j) => s + y * r[j], 0);
    const want = { dx: numericGrad(x64, loss), dgamma: numericGrad(g64, loss), dbeta: numericGrad(b64, loss) };

    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const xT = tf.tensor4d(x, shape),
        gT = tf.tensor1d(gamma),
        bT = tf.tensor1d(beta),
        rT = tf.tensor4d(r, shape);
      const out = batchNormTraining(tf, xT, gT, bT, eps);
      assert.ok(relativeError(out.y.dataSync(), ref.y) < 1e-5, `case ${i} y`);
      assert.ok(relativeError(out.mean.dataSync(), ref.mean) < 1e-5, `case ${i} mean`);
      assert.ok(relativeError(out.variance.dataSync(), ref.variance) < 1e-5, `case ${i} variance`);
      const [dx, dgamma, dbeta] = tf.grads((a: tfType.Tensor, g: tfType.Tensor, b: tfType.Tensor) =>
        tf.sum(tf.mul(batchNormTraining(tf, a as tfType.Tensor4D, g as tfType.Tensor1D, b as tfType.Tensor1D, eps).y, rT)),
      )([xT, gT, bT]);
      for (const [name, got, w] of [
        ['dx', dx, want.dx],
        ['dgamma', dgamma, want.dgamma],
        ['dbeta', dbeta, want.dbeta],
      ] as const) {
        const e = relativeError(got.dataSync(), w);
        assert.ok(e < 1e-4, `case ${i} ${name}: relative error ${e}`);
      }
    });
    assert.equal(tf.memory().numTensors, before, `case ${i} leaks tensors`);
  }
});

test(onStack('batchNormTraining inside tf.variableGrads agrees with autodiff of the naive formula, and leaks nothing'), async () => {
  const tf = await testTf();
  const shape: [number, number, number, number] = [8, 4, 4, 16];
  const eps = 1e-5;
  const { x, gamma, beta, r } = randomCase(7, shape);
  const gammaV = tf.variable(tf.tensor1d(gamma), true, 'bn_test_gamma');
  const betaV = tf.variable(tf.tensor1d(beta), true, 'bn_test_beta');
  const xT = tf.tensor4d(x, shape),
    rT = tf.tensor4d(r, shape);
  try {
    const naive = () => {
      const { mean, variance } = tf.moments(xT, [0, 1, 2]);
      const y = tf.add(tf.mul(tf.div(tf.sub(xT, mean), tf.sqrt(tf.add(variance, eps))), gammaV), betaV);
      return tf.sum(tf.mul(y, rT)) as tfType.Scalar;
    };
    const ours = () => tf.sum(tf.mul(batchNormTraining(tf, xT, gammaV, betaV, eps).y, rT)) as tfType.Scalar;
    const want = tf.variableGrads(naive, [gammaV, betaV]);
    const warm = tf.variableGrads(ours, [gammaV, betaV]);
    tf.dispose([warm.value, ...Object.values(warm.grads)]);
    const before = tf.memory().numTensors;
    const got = tf.variableGrads(ours, [gammaV, betaV]);
    assert.ok(Math.abs(got.value.dataSync()[0] - want.value.dataSync()[0]) < 1e-3, 'loss');
    for (const name of [gammaV.name, betaV.name]) {
      const e = relativeError(got.grads[name].dataSync(), want.grads[name].dataSync());
      assert.ok(e < 1e-4, `${name}: relative error ${e}`);
    }
    tf.dispose([got.value, ...Object.values(got.grads)]);
    assert.equal(tf.memory().numTensors, before, 'variableGrads with batch norm leaks tensors');
    tf.dispose([want.value, ...Object.values(want.grads)]);
  } finally {
    tf.dispose([gammaV, betaV, xT, rT]);
  }
});
