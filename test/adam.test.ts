/** Adam as PyTorch computes it, on the native path (wasm + addon) and on the tfjs-ops path. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { testTf, onStack } from './helpers';
import { Adam } from '../src/train/adam';
import { Rng } from '../src/core/rng';
import { adamReference } from './webgpu-kernels';

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
    const want = adamReference(p0, grads, settings);
    const got = param.dataSync();
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst < 1e-5, `max |difference| ${worst}`);
    assert.equal(adam.t, 3);
    adam.dispose();
    param.dispose();
  });
}
