/**
 * Hand-written forward and backward passes of a dense stack, for the training step.
 *
 * tfjs's autodiff records every op on a tape and, for a dense layer, computes gradients for
 * every input of every op: the discriminator's weight gradients in the generator step, which
 * are thrown away, and an unfused activation in each forward pass. Written out, one training
 * iteration needs 29 matrix products instead of 34 and about half the kernel launches.
 * test/dense-step.test.ts checks these gradients against tf.variableGrads.
 *
 * Per layer i, with h_0 = x:
 *   z_i = h_{i-1} W_i + b_i,  a_i = act_i(z_i),  h_i = a_i * mask_i (dropout, when given)
 * and backwards, from d = dL/dh_L:
 *   dz_i = d * mask_i * act_i'(z_i);  dW_i = h_{i-1}^T dz_i;  db_i = sum_rows(dz_i);  d = dz_i W_i^T
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import type { DenseStack } from '../nets/network';
import type { Activation } from '../nets/spec';
import type { WebGpuDenseBackward } from '../backends/webgpu/dense-backward';
import type { WebGpuDenseLeakyDropout } from '../backends/webgpu/dense-forward';
import type { WebGpuDenseOutputBackward } from '../backends/webgpu/dense-output-backward';

type Tensor = tfType.Tensor;
type Tensor2D = tfType.Tensor2D;

export interface ForwardCache {
  /** h_{i-1}, the input of each layer. */
  inputs: Tensor2D[];
  /** a_i, each layer's activation output (before dropout): its sign or value gives act'. */
  outputs: Tensor2D[];
  masks?: Array<Tensor2D | undefined>;
}

/** Forward pass that keeps what the backward pass needs. Call outside any gradient tape. */
export function forwardCached(
  tf: Tf,
  stack: DenseStack,
  x: Tensor2D,
  activations: Activation[],
  leak: number,
  masks?: Array<Tensor2D | undefined>,
  /**
   * On webgpu: a LeakyReLU layer with dropout as one matmul whose epilogue also multiplies by the
   * mask (src/backends/webgpu/dense-forward.ts). Its cached output is then h = a * mask, not a:
   * the same to the backward pass, where the mask is > 0 h has a's sign, and where it is 0 the
   * gradient is d * 0 whatever act' is.
   */
  fusedDropout?: WebGpuDenseLeakyDropout,
): { y: Tensor2D; cache: ForwardCache } {
  const cache: ForwardCache = { inputs: [], outputs: [], masks };
  let h = x;
  stack.layers.forEach((layer, i) => {
    const act = activations[i];
    cache.inputs.push(h);
    const mask = masks?.[i];
    if (fusedDropout && mask && act === 'leakyrelu') {
      h = fusedDropout(h, layer.kernel as unknown as Tensor2D, layer.bias, mask, leak);
      cache.outputs.push(h);
      return;
    }
    // Outside a tape tfjs fuses bias and LeakyReLU into the matmul kernel.
    let a = tf.fused.matMul({
      a: h,
      b: layer.kernel as unknown as Tensor2D,
      bias: layer.bias,
      activation: act === 'leakyrelu' ? 'leakyrelu' : 'linear',
      leakyreluAlpha: leak,
    }) as Tensor2D;
    if (act === 'tanh') a = tf.tanh(a);
    cache.outputs.push(a);
    h = mask ? (tf.mul(a, mask) as Tensor2D) : a;
  });
  return { y: h, cache };
}

/**
 * Backward pass from dL/dy. Returns weight gradients [dW_1, db_1, dW_2, ...] when
 * `weightGrads`, and dL/dx when `inputGrad` (the generator step needs D's input gradient but
 * not its weight gradients).
 */
export function backward(
  tf: Tf,
  stack: DenseStack,
  cache: ForwardCache,
  dy: Tensor2D,
  activations: Activation[],
  leak: number,
  /**
   * `fused`: on webgpu, the mask, activation derivative and bias gradient of a layer in one
   * dispatch (src/backends/webgpu/dense-backward.ts); the same arithmetic as the ops below.
   */
  opts: {
    weightGrads: boolean;
    inputGrad: boolean;
    one?: Tensor;
    fused?: WebGpuDenseBackward;
    /** On webgpu, a last layer of one linear unit without dropout (D's output) in one dispatch (dense-output-backward.ts). */
    fusedOutput?: WebGpuDenseOutputBackward;
  },
): { grads: Tensor[]; dx?: Tensor2D } {
  const grads: Tensor[] = new Array(2 * stack.layers.length);
  let d = dy;
  for (let i = stack.layers.length - 1; i >= 0; i--) {
    const a = cache.outputs[i];
    const mask = cache.masks?.[i];
    const act = activations[i];
    const kernel = stack.layers[i].kernel as unknown as Tensor2D;
    if (opts.fusedOutput && i === stack.layers.length - 1 && i > 0 && act === 'linear' && !mask && kernel.shape[1] === 1) {
      const r = opts.fusedOutput(d, cache.inputs[i], kernel, opts.weightGrads);
      if (opts.weightGrads) [grads[2 * i], grads[2 * i + 1]] = [r.dW!, r.db!];
      d = r.dh;
      continue;
    }
    if (opts.fused && act !== 'relu' && (mask || act !== 'linear')) {
      const r = opts.fused(d, a, mask, act, leak, opts.weightGrads);
      d = r.dz;
      if (opts.weightGrads) {
        grads[2 * i] = tf.matMul(cache.inputs[i], d, true, false);
        grads[2 * i + 1] = r.db!;
      }
      if (i > 0 || opts.inputGrad) d = tf.matMul(d, stack.layers[i].kernel, false, true);
      continue;
    }
    if (mask) d = tf.mul(d, mask);
    if (activations[i] === 'leakyrelu')
      d = tf.mul(d, tf.step(a, leak)); // a > 0 exactly where z > 0
    else if (activations[i] === 'tanh') d = tf.mul(d, tf.sub(opts.one ?? 1, tf.square(a))); // tanh' = 1 - tanh^2 (`one`: a kept scalar 1)
    if (opts.weightGrads) {
      grads[2 * i] = tf.matMul(cache.inputs[i], d, true, false);
      grads[2 * i + 1] = tf.sum(d, 0);
    }
    if (i > 0 || opts.inputGrad) d = tf.matMul(d, stack.layers[i].kernel, false, true);
  }
  return { grads: opts.weightGrads ? grads : [], dx: opts.inputGrad ? d : undefined };
}
