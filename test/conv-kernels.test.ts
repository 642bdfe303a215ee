/**
 * The DCGAN's layers on the embedded backend against float64 references written with PyTorch's
 * semantics (Conv2d / ConvTranspose2d with kernel 4, stride s, padding p), forward and both
 * gradients, each computed with the tfjs call and padding our model's layer list
 * (src/nets/dcgan.ts) gives it ('same' for the stride-2 layers, 'valid' for the 1x1 <-> 4x4
 * ends), so the model's layers are PyTorch's; and that the native kernels give bit-identical
 * results on 1 and 2 threads.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type * as tfType from '@tensorflow/tfjs';
import { testTf, testConfig, relativeError, onStack } from './helpers';
import { dcganDiscriminator, dcganGenerator } from '../src/nets/dcgan';
import { Rng } from '../src/core/rng';
import { loadGemmAddon } from '../src/backends/native/addon';
import { batchNormTraining } from '../src/backends/native/batchnorm';

type Tensor = tfType.Tensor;
type Tensor4D = tfType.Tensor4D;

interface Layer {
  kind: 'conv' | 'convT';
  /** x: [n, h, w, inC] */
  x: [number, number, number, number];
  outC: number;
  stride: number;
  /** PyTorch's padding. */
  pad: number;
  /** What our model passes to tfjs for this layer. */
  padding: 'same' | 'valid';
}

/** PyTorch's output size. */
function outSize(l: Layer): number {
  const h = l.x[1];
  return l.kind === 'conv' ? Math.floor((h + 2 * l.pad - 4) / l.stride) + 1 : (h - 1) * l.stride - 2 * l.pad + 4;
}

/**
 * y, dL/dx and dL/dW of L = sum(r * layer(x, w)) in float64, by the definition of
 * Conv2d (y[o] += x[o*s - p + k] w) and ConvTranspose2d (y[i*s - p + k] += x[i] w).
 * w is in tfjs layout: [4, 4, inC, outC] for conv, [4, 4, outC, inC] for convT.
 */
function reference(l: Layer, x: Float32Array, w: Float32Array, r: Float32Array) {
  const [n, h, wd, ci] = l.x;
  const o = outSize(l),
    co = l.outC;
  const y = new Float64Array(n * o * o * co),
    dx = new Float64Array(x.length),
    dw = new Float64Array(w.length);
  // Visit every (input position, output position, tap) pair once; pass 1 computes y, pass 2 the gradients.
  const visit = (f: (xi: number, yi: number, wi: number) => void) => {
    for (let b = 0; b < n; b++)
      for (let kh = 0; kh < 4; kh++)
        for (let kw = 0; kw < 4; kw++)
          for (let a = 0; a < (l.kind === 'conv' ? o : h); a++)
            for (let c = 0; c < (l.kind === 'conv' ? o : wd); c++) {
              // conv: (a, c) is the output position; convT: the input position.
              const p = a * l.stride - l.pad + kh,
                q = c * l.stride - l.pad + kw;
              const lim = l.kind === 'conv' ? h : o;
              if (p < 0 || q < 0 || p >= lim || q >= lim) continue;
              const [ih, iw, oh, ow] = l.kind === 'conv' ? [p, q, a, c] : [a, c, p, q];
              for (let i = 0; i < ci; i++)
                for (let j = 0; j < co; j++) {
                  const wi = l.kind === 'conv' ? ((kh * 4 + kw) * ci + i) * co + j : ((kh * 4 + kw) * co + j) * ci + i;
                  f(((b * h + ih) * wd + iw) * ci + i, ((b * o + oh) * o + ow) * co + j, wi);
                }
            }
  };
  visit((xi, yi, wi) => {
    y[yi] += x[xi] * w[wi];
  });
  visit((xi, yi, wi) => {
    dx[xi] += r[yi] * w[wi];
    dw[wi] += r[yi] * x[xi];
  });
  return { y, dx, dw };
}

/** The tfjs call the DCGAN model makes for a layer (src/nets/network.ts), with the model's padding. */
function apply(tf: typeof tfType, l: Layer, x: Tensor4D, w: Tensor4D): Tensor4D {
  const o = outSize(l);
  if (l.kind === 'conv') return tf.conv2d(x, w, l.stride, l.padding);
  return tf.conv2dTranspose(x, w, [l.x[0], o, o, l.outC], l.stride, l.padding);
}

/**
 * The DCGAN's eight layers at width C and batch n as PyTorch's example writes them, each with
 * the padding the model's layer list gives the same layer (and its kernel, stride and width
 * checked against the list).
 */
