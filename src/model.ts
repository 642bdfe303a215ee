/**
 * The seeds' MLP GAN as plain variables and forward functions.
 *
 *   generator      z [B, 100] -> 256 -> 512 -> 1024 -> 784, LeakyReLU(0.2), tanh output in [-1, 1]
 *   discriminator  x [B, 784] -> 512 -> 256 -> 1 logit, LeakyReLU(0.2), dropout 0.3 after each hidden
 *
 * We own the variables rather than training tf.layers models because the training step needs
 * control tf.layers does not give: dropout masks drawn from (seed, step) so resumed runs are
 * bit-identical, fused bias adds in the backward pass, and one optimizer state we can save.
 * For saving, the same weights are handed to tf.layers models of identical architecture, so
 * checkpoints are standard LayersModel files that `tf.loadLayersModel` reads in a browser.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from './backend';
import type { ModelConfig } from './config';
import { Rng, Stream } from './rng';
import { toBytes } from './data/mnist';

type Tensor2D = tfType.Tensor2D;
type Variable = tfType.Variable;

export interface DenseParams {
  /** [fanIn, fanOut] */
  kernel: Variable;
  /** [fanOut] */
  bias: Variable;
}

export type Activation = 'leakyrelu' | 'tanh' | 'linear';

/** Layer widths of a network: [input, ...hidden, output]. */
export function generatorWidths(m: ModelConfig): number[] {
  return [m.latentDim, ...m.generatorHidden, m.imageSize * m.imageSize];
}
export function discriminatorWidths(m: ModelConfig): number[] {
  return [m.imageSize * m.imageSize, ...m.discriminatorHidden, 1];
}

/**
 * PyTorch's nn.Linear initialisation, U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weights and biases:
 * the reference trainer's, known to train this model well. Drawn from our seeded generator.
 */
function initDense(tf: Tf, fanIn: number, fanOut: number, rng: Rng, name: string): DenseParams {
  const bound = 1 / Math.sqrt(fanIn);
  const w = rng.fillUniform(new Float32Array(fanIn * fanOut), -bound, bound);
  const b = rng.fillUniform(new Float32Array(fanOut), -bound, bound);
  // tidy disposes the initial tensors; the variables keep their buffers alive.
  return tf.tidy(() => ({
    kernel: tf.variable(tf.tensor2d(w, [fanIn, fanOut]), true, `${name}/kernel`),
    bias: tf.variable(tf.tensor1d(b), true, `${name}/bias`),
  }));
}

let instanceCounter = 0;

/** A stack of dense layers; activations between them are the network's business. */
export class DenseStack {
  constructor(readonly layers: DenseParams[]) {}

  static create(tf: Tf, widths: number[], rng: Rng, prefix: string): DenseStack {
    // Variable names must be unique per process (tests build many models).
    const id = ++instanceCounter;
    const layers: DenseParams[] = [];
    for (let i = 0; i + 1 < widths.length; i++) layers.push(initDense(tf, widths[i], widths[i + 1], rng, `${prefix}${id}_dense${i + 1}`));
    return new DenseStack(layers);
  }

  /** A stack holding copies of weights given as [kernel, bias, kernel, bias, ...]. */
  static fromWeights(tf: Tf, weights: tfType.Tensor[], trainable = false): DenseStack {
    const layers: DenseParams[] = [];
    for (let i = 0; i + 1 < weights.length; i += 2) {
      layers.push({ kernel: tf.variable(weights[i], trainable), bias: tf.variable(weights[i + 1], trainable) });
    }
    return new DenseStack(layers);
  }

  /** kernel, bias, kernel, bias, ...: the order of LayersModel weights and of optimizer slots. */
  variables(): Variable[] {
    return this.layers.flatMap((l) => [l.kernel, l.bias]);
  }

  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }
}

/** One dense layer, with the bias add fused into the matmul (also under gradients). */
export function dense(tf: Tf, x: Tensor2D, p: DenseParams, activation: Activation, leak: number): Tensor2D {
  // Inside a gradient tape tfjs fuses only 'linear'; applying the activation separately keeps
  // the fused bias add (and its cheap gradient) in training. Outside a tape, fuse everything.
  const y: tfType.Tensor = tf.fused.matMul({ a: x, b: p.kernel as unknown as Tensor2D, bias: p.bias, activation: 'linear' });
  if (activation === 'leakyrelu') return tf.leakyRelu(y, leak) as Tensor2D;
  if (activation === 'tanh') return tf.tanh(y) as Tensor2D;
  return y as Tensor2D;
}

export class MlpGan {
  constructor(
    readonly tf: Tf,
    readonly config: ModelConfig,
    readonly generator: DenseStack,
    readonly discriminator: DenseStack,
  ) {}

