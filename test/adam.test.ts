/** Adam as PyTorch computes it, on the native path (wasm + addon) and on the tfjs-ops path. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { testTf, onStack } from './helpers';
import { Adam } from '../src/train/adam';
import { Rng } from '../src/core/rng';

function reference(p0: Float32Array, grads: Float32Array[], lr: number, b1: number, b2: number, eps: number): Float64Array {
  const p = Float64Array.from(p0);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
      p[i] -= (lr / (1 - b1 ** t)) * (m[i] / denom);
    }
  });
  return p;
}

for (const path of ['default', 'tfjs ops'] as const) {
  test(onStack(`Adam (${path} path) matches PyTorch's update over three steps`), async () => {
    const tf = await testTf();
    const n = 1000;
    const p0 = Rng.for(1, 0).fillUniform(new Float32Array(n), -1, 1);
    const grads = [1, 2, 3].map((k) => Rng.for(1, k).fillNormal(new Float32Array(n)));
    const param = tf.variable(tf.tensor1d(p0));
    const settings = { lr: 0.01, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };
    const adam = new Adam(tf, [param], settings);
    if (path === 'tfjs ops') (adam as unknown as { fused: undefined }).fused = undefined;
    for (const g of grads) tf.tidy(() => adam.apply([tf.tensor1d(g)]));
    const want = reference(p0, grads, settings.lr, settings.beta1, settings.beta2, settings.epsilon);
    const got = param.dataSync();
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst < 1e-5, `max |difference| ${worst}`);
    assert.equal(adam.t, 3);
    adam.dispose();
    param.dispose();
  });
}
