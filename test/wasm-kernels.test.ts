/**
 * The wasm kernels we register (src/backends/wasm/) against float64 references: convolution
 * gradients for both inputs, and transposed matmuls. Where the native addon is loaded, it
 * replaces most of them, so these tests check its kernels instead; .ci/run also runs the suite
 * with GAN_NATIVE=0 so that the wasm kernels themselves run. Titles name the stack.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type * as tfType from '@tensorflow/tfjs';
import { testTf, relativeError, onStack, KERNEL_STACK } from './helpers';
import { Rng } from '../src/core/rng';
import { nativeGemmStatus } from '../src/backends/native/addon';

test(onStack('the kernels registered are those of this stack, and it is the stack GAN_TEST_STACK asks for (set by .ci/run)'), async () => {
  const tf = await testTf();
  const native = KERNEL_STACK === 'native';
  assert.equal(tf.getKernel('GanBatchNormTraining', 'wasm') !== undefined, native, 'the native batch-norm kernel');
  assert.ok(
    tf.getKernel('Conv2DBackpropFilter', 'wasm'),
    'Conv2DBackpropFilter: ours (not shipped with tfjs-backend-wasm), or the addon around it',
  );
  assert.match(nativeGemmStatus(), native ? /^native GEMM \S+ x\d+$/ : /^native GEMM (disabled by GAN_NATIVE=0|not built)/);
  // Without this, a CI whose addon failed to build would run the wasm stack twice and pass.
  const asked = process.env.GAN_TEST_STACK;
  if (asked) assert.equal(KERNEL_STACK, asked, `GAN_TEST_STACK=${asked}, but ${nativeGemmStatus()}`);
});

interface ConvCase {
  x: [number, number, number, number];
  k: number;
  outC: number;
  stride: number;
  pad: 'same' | 'valid';
}

/** dL/dx and dL/dW of sum(conv2d(x, w) * dy), NHWC, in float64 by definition. */
function convGradsReference(tf: typeof tfType, c: ConvCase, x: Float32Array, w: Float32Array, dy: Float32Array, outShape: number[]) {
  const [n, h, wd, ci] = c.x;
  const [, oh, ow, co] = outShape;
  const info = tf.backend_util.computeConv2DInfo(c.x, [c.k, c.k, ci, c.outC], c.stride, 1, c.pad);
  const top = info.padInfo.top,
    left = info.padInfo.left;
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let kh = 0; kh < c.k; kh++)
          for (let kw = 0; kw < c.k; kw++) {
            const ih = i * c.stride + kh - top,
              iw = j * c.stride + kw - left;
            if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
            for (let a = 0; a < ci; a++)
              for (let o = 0; o < co; o++) {
                const g = dy[((b * oh + i) * ow + j) * co + o];
                const xi = ((b * h + ih) * wd + iw) * ci + a;
                const wi = ((kh * c.k + kw) * ci + a) * co + o;
                dx[xi] += w[wi] * g;
                dw[wi] += x[xi] * g;
              }
          }
  return { dx, dw };
}

const CASES: ConvCase[] = [
  { x: [2, 28, 28, 1], k: 5, outC: 8, stride: 1, pad: 'same' }, // the classifier's first layer, narrowed
  { x: [2, 14, 14, 16], k: 5, outC: 12, stride: 1, pad: 'same' }, // its second layer, narrowed
  { x: [3, 9, 9, 8], k: 3, outC: 4, stride: 2, pad: 'same' },
  { x: [1, 10, 10, 3], k: 3, outC: 5, stride: 1, pad: 'valid' },
  { x: [2, 12, 12, 4], k: 4, outC: 6, stride: 2, pad: 'valid' },
];

test(onStack('conv2d gradients on wasm (our Conv2DBackpropFilter and Conv2DBackpropInput) match a float64 reference'), async () => {
  const tf = await testTf();
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), 'Conv2DBackpropFilter is registered on wasm');
  for (const [i, c] of CASES.entries()) {
    const ci = c.x[3];
    const x = Rng.for(i, 0).fillUniform(new Float32Array(c.x.reduce((a, b) => a * b)), -1, 1);
    const w = Rng.for(i, 1).fillUniform(new Float32Array(c.k * c.k * ci * c.outC), -1, 1);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const xt = tf.tensor4d(x, c.x);
      const wt = tf.tensor4d(w, [c.k, c.k, ci, c.outC]);
      const y = tf.conv2d(xt, wt, c.stride, c.pad);
      const dy = Rng.for(i, 2).fillUniform(new Float32Array(y.size), -1, 1);
      const dyT = tf.tensor(dy, y.shape);
      const [gx, gw] = tf.grads((a: tfType.Tensor, b: tfType.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tfType.Tensor4D, b as tfType.Tensor4D, c.stride, c.pad), dyT)),
      )([xt, wt]);
      const ref = convGradsReference(tf, c, x, w, dy, y.shape);
      const ex = relativeError(gx.dataSync(), ref.dx);
      const ew = relativeError(gw.dataSync(), ref.dw);
      assert.ok(ex < 1e-4, `case ${i} dx: relative error ${ex}`);
      assert.ok(ew < 1e-4, `case ${i} dW: relative error ${ew}`);
    });
    assert.equal(tf.memory().numTensors, before, `case ${i} leaks tensors`);
  }
});