function dcganLayers(c: number, n: number): Layer[] {
  const torch: Array<Omit<Layer, 'padding'>> = [
    { kind: 'convT', x: [n, 1, 1, 100], outC: 4 * c, stride: 1, pad: 0 },
    { kind: 'convT', x: [n, 4, 4, 4 * c], outC: 2 * c, stride: 2, pad: 1 },
    { kind: 'convT', x: [n, 8, 8, 2 * c], outC: c, stride: 2, pad: 1 },
    { kind: 'convT', x: [n, 16, 16, c], outC: 1, stride: 2, pad: 1 },
    { kind: 'conv', x: [n, 32, 32, 1], outC: c, stride: 2, pad: 1 },
    { kind: 'conv', x: [n, 16, 16, c], outC: 2 * c, stride: 2, pad: 1 },
    { kind: 'conv', x: [n, 8, 8, 2 * c], outC: 4 * c, stride: 2, pad: 1 },
    { kind: 'conv', x: [n, 4, 4, 4 * c], outC: 1, stride: 1, pad: 0 },
  ];
  const m = testConfig({ arch: 'dcgan', channels: c });
  const model = [...dcganGenerator(m).layers, ...dcganDiscriminator(m).layers].flatMap((l) =>
    l.kind === 'conv' || l.kind === 'convTranspose' ? [l] : [],
  );
  assert.equal(model.length, torch.length, 'the model has the eight convolutions');
  return torch.map((l, i) => {
    const ours = model[i];
    assert.deepEqual(
      [ours.kind === 'conv' ? 'conv' : 'convT', ours.kernel, ours.stride, ours.filters],
      [l.kind, 4, l.stride, l.outC],
      `${ours.name} is PyTorch's layer ${i}`,
    );
    return { ...l, padding: ours.padding };
  });
}

function layerData(l: Layer, seed: number) {
  const wShape = l.kind === 'conv' ? [4, 4, l.x[3], l.outC] : [4, 4, l.outC, l.x[3]];
  const o = outSize(l);
  return {
    wShape: wShape as [number, number, number, number],
    x: Rng.for(seed, 0).fillUniform(new Float32Array(l.x.reduce((a, b) => a * b)), -1, 1),
    w: Rng.for(seed, 1).fillUniform(new Float32Array(wShape.reduce((a, b) => a * b)), -1, 1),
    r: Rng.for(seed, 2).fillUniform(new Float32Array(l.x[0] * o * o * l.outC), -1, 1),
  };
}

test(
  onStack(
    "every DCGAN layer with the model's padding (conv and convT k4 s2 'same' = PyTorch's p1; the 1x1 <-> 4x4 ends 'valid'): forward and both gradients match PyTorch semantics in float64",
  ),
  async () => {
    const tf = await testTf();
    for (const [i, l] of dcganLayers(3, 2).entries()) {
      const { wShape, x, w, r } = layerData(l, i);
      const ref = reference(l, x, w, r);
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const xT = tf.tensor4d(x, l.x),
          wT = tf.tensor4d(w, wShape),
          rT = tf.tensor(r, [l.x[0], outSize(l), outSize(l), l.outC]);
        const y = apply(tf, l, xT, wT);
        assert.deepEqual(y.shape, rT.shape, `layer ${i} output shape`);
        const [gx, gw] = tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.mul(apply(tf, l, a as Tensor4D, b as Tensor4D), rT)))([xT, wT]);
        for (const [name, got, want] of [
          ['y', y, ref.y],
          ['dx', gx, ref.dx],
          ['dW', gw, ref.dw],
        ] as const) {
          const e = relativeError(got.dataSync(), want);
          assert.ok(e < 1e-5, `layer ${i} (${l.kind} ${l.x} -> ${l.outC}) ${name}: relative error ${e}`);
        }
      });
      assert.equal(tf.memory().numTensors, before, `layer ${i} leaks tensors`);
    }
  },
);

