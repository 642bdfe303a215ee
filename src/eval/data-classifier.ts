/**
 * A classifier trained on a run's own labelled data (class folders, CIFAR-10), for measuring FID,
 * IS and coverage on data that is not MNIST: in ITS feature space, never in MNIST's. The network
 * is buildClassifier's for the data's size, colour and classes; it is trained on a seeded 90% of
 * the images and its accuracy read on the other 10%. Cached per user by the data it was trained
 * on ($GAN_CACHE_DIR/classifiers/KEY, KEY = sha256 of the images, labels, size, colour and class
 * names), so that it is trained once per dataset.
 */
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import type { Tf } from '../backends/tf';
import type { ImageSet } from '../data/mnist';
import { gatherRows } from '../data/image-set';
import { Rng, Stream, permutation } from '../core/rng';
import { userCacheDir } from '../util/paths';
import {
  CLASSIFIER_VERSION,
  accuracy,
  buildClassifier,
  classifierInput,
  classifierTrainStep,
  reportLoss,
  classify,
  loadClassifier,
  saveClassifier,
  type Classifier,
  type ClassifierTrainOptions,
} from './classifier';

/** The share of the images held out to read the classifier's accuracy. */
export const HELD_OUT = 0.1;
/** Training steps to aim for (batches of 64): small datasets get more epochs, up to MAX_EPOCHS. */
const TARGET_STEPS = 600;
const MAX_EPOCHS = 30;

/** The cache key of a data classifier: the data's fingerprint with its size, colour and classes. */
export function dataClassifierKey(images: ImageSet): string {
  const h = crypto.createHash('sha256');
  h.update(
    JSON.stringify({ v: CLASSIFIER_VERSION, n: images.n, size: images.rows, channels: images.channels ?? 1, classes: images.classNames }),
  );
  h.update(images.pixels.subarray(0, images.n * images.rows * images.cols * (images.channels ?? 1)));
  h.update(images.labels!.subarray(0, images.n));
  return h.digest('hex');
}

/** Where the classifier of the data with this key is cached. */
export function dataClassifierDir(key: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(userCacheDir(env), 'classifiers', key.slice(0, 32));
}

/** The names of the data's classes: its class folders, or the digits 0 to K - 1 (CIFAR's labels). */
export function classNamesOf(images: ImageSet): string[] {
  if (images.classNames) return images.classNames;
  let k = 0;
  for (let i = 0; i < images.n; i++) k = Math.max(k, images.labels![i] + 1);
  return Array.from({ length: k }, (_, i) => String(i));
}

/** Trains the classifier on a seeded 90% of labelled images and reads its accuracy on the rest. */
export async function trainDataClassifier(
  tf: Tf,
  backend: string,
  images: ImageSet,
  source: string,
  opts: ClassifierTrainOptions = {},
): Promise<Classifier> {
  const seed = opts.seed ?? 0;
  const batchSize = opts.batchSize ?? 64;
  const size = images.rows;
  const channels = images.channels ?? 1;
  const per = size * size * channels;
  const classNames = classNamesOf(images);
  const classes = classNames.length;
  const order = permutation(images.n, Rng.for(seed, Stream.shuffle, 2000));
  const heldOut = Math.max(1, Math.round(images.n * HELD_OUT));
  const test = order.subarray(0, heldOut);
  const train = order.subarray(heldOut);
  const batches = Math.max(1, Math.floor(train.length / batchSize));
  const epochs = opts.epochs ?? Math.min(MAX_EPOCHS, Math.max(2, Math.ceil(TARGET_STEPS / batches)));
  const model = buildClassifier(tf, seed, { size, channels, classes });
  const optimizer = tf.train.adam(1e-3);
  const t0 = performance.now();
  const gather = (idx: ArrayLike<number>) => ({
    px: gatherRows(images.pixels, idx, per),
    labels: Int32Array.from(idx, (i) => images.labels![i]),
  });
  for (let epoch = 1; epoch <= epochs; epoch++) {
    // 1e-3, then a tenth of it for the last fifth of the epochs.
    (optimizer as unknown as { learningRate: number }).learningRate = epoch > Math.ceil(0.8 * epochs) ? 1e-4 : 1e-3;
    const shuffled = permutation(train.length, Rng.for(seed, Stream.shuffle, 3000 + epoch));
    for (let b = 0; b < batches; b++) {
      const count = Math.min(batchSize, train.length);
      const idx = Array.from({ length: count }, (_, k) => train[shuffled[(b * batchSize + k) % train.length]]);
      const { px, labels } = gather(idx);
      const loss = classifierTrainStep(tf, model, optimizer, classifierInput(tf, px, count, size, channels), labels, classes);
      await reportLoss(loss, b, batches, 20, (value) => opts.onProgress?.({ epoch, epochs, batch: b + 1, batches, loss: value }));
    }
  }
  optimizer.dispose();
  const trainSeconds = (performance.now() - t0) / 1000;
  const held = gather(test);
  const { probs } = await classify(tf, model, held.px, heldOut);
  return {
    model,
    info: {
      version: CLASSIFIER_VERSION,
      seed,
      epochs,
      testAccuracy: accuracy(probs, Uint8Array.from(held.labels), heldOut, classes),
      trainSeconds,
      backend,
      trainedAt: new Date().toISOString(),
      data: { key: dataClassifierKey(images), source, images: images.n, heldOut, size, channels, classNames },
    },
  };
}

/**
 * The data's cached classifier, trained first if there is none (once per dataset); a cached one
 * that does not answer to the key (another dataset under a clashing name) is trained again.
 */
export async function obtainDataClassifier(
  tf: Tf,
  backend: string,
  images: ImageSet,
  source: string,
  opts: { env?: NodeJS.ProcessEnv; onTrainStart?: (dir: string) => void; train?: ClassifierTrainOptions } = {},
): Promise<Classifier> {
  const key = dataClassifierKey(images);
  const dir = dataClassifierDir(key, opts.env);
  const cached = await loadClassifier(tf, dir);
  if (cached && cached.info.data?.key === key) return cached;
  cached?.model.dispose();
  opts.onTrainStart?.(dir);
  const trained = await trainDataClassifier(tf, backend, images, source, opts.train);
  await saveClassifier(tf, dir, trained);
  return trained;
}
