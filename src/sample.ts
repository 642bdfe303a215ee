/**
 * Drawing samples from a run's generator: the run's newest checkpoint alone says how to
 * rebuild it (config and weights), so no training flag is repeated here.
 */
import type { Tf } from './backend';
import { disposeLoaded, loadLatestCheckpoint } from './checkpoint';
import { DenseStack, MlpGan, generatePixels } from './model';
import { Rng, Stream } from './rng';

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
  let pixels: Uint8Array;
  try {
    pixels = generatePixels(tf, model, opts.n, Rng.for(opts.seed, Stream.sample), opts.batchSize);
  } finally {
    model.dispose();
    disposeLoaded(checkpoint);
  }
  return { pixels, n: opts.n, size, checkpoint: checkpoint.dir, epoch: checkpoint.state.epoch, skipped };
}