test(onStack('native convolutions and batch norm give bit-identical results on 1 and 2 threads'), async (t) => {
  const tf = await testTf();
  const gemm = loadGemmAddon();
  if (!gemm) {
    t.skip('native addon not built (GAN_NATIVE=0 or no toolchain): the wasm kernels run');
    return;
  }
  const threadsBefore = gemm.threads();
  // Every product and every im2col, col2im, batch-norm and activation pass split across threads,
  // however small (the defaults keep small ones on one thread).
  const blockingBefore = gemm._setBlocking();
  gemm._setBlocking(0, 0, 0, 1, 0, 0, 1);
  const run = (threads: number): Float32Array[] => {
    gemm.setThreads(threads);
    const outs: Float32Array[] = [];
    for (const [i, l] of dcganLayers(16, 16).entries()) {
      const { wShape, x, w, r } = layerData(l, 10 + i);
      tf.tidy(() => {
        const xT = tf.tensor4d(x, l.x),
          wT = tf.tensor4d(w, wShape),
          rT = tf.tensor(r, [l.x[0], outSize(l), outSize(l), l.outC]);
        outs.push(Float32Array.from(apply(tf, l, xT, wT).dataSync()));
        const [gx, gw] = tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.mul(apply(tf, l, a as Tensor4D, b as Tensor4D), rT)))([xT, wT]);
        outs.push(Float32Array.from(gx.dataSync()), Float32Array.from(gw.dataSync()));
        if (l.outC > 1 && l.kind === 'conv') {
          const act = tf.grads((a: Tensor) => tf.sum(tf.mul(tf.leakyRelu(tf.tanh(a), 0.2), tf.relu(a))))([xT]);
          outs.push(Float32Array.from(act[0].dataSync()));
          const g = tf.tensor1d(Rng.for(i, 5).fillUniform(new Float32Array(l.outC), 0.5, 1.5)),
            b = tf.zeros([l.outC]) as tfType.Tensor1D;
          const yT = apply(tf, l, xT, wT);
          const bn = batchNormTraining(tf, yT, g, b, 1e-5);
          outs.push(Float32Array.from(bn.y.dataSync()), Float32Array.from(bn.mean.dataSync()), Float32Array.from(bn.variance.dataSync()));
          const grads = tf.grads((a: Tensor, gg: Tensor, bb: Tensor) =>
            tf.sum(tf.mul(batchNormTraining(tf, a as Tensor4D, gg as tfType.Tensor1D, bb as tfType.Tensor1D, 1e-5).y, rT)),
          )([yT, g, b]);
          for (const gr of grads) outs.push(Float32Array.from(gr.dataSync()));
        }
      });
    }
    return outs;
  };
  try {
    const one = run(1);
    const two = run(2);
    assert.equal(gemm.threads(), 2, 'the addon runs 2 threads here');
    assert.equal(one.length, two.length);
    for (let i = 0; i < one.length; i++) {
      const a = new Uint32Array(one[i].buffer),
        b = new Uint32Array(two[i].buffer);
      const diff = a.findIndex((v, j) => v !== b[j]);
      assert.equal(diff, -1, `output ${i} differs between 1 and 2 threads at element ${diff}`);
    }
  } finally {
    gemm.setThreads(threadsBefore);
    gemm._setBlocking(0, 0, 0, blockingBefore.mtThreshold, 0, 0, blockingBefore.streamMtThreshold);
  }
});

test(onStack('LeakyReLU, ReLU and tanh (forward and gradients) match float64, zeros and negatives included'), async () => {
  const tf = await testTf();
  const x = Rng.for(3, 0).fillUniform(new Float32Array(40000), -3, 3);
  x.set([0, -0, 1e-30, -1e-30, 20, -20], 0);
  const r = Rng.for(3, 1).fillUniform(new Float32Array(x.length), -1, 1);
  const cases: Array<[string, (t: Tensor) => Tensor, (v: number) => number, (v: number) => number]> = [
    ['leakyRelu', (t) => tf.leakyRelu(t, 0.2), (v) => (v > 0 ? v : 0.2 * v), (v) => (v > 0 ? 1 : 0.2)],
    ['relu', (t) => tf.relu(t), (v) => Math.max(v, 0), (v) => (v > 0 ? 1 : 0)],
    ['tanh', (t) => tf.tanh(t), Math.tanh, (v) => 1 - Math.tanh(v) ** 2],
  ];
  for (const [name, f, fRef, dRef] of cases) {
    tf.tidy(() => {
      const xT = tf.tensor1d(x),
        rT = tf.tensor1d(r);
      const y = f(xT).dataSync();
      const [g] = tf.grads((a: Tensor) => tf.sum(tf.mul(f(a), rT)))([xT]);
      const dx = g.dataSync();
      for (let i = 0; i < x.length; i++) {
        assert.ok(Math.abs(y[i] - fRef(x[i])) <= 1e-6 * Math.max(1, Math.abs(fRef(x[i]))), `${name}(${x[i]}) = ${y[i]}`);
        assert.ok(Math.abs(dx[i] - r[i] * dRef(x[i])) <= 1e-5, `${name}'(${x[i]}) * ${r[i]} = ${dx[i]}`);
      }
    });
  }
});