test(onStack('transposed matmuls on wasm (BatchMatMul and _FusedMatMul fixes) give the plain product'), async () => {
  const tf = await testTf();
  const a = Rng.for(5, 0).fillUniform(new Float32Array(6 * 4), -1, 1);
  const b = Rng.for(5, 1).fillUniform(new Float32Array(6 * 5), -1, 1);
  tf.tidy(() => {
    // a^T b with a [6, 4], b [6, 5] -> [4, 5]; then (a^T b)^T via transposeB on b^T.
    const got = tf.matMul(tf.tensor2d(a, [6, 4]), tf.tensor2d(b, [6, 5]), true, false).dataSync();
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 5; j++) {
        let s = 0;
        for (let k = 0; k < 6; k++) s += a[k * 4 + i] * b[k * 5 + j];
        assert.ok(Math.abs(got[i * 5 + j] - s) < 1e-5, `(${i}, ${j})`);
      }
    // a c^T with the bigger c (the dX = dY W^T case, computed as (c a^T)^T): [2, 6] x [9, 6]^T.
    const c = Rng.for(5, 2).fillUniform(new Float32Array(9 * 6), -1, 1);
    const a2 = a.subarray(0, 12);
    const gotT = tf.matMul(tf.tensor2d(a2, [2, 6]), tf.tensor2d(c, [9, 6]), false, true).dataSync();
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 9; j++) {
        let s = 0;
        for (let k = 0; k < 6; k++) s += a2[i * 6 + k] * c[j * 6 + k];
        assert.ok(Math.abs(gotT[i * 9 + j] - s) < 1e-5, `transposeB (${i}, ${j})`);
      }
    const fused = tf.fused
      .matMul({ a: tf.tensor2d(b, [6, 5]), b: tf.tensor2d(b, [6, 5]), transposeA: false, transposeB: true, bias: tf.ones([6]) })
      .dataSync();
    for (let i = 0; i < 6; i++) {
      let s = 1;
      for (let k = 0; k < 5; k++) s += b[i * 5 + k] * b[i * 5 + k];
      assert.ok(Math.abs(fused[i * 6 + i] - s) < 1e-5, `fused diagonal ${i}`);
    }
  });
});

test(onStack('row gathers on wasm (the batch of every step) pick the right rows; other gathers still work'), async () => {
  const tf = await testTf();
  tf.tidy(() => {
    const x = tf.tensor2d(
      Float32Array.from({ length: 5 * 3 }, (_, i) => i),
      [5, 3],
    );
    assert.deepEqual(Array.from(tf.gather(x, tf.tensor1d([4, 0, 4, 2], 'int32')).dataSync()), [12, 13, 14, 0, 1, 2, 12, 13, 14, 6, 7, 8]);
    assert.deepEqual(Array.from(tf.gather(x, tf.tensor1d([2, 0], 'int32'), 1).dataSync()), [2, 0, 5, 3, 8, 6, 11, 9, 14, 12]);
  });
});

test(onStack('matmuls of odd shapes (edge tiles of the native micro-kernels), all transposes, fused bias + LeakyReLU'), async () => {
  const tf = await testTf();
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [5, 7, 3],
    [13, 17, 19],
    [65, 33, 129],
    [7, 300, 2],
  ];
  for (const [m, n, k] of shapes) {
    const a = Rng.for(m, 1).fillUniform(new Float32Array(m * k), -1, 1);
    const b = Rng.for(n, 2).fillUniform(new Float32Array(k * n), -1, 1);
    const bias = Rng.for(k, 3).fillUniform(new Float32Array(n), -1, 1);
    const want = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let q = 0; q < k; q++) want[i * n + j] += a[i * k + q] * b[q * n + j];
    // Stored transposed copies, to ask for the same product with each transpose flag.
    const aT = new Float32Array(k * m),
      bT = new Float32Array(n * k);
    for (let i = 0; i < m; i++) for (let q = 0; q < k; q++) aT[q * m + i] = a[i * k + q];
    for (let q = 0; q < k; q++) for (let j = 0; j < n; j++) bT[j * k + q] = b[q * n + j];
    tf.tidy(() => {
      for (const [ta, tb] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ]) {
        const A = ta ? tf.tensor2d(aT, [k, m]) : tf.tensor2d(a, [m, k]);
        const B = tb ? tf.tensor2d(bT, [n, k]) : tf.tensor2d(b, [k, n]);
        const got = tf.matMul(A, B, ta, tb).dataSync();
        assert.ok(relativeError(got, want) < 1e-5, `${m}x${n}x${k} transposeA=${ta} transposeB=${tb}`);
      }
      const fused = tf.fused
        .matMul({
          a: tf.tensor2d(a, [m, k]),
          b: tf.tensor2d(b, [k, n]),
          bias: tf.tensor1d(bias),
          activation: 'leakyrelu',
          leakyreluAlpha: 0.2,
        })
        .dataSync();
      const wantFused = want.map((v, i) => {
        const z = v + bias[i % n];
        return z > 0 ? z : 0.2 * z;
      });
      assert.ok(relativeError(fused, wantFused) < 1e-5, `${m}x${n}x${k} fused`);
    });
  }
});

test(
  onStack('Identity (tf.clone, and every tensor autodiff saves) shares data on wasm: values survive disposing either side'),
  async () => {
    const tf = await testTf();
    const before = tf.memory().numTensors;
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    a.dispose();
    assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3]);
    const c = tf.clone(b);
    b.dispose();
    const d = tf.add(c, 1);
    assert.deepEqual(Array.from(d.dataSync()), [2, 3, 4]);
    tf.dispose([c, d]);
    assert.equal(tf.memory().numTensors, before, 'nothing left');
  },
);
