/**
 * Drawing samples from a run's generator: the run's newest checkpoint alone says how to
 * rebuild it (config and weights), so no training flag is repeated here.
 */
import type { Tf } from './backend';
import { disposeLoaded, loadLatestCheckpoint } from './checkpoint';
import { DenseStack, MlpGan, noiseTensor } from './model';
import { Rng, Stream } from './rng';
import { toBytes } from './data/mnist';

export interface Samples {
  /** n x size x size bytes, 0 = background, 255 = stroke (MNIST's convention). */
  pixels: Uint8Array;
  n: number;
  size: number;
  checkpoint: string;
  epoch: number;
  skipped: string[];
}

/** Generates n images with noise drawn from `seed`, in batches to bound memory. */
export function sampleRun(tf: Tf, runDir: string, opts: { n: number; seed: number; batchSize?: number }): Samples {
  const { checkpoint, skipped } = loadLatestCheckpoint(tf, runDir);
  const config = checkpoint.state.config;
  const generator = DenseStack.fromWeights(tf, checkpoint.generatorWeights);
  const model = new MlpGan(tf, config, generator, new DenseStack([]));
  const size = config.imageSize;
  const pixels = new Uint8Array(opts.n * size * size);
  const rng = Rng.for(opts.seed, Stream.sample);
  const batch = opts.batchSize ?? 1000;
  try {
    for (let start = 0; start < opts.n; start += batch) {
      const count = Math.min(batch, opts.n - start);
      // Read outside tidy: tidy would walk every element of a returned typed array.
      const images = tf.tidy(() => model.generate(noiseTensor(tf, count, config.latentDim, rng)));
      pixels.set(toBytes(images.dataSync() as Float32Array), start * size * size);
      images.dispose();
    }
  } finally {
    model.dispose();
    disposeLoaded(checkpoint);
  }
  return { pixels, n: opts.n, size, checkpoint: checkpoint.dir, epoch: checkpoint.state.epoch, skipped };
}
