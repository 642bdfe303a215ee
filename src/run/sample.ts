/**
 * Drawing samples from a run's generator: the run's newest checkpoint alone says how to
 * rebuild it (architecture, config and weights), so no training flag is repeated here.
 */
import type { Tf } from '../backends/tf';
import { disposeLoaded, loadLatestCheckpoint } from './checkpoint';
import { ConfigError } from '../util/errors';
import { GanModel, Network, generatePixels, pixelsFromNoise, sampleLabels } from '../nets/gan-model';
import { ganSpec } from '../nets';
import { Rng, Stream } from '../core/rng';
import { latentWalk } from '../core/latent';
import { tileImages } from '../core/image/tile';
import { digitColumns, equalShares, LABEL_CLASSES } from '../core/labels';

/** Samples when none are asked for: an 8 x 8 grid, or ten of every digit for a conditional run. */
export const DEFAULT_SAMPLES = 64;
export const DEFAULT_CONDITIONAL_SAMPLES = 100;
/** Walks side by side in a walk GIF when none are asked for: 4 x 4, or one per digit for a conditional run. */
export const DEFAULT_WALKS = 16;

export interface Samples {
  /** n x size x size x channels bytes, 0 = background, 255 = stroke (MNIST's convention). */
  pixels: Uint8Array;
  n: number;
  size: number;
  /** 1 (gray) or 3 (rgb). */
  channels: number;
  /** The digit of each sample, for a conditional run. */
  labels?: Int32Array;
  /** Images per row of a grid of them: one row per digit when every digit is drawn (else near-square). */
  cols?: number;
  checkpoint: string;
  epoch: number;
  /** The checkpoint's step. */
  step: number;
  skipped: string[];
  /** Which generator drew them: the EMA generator when the checkpoint has one (unless raw was asked), else the trained one. */
  generator: 'ema' | 'raw';
  /** A conditional run's class names (its data's class folders; the digits 0-9 for IDX data). */
  classNames?: string[];
}

/**
 * A conditional run's class names: the class folders its data had (stored with the run), else
 * the digits of MNIST-format data, 0 to classes - 1.
 */
export function runClassNames(config: { classes: number }, data?: { classes?: string[] }): string[] {
  return data?.classes ?? Array.from({ length: config.classes }, (_, i) => String(i));
}

/**
 * The label of `--class NAME`: its index among the run's class names, refused in one line
 * (naming them) when the run has no such class.
 */
export function classIndex(name: string, names: string[], runDir: string): number {
  const i = names.indexOf(name);
  if (i >= 0) return i;
  const shown = names.length > 20 ? `${names.slice(0, 20).join(', ')}, ... (${names.length} in all)` : names.join(', ');
  throw new ConfigError(`--class ${name}: ${runDir} has no class '${name}'`, `Pass one of its classes: ${shown}`);
}

/**
 * A run's generator (and discriminator) from its newest valid checkpoint: the EMA generator when
 * the run trained one (--ema), unless `raw` asks for the trained weights. The caller disposes it.
 */
export function loadRunModel(
  tf: Tf,
  runDir: string,
  opts: { raw?: boolean } = {},
): Pick<Samples, 'checkpoint' | 'epoch' | 'step' | 'skipped' | 'generator' | 'classNames'> & { model: GanModel } {
  const { checkpoint, skipped } = loadLatestCheckpoint(tf, runDir);
  try {
    const config = checkpoint.state.config;
    const spec = ganSpec(config);
    const ema = !opts.raw && checkpoint.emaGeneratorWeights ? checkpoint.emaGeneratorWeights : undefined;
    const model = new GanModel(
      tf,
      config,
      Network.fromValues(tf, spec.generator, ema ?? checkpoint.generatorWeights),
      Network.fromValues(tf, spec.discriminator, checkpoint.discriminatorWeights),
    );
    const { epoch, step } = checkpoint.state;
    const classNames = model.conditional ? runClassNames(config, checkpoint.state.data) : undefined;
    return { model, checkpoint: checkpoint.dir, epoch, step, skipped, generator: ema ? 'ema' : 'raw', classNames };
  } finally {
    disposeLoaded(checkpoint);
  }
}

/**
 * Generates n images with noise drawn from `seed`, in batches to bound memory. For a
 * conditional run, all of `digit` (or of the class named `className`), or every class in equal
 * shares, in order: then n is rounded up to a multiple of the classes (the returned n says how
 * many were drawn).
 */
export async function sampleRun(
  tf: Tf,
  runDir: string,
  opts: { n?: number; seed: number; batchSize?: number; digit?: number; className?: string; raw?: boolean },
): Promise<Samples> {
  const { model, checkpoint, epoch, step, skipped, generator, classNames } = loadRunModel(tf, runDir, { raw: opts.raw });
  try {
    const asked =
      opts.className !== undefined ? `--class ${opts.className}` : opts.digit !== undefined ? `--digit ${opts.digit}` : undefined;
    if (asked !== undefined && !model.conditional) {
      throw new ConfigError(
        `${asked}: ${runDir} is not a conditional run, so it cannot be asked for a ${opts.className !== undefined ? 'class' : 'digit'}`,
        `Drop ${asked.split(' ')[0]}, or sample a run trained with --conditional`,
      );
    }
    const digit = opts.className !== undefined ? classIndex(opts.className, classNames!, runDir) : opts.digit;
    if (digit !== undefined && digit >= model.config.classes)
      throw new ConfigError(
        `--digit ${digit}: ${runDir} has ${model.config.classes} classes`,
        `Pass a digit from 0 to ${model.config.classes - 1}`,
      );
    const everyDigit = model.conditional && digit === undefined;
    const n = everyDigit ? equalShares(opts.n ?? DEFAULT_CONDITIONAL_SAMPLES, model.config.classes) : (opts.n ?? DEFAULT_SAMPLES);
    const labels = model.conditional ? sampleLabels(n, digit, model.config.classes) : undefined;
    const pixels = await generatePixels(tf, model, n, Rng.for(opts.seed, Stream.sample), { batch: opts.batchSize, labels });
    const cols = everyDigit ? n / model.config.classes : undefined;
    return {
      pixels,
      n,
      size: model.spec.imageSize,
      channels: model.spec.imageChannels,
      labels,
      cols,
      checkpoint,
      epoch,
      step,
      skipped,
      generator,
      classNames,
    };
  } finally {
    model.dispose();
  }
}

