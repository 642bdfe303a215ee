/**
 * A GAN of the model family: the generator and discriminator of an architecture (src/nets/),
 * their variables, and what every command needs from them (noise, labels, pixels).
 *
 * We own the variables rather than training tf.layers models because the training step needs
 * control tf.layers does not give: dropout masks and labels drawn from (seed, step) so resumed
 * runs are bit-identical, the hand-written backward pass of dense networks, batch-norm moving
 * averages updated as PyTorch does, and one optimizer state we can save. For saving, the same
 * weights go into stock tf.layers models (src/nets/export.ts).
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import type { ModelConfig } from '../config';
import { Rng, Stream } from '../core/rng';
import { toBytes } from '../data/mnist';
import { ganSpec, type GanSpec } from '.';
import { Network } from './network';
import { LABEL_CLASSES } from '../core/labels';
import { cropCenter } from '../core/image/pixels';
import { sampleLabels } from '../core/labels';

type Tensor = tfType.Tensor;
type Tensor1D = tfType.Tensor1D;
type Tensor2D = tfType.Tensor2D;

export { DenseStack, Network } from './network';
// Import-free modules, shared with the browser page (src/web).
export { cropCenter } from '../core/image/pixels';
export { sampleLabels } from '../core/labels';
export type { Activation } from './spec';

export class GanModel {
  readonly spec: GanSpec;

  constructor(
    readonly tf: Tf,
    readonly config: ModelConfig,
    readonly generator: Network,
    readonly discriminator: Network,
  ) {
    this.spec = ganSpec(config);
  }

  /** Fresh weights drawn from `seed` (G first, then D): the same seed gives the same networks on every backend. */
  static create(tf: Tf, config: ModelConfig, seed: number): GanModel {
    const spec = ganSpec(config);
    const rng = Rng.for(seed, Stream.init);
    const g = Network.create(tf, spec.generator, rng);
    const d = Network.create(tf, spec.discriminator, rng);
    return new GanModel(tf, config, g, d);
  }

  get conditional(): boolean {
    return this.config.conditional;
  }

  /**
   * z [B, latent] (+ labels [B] int32 when conditional) -> images [B, work * work * channels] in [-1, 1],
   * flattened: the layout of the training data. Inference mode unless `training` is given.
   */
  generate(z: Tensor2D, labels?: Tensor1D, training?: import('./network').TrainingPass): Tensor2D {
    const tf = this.tf;
    return tf.reshape(this.generator.forward(z, labels, training), [z.shape[0], -1]) as Tensor2D;
  }

  /** Images [B, work * work] (+ labels) -> logits [B, 1]. */
  discriminate(x: Tensor2D, labels?: Tensor1D, training?: import('./network').TrainingPass): Tensor2D {
    return this.tf.reshape(this.discriminator.forward(x, labels, training), [x.shape[0], 1]) as Tensor2D;
  }

  /** Training-mode dropout masks of D for `batch` rows, one per dropout layer, from `rng`. */
  dropoutMasks(batch: number, rng: Rng): Tensor2D[] {
    const stack = this.discriminator.denseStack();
    if (!stack) return [];
    const widths = stack.layers.map((l) => l.bias.shape[0] as number);
    return stack.dropout.flatMap((rate, i) =>
      rate > 0 ? [this.tf.tensor2d(rng.fillDropoutMask(new Float32Array(batch * widths[i]), rate), [batch, widths[i]])] : [],
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

/** n labels drawn uniformly from 0 to classes - 1 (the digits 0-9): what a conditional G is asked for in training. */
export function randomLabels(n: number, rng: Rng, classes = LABEL_CLASSES): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(classes);
  return out;
}

/**
 * Pads n square images of side `size` (`channels` values per pixel) to `to` with `background`
 * all round: MNIST's 28 x 28 to the DCGAN's 32 x 32. A no-op when the sides agree.
 */
export function padCenter(images: Float32Array, n: number, size: number, to: number, background: number, channels = 1): Float32Array {
  if (size === to) return images;
  const off = (to - size) >> 1;
  const c = channels;
  const out = new Float32Array(n * to * to * c).fill(background);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < size; r++) {
      const src = (i * size + r) * size * c;
      out.set(images.subarray(src, src + size * c), (i * to * to + (r + off) * to + off) * c);
    }
  }
  return out;
}

/**
 * Images of noise [n, latent] (+ labels) as bytes (0 = background) at the size users see,
 * generated in batches to bound memory. What grids, IDX files and evaluations are made of.
 * Read asynchronously: the webgpu backend cannot read synchronously in Node.
 */
export async function pixelsFromNoise(tf: Tf, model: GanModel, z: Tensor2D, labels?: Int32Array, batch = 1000): Promise<Uint8Array> {
  const n = z.shape[0];
  const { workSize, imageSize, imageChannels } = model.spec;
  const perImage = imageSize * imageSize * imageChannels;
  const pixels = new Uint8Array(n * perImage);
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    // Read outside tidy: tidy would walk every element of a returned typed array.
    const images = tf.tidy(() => {
      const zb = count === n ? z : tf.slice(z, [start, 0], [count, -1]);
      const lb = labels ? tf.tensor1d(labels.subarray(start, start + count), 'int32') : undefined;
      return model.generate(zb as Tensor2D, lb);
    });
    let values: Float32Array;
    try {
      values = (await images.data()) as Float32Array;
    } finally {
      images.dispose();
    }
    pixels.set(toBytes(cropCenter(values, count, workSize, imageSize, imageChannels)), start * perImage);
  }
  return pixels;
}

/**
 * n images (bytes, 0 = background) from noise drawn from `rng`, in batches: for a conditional
 * model, `labels` says which digit each is (default: every digit in equal shares).
 */
export async function generatePixels(
  tf: Tf,
  model: GanModel,
  n: number,
  rng: Rng,
  opts: { batch?: number; labels?: Int32Array } = {},
): Promise<Uint8Array> {
  const batch = opts.batch ?? 1000;
  const perImage = model.spec.imageSize ** 2 * model.spec.imageChannels;
  const labels = model.conditional ? (opts.labels ?? sampleLabels(n, undefined, model.config.classes)) : undefined;
  const pixels = new Uint8Array(n * perImage);
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    // The noise is drawn batch by batch from one stream, as it always was. Box-Muller makes
    // values in pairs, so the samples do not depend on the batch size when count * latentDim is
    // even (always, at the default latent size of 100).
    const z = noiseTensor(tf, count, model.config.latentDim, rng);
    try {
      pixels.set(await pixelsFromNoise(tf, model, z, labels?.subarray(start, start + count), count), start * perImage);
    } finally {
      z.dispose();
    }
  }
  return pixels;
}

export type { Tensor };