  /** Fresh weights drawn from `seed`: the same seed gives the same network on every backend. */
  static create(tf: Tf, config: ModelConfig, seed: number): MlpGan {
    const rng = Rng.for(seed, Stream.init);
    const g = DenseStack.create(tf, generatorWidths(config), rng, 'g');
    const d = DenseStack.create(tf, discriminatorWidths(config), rng, 'd');
    return new MlpGan(tf, config, g, d);
  }

  /** z [B, latent] -> images [B, 784] in [-1, 1]. */
  generate(z: Tensor2D): Tensor2D {
    const layers = this.generator.layers;
    let h = z;
    for (let i = 0; i < layers.length; i++) {
      h = dense(this.tf, h, layers[i], i === layers.length - 1 ? 'tanh' : 'leakyrelu', this.config.leak);
    }
    return h;
  }

  /**
   * x [B, 784] -> logits [B, 1]. `dropoutMasks` (one [B, width] inverted mask per hidden
   * layer) switch training-mode dropout on; without them this is the inference network.
   */
  discriminate(x: Tensor2D, dropoutMasks?: Tensor2D[]): Tensor2D {
    const layers = this.discriminator.layers;
    let h = x;
    for (let i = 0; i < layers.length; i++) {
      const last = i === layers.length - 1;
      h = dense(this.tf, h, layers[i], last ? 'linear' : 'leakyrelu', this.config.leak);
      if (!last && dropoutMasks) h = this.tf.mul(h, dropoutMasks[i]);
    }
    return h;
  }

  /** Activation of each generator layer: LeakyReLU, and tanh at the output. */
  generatorActivations(): Activation[] {
    return this.generator.layers.map((_, i, all) => (i === all.length - 1 ? 'tanh' : 'leakyrelu'));
  }

  /** Activation of each discriminator layer: LeakyReLU, and a linear logit at the output. */
  discriminatorActivations(): Activation[] {
    return this.discriminator.layers.map((_, i, all) => (i === all.length - 1 ? 'linear' : 'leakyrelu'));
  }

  /** Training-mode dropout masks for `batch` rows, drawn from the given generator. */
  dropoutMasks(batch: number, rng: Rng): Tensor2D[] {
    return this.config.discriminatorHidden.map((width) =>
      this.tf.tensor2d(rng.fillDropoutMask(new Float32Array(batch * width), this.config.dropout), [batch, width]),
    );
  }

  dispose(): void {
    this.generator.dispose();
    this.discriminator.dispose();
  }
}

/** Standard-normal noise [n, latent] from a generator: what G eats. */
export function noiseTensor(tf: Tf, n: number, latentDim: number, rng: Rng): Tensor2D {
  return tf.tensor2d(rng.fillNormal(new Float32Array(n * latentDim)), [n, latentDim]);
}

/**
 * n images as bytes (0 = background), generated in batches (to bound memory) from noise drawn
 * from `rng`: what grids, IDX sample files and evaluations are made of.
 */
export function generatePixels(tf: Tf, model: MlpGan, n: number, rng: Rng, batch = 1000): Uint8Array {
  const size = model.config.imageSize * model.config.imageSize;
  const pixels = new Uint8Array(n * size);
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    // Read outside tidy: tidy would walk every element of a returned typed array.
    const images = tf.tidy(() => model.generate(noiseTensor(tf, count, model.config.latentDim, rng)));
    pixels.set(toBytes(images.dataSync() as Float32Array), start * size);
    images.dispose();
  }
  return pixels;
}

/**
 * A tf.layers model with the same architecture and a copy of the weights, for saving in the
 * LayersModel format. The caller disposes it.
 */
export function toLayersModel(tf: Tf, config: ModelConfig, which: 'generator' | 'discriminator', stack: DenseStack): tfType.Sequential {
  const widths = which === 'generator' ? generatorWidths(config) : discriminatorWidths(config);
  const prefix = which === 'generator' ? 'g' : 'd';
  const model = tf.sequential({ name: which });
  for (let i = 1; i < widths.length; i++) {
    const last = i === widths.length - 1;
    model.add(
      tf.layers.dense({
        units: widths[i],
        inputShape: i === 1 ? [widths[0]] : undefined,
        activation: last && which === 'generator' ? 'tanh' : 'linear',
        name: `${prefix}_dense_${i}`,
      }),
    );
    if (!last) {
      model.add(tf.layers.leakyReLU({ alpha: config.leak, name: `${prefix}_leaky_${i}` }));
      if (which === 'discriminator') model.add(tf.layers.dropout({ rate: config.dropout, name: `${prefix}_dropout_${i}` }));
    }
  }
  model.setWeights(stack.variables());
  return model;
}