export interface LatentWalk {
  /** One grid per frame (width x height x channels bytes): cell j follows walk j. */
  frames: Uint8Array[];
  /** 1 (gray) or 3 (rgb). */
  channels: number;
  /** A conditional run's walks also morph each digit into the next, leg by leg. */
  morphs: boolean;
  /** Walks side by side: a conditional run's are rounded up to a multiple of ten, one column per digit. */
  walks: number;
  width: number;
  height: number;
  checkpoint: string;
  epoch: number;
  skipped: string[];
}

/**
 * `walks` latent walks side by side, each a loop through `points` random points (slerp,
 * `framesPerSegment` frames per leg). Point k of walk j is the (k * walks + j)-th noise vector
 * drawn from `seed`, so the first frame of an unconditional run holds what
 * `gan sample --seed S --n walks` draws. A conditional run's walks are laid out one digit per
 * column, ten columns (a strip of rows by digit would be two images wide).
 */
export async function sampleWalk(
  tf: Tf,
  runDir: string,
  opts: { walks?: number; points: number; framesPerSegment: number; seed: number; padding?: number },
): Promise<LatentWalk> {
  const { model, checkpoint, epoch, skipped } = loadRunModel(tf, runDir);
  const walks = model.conditional ? equalShares(opts.walks ?? LABEL_CLASSES) : (opts.walks ?? DEFAULT_WALKS);
  try {
    return await walkFrames(tf, model, { ...opts, walks }, { checkpoint, epoch, skipped });
  } finally {
    model.dispose();
  }
}

async function walkFrames(
  tf: Tf,
  model: GanModel,
  opts: { walks: number; points: number; framesPerSegment: number; seed: number; padding?: number },
  from: { checkpoint: string; epoch: number; skipped: string[] },
): Promise<LatentWalk> {
  const latent = model.config.latentDim;
  const size = model.spec.imageSize;
  const noise = Rng.for(opts.seed, Stream.sample).fillNormal(new Float32Array(opts.points * opts.walks * latent));
  const vector = (k: number, j: number) => noise.subarray((k * opts.walks + j) * latent, (k * opts.walks + j + 1) * latent);
  const perWalk = Array.from({ length: opts.walks }, (_, j) =>
    latentWalk(
      Array.from({ length: opts.points }, (_, k) => vector(k, j)),
      opts.framesPerSegment,
    ),
  );
  // A conditional run also morphs each walk's digit into the next one (d -> d + 1) on every
  // leg, through the label embedding: the table is replaced by rows (1 - t) E[d] + t E[d + 1]
  // for the frame's t, so label d draws the in-between digit (this loaded copy is ours to change).
  const morph = model.conditional ? await digitMorph(tf, model.generator, digitColumns(opts.walks)) : undefined;
  const cols = morph ? LABEL_CLASSES : undefined;
  const frames: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  for (let f = 0; f < perWalk[0].length; f++) {
    // Frame f: [walks, latent], row j on walk j.
    const z = new Float32Array(opts.walks * latent);
    for (let j = 0; j < opts.walks; j++) z.set(perWalk[j][f], j * latent);
    const labels = morph?.at(Math.floor(f / opts.framesPerSegment), (f % opts.framesPerSegment) / opts.framesPerSegment);
    const zt = tf.tensor2d(z, [opts.walks, latent]);
    let pixels: Uint8Array;
    try {
      pixels = await pixelsFromNoise(tf, model, zt, labels);
    } finally {
      zt.dispose();
    }
    const { layout, gray } = tileImages(pixels, opts.walks, size, size, {
      padding: opts.padding,
      cols,
      channels: model.spec.imageChannels,
    });
    frames.push(gray);
    width = layout.width;
    height = layout.height;
  }
  return { frames, channels: model.spec.imageChannels, morphs: !!morph, walks: opts.walks, width, height, ...from };
}

/**
 * Digit morphs for a conditional generator: at(leg, t) sets the embedding table so that label
 * d draws (1 - t) of digit d + leg and t of digit d + leg + 1 (mod 10), and returns the labels
 * (each walk's first digit) to ask for.
 */
async function digitMorph(tf: Tf, generator: Network, first: Int32Array): Promise<{ at(leg: number, t: number): Int32Array }> {
  const label = generator.spec.label!;
  const table = generator.get(`${label.layer}/embeddings`);
  const original = ((await table.data()) as Float32Array).slice();
  const classes = label.classes;
  const dim = label.dim;
  return {
    at(leg, t) {
      const mixed = new Float32Array(classes * dim);
      for (let d = 0; d < classes; d++) {
        const a = ((d + leg) % classes) * dim;
        const b = ((d + leg + 1) % classes) * dim;
        for (let i = 0; i < dim; i++) mixed[d * dim + i] = (1 - t) * original[a + i] + t * original[b + i];
      }
      tf.tidy(() => table.assign(tf.tensor2d(mixed, [classes, dim])));
      return first;
    },
  };
}
