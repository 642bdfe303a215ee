/**
 * Drawing samples from a run's generator: the run's newest checkpoint alone says how to
 * rebuild it (config and weights), so no training flag is repeated here.
 */
import type { Tf } from './backend';
import { disposeLoaded, loadLatestCheckpoint } from './checkpoint';
import { DenseStack, MlpGan, generatePixels } from './model';
import { Rng, Stream } from './rng';
import { latentWalk } from './latent';
import { toBytes } from './image/pixels';
import { tileImages } from './image/tile';

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

export interface LatentWalk {
  /** One grid per frame (width x height gray bytes): cell j follows walk j. */
  frames: Uint8Array[];
  width: number;
  height: number;
  checkpoint: string;
  epoch: number;
  skipped: string[];
}

/**
 * `walks` latent walks side by side, each a loop through `points` random points (slerp,
 * `framesPerSegment` frames per leg). Point k of walk j is the (k * walks + j)-th noise vector
 * drawn from `seed`, so the first frame holds what `gan sample --seed S --n walks` draws.
 */
export function sampleWalk(tf: Tf, runDir: string, opts: { walks: number; points: number; framesPerSegment: number; seed: number; padding?: number }): LatentWalk {
  const { checkpoint, skipped } = loadLatestCheckpoint(tf, runDir);
  const config = checkpoint.state.config;
  const model = new MlpGan(tf, config, DenseStack.fromWeights(tf, checkpoint.generatorWeights), new DenseStack([]));
  const latent = config.latentDim;
  const size = config.imageSize;
  const noise = Rng.for(opts.seed, Stream.sample).fillNormal(new Float32Array(opts.points * opts.walks * latent));
  const vector = (k: number, j: number) => noise.subarray((k * opts.walks + j) * latent, (k * opts.walks + j + 1) * latent);
  // walk j's frames, then regrouped by frame: frameLatents[f] is [walks, latent].
  const perWalk = Array.from({ length: opts.walks }, (_, j) => latentWalk(Array.from({ length: opts.points }, (_, k) => vector(k, j)), opts.framesPerSegment));
  const frames: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  try {
    for (let f = 0; f < perWalk[0].length; f++) {
      const z = new Float32Array(opts.walks * latent);
      for (let j = 0; j < opts.walks; j++) z.set(perWalk[j][f], j * latent);
      const images = tf.tidy(() => model.generate(tf.tensor2d(z, [opts.walks, latent])));
      const pixels = toBytes(images.dataSync() as Float32Array);
      images.dispose();
      const { layout, gray } = tileImages(pixels, opts.walks, size, size, { padding: opts.padding });
      frames.push(gray);
      width = layout.width;
      height = layout.height;
    }
  } finally {
    model.dispose();
    disposeLoaded(checkpoint);
  }
  return { frames, width, height, checkpoint: checkpoint.dir, epoch: checkpoint.state.epoch, skipped };
}
