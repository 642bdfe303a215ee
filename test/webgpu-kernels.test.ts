/**
 * Our WGSL kernels (src/backends/webgpu) against float64 references, on the webgpu backend in a
 * child process (test/webgpu-kernels.ts). On SwiftShader where there is no GPU; skipped with one
 * line where there is neither (test/helpers.ts, webGpuForTests).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { childJson, webGpuForTests } from './helpers';
import { ADAM_SIZES, BATCH_NORM_CASES, DENSE_BACKWARD_CASES, DENSE_FORWARD_SHAPES, type KernelResults } from './webgpu-kernels';

function kernels(): Promise<KernelResults> {
  return childJson(path.join(__dirname, 'webgpu-kernels.js'), [], 'GAN_KERNELS');
}

test(
  'webgpu Adam: one dispatch per two variables and one uniform write, PyTorch-exact to float32 over three steps',
  { timeout: 120_000 },
  async (t) => {
    const gpu = await webGpuForTests();
    if (gpu.skip) return t.skip(gpu.skip);
    const { adam } = await kernels();
    t.diagnostic(`on ${gpu.adapter}: |fused - float64| ${adam.worst.toExponential(1)}, tfjs ops ${adam.worstOps.toExponential(1)}`);
    // test/adam.test.ts's bound for the wasm paths: lr 0.01 over three steps, float32 rounding.
    assert.ok(adam.worst < 1e-5, `fused: max |difference| ${adam.worst}`);
    assert.ok(adam.worstOps < 1e-5, `tfjs ops: max |difference| ${adam.worstOps}`);
    // Writes: the step's uniforms, and the three gradients the test makes on the CPU.
    assert.deepEqual(adam.calls, { dispatches: Math.ceil(ADAM_SIZES.length / 2), submits: 0, bufferWrites: 1 + ADAM_SIZES.length });
    assert.ok(adam.sharedUnchanged, 'a tensor sharing the buffer of the variable changed with it');
    assert.equal(adam.tensors[1], adam.tensors[0], 'tensors leaked by the update');
  },
);

test(
  'webgpu sigmoid cross-entropy: loss, gradient and both halves mean probability in one dispatch, float32-exact',
  { timeout: 120_000 },
  async (t) => {
    const gpu = await webGpuForTests();
    if (gpu.skip) return t.skip(gpu.skip);
    const { sigmoidBce } = await kernels();
    const { calls, ...errors } = sigmoidBce;
    t.diagnostic(`on ${gpu.adapter}: relative differences from float64 ${JSON.stringify(errors)}`);
    // Each output is a float32 sigmoid or softplus (a few ulp: ~1e-6 relative, also for gradients
    // near 0 at |l| ~ 40, as the kernel never subtracts from 1), sums over 600 rows ~600 * 6e-8.
    for (const [name, err] of Object.entries(errors)) assert.ok(err < 1e-4, `${name}: relative difference ${err}`);
    // No writes: its sizes and scale are baked into the shader.
    assert.deepEqual(calls, { dispatches: 1, submits: 0, bufferWrites: 0 });
  },
);

test(
  'webgpu dense backward: mask x activation derivative x upstream gradient and the bias gradient in one dispatch, float32-exact',
  { timeout: 120_000 },
  async (t) => {
    const gpu = await webGpuForTests();
    if (gpu.skip) return t.skip(gpu.skip);
    const { denseBackward } = await kernels();
    assert.equal(denseBackward.length, DENSE_BACKWARD_CASES.length);
    for (const r of denseBackward) {
      t.diagnostic(
        `on ${gpu.adapter}, ${r.name}: |fused - float64| / max |float64|: dz ${r.dz.toExponential(1)}, db ${r.db.toExponential(1)}`,
      );
      // dz: two or three float32 products (a few ulp, ~2e-7 of the largest); db: a column sum of
      // 130 of them in float32, ~130 * 6e-8 of the largest sum's terms at worst.
      assert.ok(r.dz < 1e-6, `${r.name}: dz ${r.dz}`);
      assert.ok(r.db < 1e-5, `${r.name}: db ${r.db}`);
      // One dispatch and no uniform write: the sizes, leak and mode are baked into the shader.
      assert.deepEqual(r.calls, { dispatches: 1, submits: 0, bufferWrites: 0 }, r.name);
    }
  },
);

test(
  'webgpu dense forward: matmul + bias + LeakyReLU + dropout mask in one dispatch, float32-exact, and bit-identical to the ops it replaces',
  { timeout: 120_000 },
  async (t) => {
    const gpu = await webGpuForTests();
    if (gpu.skip) return t.skip(gpu.skip);
    const { denseForward } = await kernels();
    assert.equal(denseForward.length, DENSE_FORWARD_SHAPES.length);
    for (const r of denseForward) {
      t.diagnostic(
        `on ${gpu.adapter}, ${r.name}: |fused - float64| / sum |terms| ${r.worst.toExponential(1)}, same as tfjs ops: ${r.sameAsOps}`,
      );
      // A float32 dot product of up to 784 terms: at most ~784 * 6e-8 of the sum of |terms|, in
      // practice far less; the leak and the mask add an ulp or two.
      assert.ok(r.worst < 1e-5, `${r.name}: ${r.worst}`);
      // The rewrite changes only the epilogue: the same values as fused matmul then tf.mul.
      assert.ok(r.sameAsOps, `${r.name}: differs from tfjs's fused matmul followed by the mask's mul`);
      // One dispatch, and its one uniform write (tfjs's matmul sizes); LeakyReLU's alpha is baked in.
      assert.deepEqual(r.calls, { dispatches: 1, submits: 0, bufferWrites: 1 }, r.name);
    }
  },
);

test(
  'webgpu batch norm (+ LeakyReLU/ReLU), the activation gradients and the moving averages: fused kernels, float32-exact, no uniform writes',
  { timeout: 120_000 },
  async (t) => {
    const gpu = await webGpuForTests();
    if (gpu.skip) return t.skip(gpu.skip);
    const { batchNorm, activationGrad, movingStats } = await kernels();
    assert.equal(batchNorm.length, BATCH_NORM_CASES.length);
    const none = { dispatches: 0, submits: 0, bufferWrites: 0 };
    for (const r of batchNorm) {
      t.diagnostic(`on ${gpu.adapter}, ${r.name}: |fused - float64| / max |float64| ${JSON.stringify(r.errors)}`);
      // Column sums of up to 2048 float32 terms in a fixed tree (~log2 growth of 6e-8 per level,
      // more for dx, which subtracts two sums of that size from M * dy): 1e-5 of the output's scale.
      for (const [name, err] of Object.entries(r.errors)) assert.ok(err < 1e-5, `${r.name} ${name}: ${err}`);
      // Two dispatches each way (the column sums, then the elements) and no writes: sizes baked in.
      assert.deepEqual(r.calls, { forward: { ...none, dispatches: 2 }, backward: { ...none, dispatches: 2 } }, r.name);
    }
    for (const r of activationGrad) {
      t.diagnostic(`on ${gpu.adapter}, ${r.name} gradient: ${r.error.toExponential(1)}`);
      assert.ok(r.error < 1e-6, `${r.name}: ${r.error}`);
      assert.deepEqual(r.calls, { ...none, dispatches: 1 }, r.name);
    }
    t.diagnostic(
      `on ${gpu.adapter}, moving averages: mean ${movingStats.mean.toExponential(1)}, variance ${movingStats.variance.toExponential(1)}`,
    );
    assert.ok(movingStats.mean < 1e-6 && movingStats.variance < 1e-6, JSON.stringify(movingStats));
    assert.deepEqual(movingStats.calls, { ...none, dispatches: 1 });
  },
);
