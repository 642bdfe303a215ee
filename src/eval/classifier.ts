/**
 * The MNIST classifier that evaluation measures samples with (TF-GAN's convention on MNIST:
 * a classifier trained on MNIST in place of Inception). Its 128-unit penultimate layer gives
 * the features for FID; its softmax the class probabilities for IS and mode coverage.
 *
 *   input [28, 28, 1] in [0, 1]
 *   conv 3x3 x 32, ReLU   -> [28, 28, 32] -> max-pool 2 -> [14, 14, 32]
 *   conv 3x3 x 64, ReLU   -> [14, 14, 64] -> max-pool 2 -> [7, 7, 64]
 *   flatten 3136 -> dense 128, ReLU ("features") -> dense 10, softmax
 * Measured here on wasm: 5x5 convs of 32/64 cost 250 s an epoch (one thread); 5x5 of 16/32
 * stall at 98.98% test accuracy; this size passes 99% in two epochs of about 110 s (2 threads).
 *
 * Trained by the project itself, deterministically for a seed: seeded initialisers, our own
 * data order, no dropout. Cached per user (classifierDir()), so that `gan eval` from any folder
 * finds it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import { loadImages, type ImageSet } from '../data/mnist';
import { gatherRows } from '../data/image-set';
import { Rng, Stream, permutation } from '../core/rng';
import { CheckpointError } from '../util/errors';
import { ganCommand } from '../util/invocation';
import { userCacheDir } from '../util/paths';
import { fsyncDir, ioError, sha256, writeFileDurable } from '../util/fs';

export const CLASSIFIER_VERSION = 1;
export const FEATURES_LAYER = 'features';

/**
 * Where the trained classifier is cached: $GAN_CACHE_DIR/classifier, else
 * $XDG_CACHE_HOME/gan/classifier, else ~/.cache/gan/classifier. Per user, not per folder.
 */
export function classifierDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(userCacheDir(env), 'classifier');
}

export interface ClassifierInfo {
  version: number;
  seed: number;
  epochs: number;
  /** Accuracy on images it was not trained on: MNIST's test set, or a data classifier's held-out share. */
  testAccuracy: number;
  /** A data classifier's: what it was trained on (absent for MNIST's). */
  data?: DataClassifierInfo;
  trainSeconds: number;
  backend: string;
  trainedAt: string;
  files: Record<string, string>;
}

/** What a classifier trained on a run's data was trained on: the key of its cache, and the data's description. */
export interface DataClassifierInfo {
  /** sha256 of the images, labels, size, colour and class names (the cache folder's name). */
  key: string;
  /** The --data folder it was trained from, as given. */
  source: string;
  images: number;
  heldOut: number;
  size: number;
  channels: number;
  classNames: string[];
}

export interface Classifier {
  /** images -> [probabilities [n, classes], features [n, 128]] */
  model: tfType.LayersModel;
  info: Omit<ClassifierInfo, 'files'>;
}

/** What a classifier reads and tells apart: MNIST's is 28 x 28 x 1 and ten digits. */
export interface ClassifierShape {
  size: number;
  channels: number;
  classes: number;
}

export const MNIST_SHAPE: ClassifierShape = { size: 28, channels: 1, classes: 10 };

/**
 * The classifier for images of `shape` (default MNIST's). MNIST's is the network above; for other
 * data the same convolution + pooling blocks (32, 64, then 128 filters) repeat until the side is
 * 8 or less (32 -> 8 in two blocks, 64 -> 8 in three), then the 128-unit features and a softmax
 * over the data's classes.
 */
export function buildClassifier(tf: Tf, seed: number, shape: ClassifierShape = MNIST_SHAPE): tfType.LayersModel {
  const init = (k: number) => tf.initializers.heNormal({ seed: seed * 16 + k });
  const mnist = shape.size === 28 && shape.channels === 1 && shape.classes === 10;
  const input = tf.input({ shape: [shape.size, shape.size, shape.channels] });
  let h: tfType.SymbolicTensor = input;
  let side = shape.size;
  const filters = [32, 64, 128, 128, 128, 128];
  for (let b = 0; b === 0 || (mnist ? b < 2 : side > 8); b++) {
    // Block b: [side, side, .] -> conv 3x3 x filters[b], ReLU -> max-pool 2 -> [side / 2, side / 2, filters[b]]
    h = tf.layers
      .conv2d({
        filters: filters[b],
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(b === 0 ? 1 : b === 1 ? 2 : 5 + b),
        name: `conv${b + 1}`,
      })
      .apply(h) as tfType.SymbolicTensor;
    h = tf.layers.maxPooling2d({ poolSize: 2, name: `pool${b + 1}` }).apply(h) as tfType.SymbolicTensor;
    side = Math.floor(side / 2);
  }
  h = tf.layers.flatten({ name: 'flatten' }).apply(h) as tfType.SymbolicTensor;
  const features = tf.layers
    .dense({ units: 128, activation: 'relu', kernelInitializer: init(3), name: FEATURES_LAYER })
    .apply(h) as tfType.SymbolicTensor;
  const probs = tf.layers
    .dense({
      units: shape.classes,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 16 + 4 }),
      name: 'probs',
    })
    .apply(features) as tfType.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [probs, features], name: mnist ? 'mnist_classifier' : 'data_classifier' });
}

/** The shape a built (or loaded) classifier reads and tells apart. */
export function classifierShape(model: tfType.LayersModel): ClassifierShape {
  const [, size, , channels] = model.inputs[0].shape as number[];
  const classes = (model.outputs[0].shape as number[])[1];
  return { size, channels, classes };
}

/** Bytes (0 = background) to the classifier's input [n, size, size, channels] in [0, 1] (default MNIST's 28 x 28 x 1). */
export function classifierInput(tf: Tf, pixels: Uint8Array, n: number, size = 28, channels = 1): tfType.Tensor4D {
  const per = size * size * channels;
  return tf.tidy(
    () => tf.div(tf.tensor4d(pixels.subarray(0, n * per), [n, size, size, channels], 'int32').toFloat(), 255) as tfType.Tensor4D,
  );
}

/** Where a classifier's training is: reported every few batches. */
export interface ClassifierProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
}

/**
 * A training batch's loss, then disposed: every `every`-th batch and the last read (async, for
 * the webgpu backend) and handed to `report`, and the event loop let run (progress, signals).
 */
export async function reportLoss(
  loss: tfType.Scalar,
  batch: number,
  batches: number,
  every: number,
  report: (value: number) => void,
): Promise<void> {
  if (batch % every === 0 || batch === batches - 1) {
    report((await loss.data())[0]);
    await new Promise((r) => setImmediate(r));
  }
  loss.dispose();
}

/**
 * One training step of a classifier on a batch: softmax cross-entropy (clipped inside tfjs's
 * categoricalCrossentropy) minimized once. Takes `x`, disposes everything it makes; returns
 * the loss, for the caller to read when it shows progress and then dispose.
 */
export function classifierTrainStep(
  tf: Tf,
  model: tfType.LayersModel,
  optimizer: tfType.Optimizer,
  x: tfType.Tensor,
  labels: Int32Array,
  classes: number,
): tfType.Scalar {
  return tf.tidy(() => {
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
    const value = optimizer.minimize(
      () => tf.metrics.categoricalCrossentropy(y, (model.apply(x, { training: true }) as tfType.Tensor[])[0]).mean() as tfType.Scalar,
      true,
    );
    x.dispose();
    return value ?? tf.scalar(NaN);
  });
}

/** Class probabilities and features of n images, in batches (read asynchronously, as the webgpu backend needs). */
export async function classify(
  tf: Tf,
  model: tfType.LayersModel,
  pixels: Uint8Array,
  n: number,
  batch = 500,
): Promise<{ probs: Float32Array; features: Float32Array; featureDim: number; classes: number }> {
  const featureDim = 128;
  const { size, channels, classes } = classifierShape(model);
  const per = size * size * channels;
  const probs = new Float32Array(n * classes);
  const features = new Float32Array(n * featureDim);
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const [p, f] = tf.tidy(
      () => model.predict(classifierInput(tf, pixels.subarray(start * per), count, size, channels)) as tfType.Tensor[],
    );
    try {
      probs.set((await p.data()) as Float32Array, start * classes);
      features.set((await f.data()) as Float32Array, start * featureDim);
    } finally {
      p.dispose();
      f.dispose();
    }
  }
  return { probs, features, featureDim, classes };
}

export function accuracy(probs: Float32Array, labels: Uint8Array, n: number, classes = 10): number {
  let right = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
    if (best === labels[i]) right++;
  }
  return right / n;
}

export interface ClassifierTrainOptions {
  seed?: number;
  epochs?: number;
  batchSize?: number;
  /** Train on the first N training images (tests). */
  limit?: number;
  onProgress?: (p: ClassifierProgress) => void;
}

/** Trains the classifier with Adam on MNIST's training set in a seeded order; reports test accuracy. */
export async function trainClassifier(tf: Tf, backend: string, opts: ClassifierTrainOptions = {}): Promise<Classifier> {
  const seed = opts.seed ?? 0;
  const epochs = opts.epochs ?? 2;
  const batchSize = opts.batchSize ?? 64;
  const train = loadImages({ labels: true, limit: opts.limit });
  const test = loadImages({ split: 't10k', labels: true });
  const model = buildClassifier(tf, seed);
  const optimizer = tf.train.adam(1e-3);
  const t0 = performance.now();
  const batches = Math.floor(train.n / batchSize);
  for (let epoch = 1; epoch <= epochs; epoch++) {
    // Step decay: 1e-3 learns fast, then smaller steps settle.
    (optimizer as unknown as { learningRate: number }).learningRate = [1e-3, 3e-4, 1e-4][Math.min(epoch - 1, 2)];
    const order = permutation(train.n, Rng.for(seed, Stream.shuffle, 1000 + epoch));
    for (let b = 0; b < batches; b++) {
      const idx = order.subarray(b * batchSize, (b + 1) * batchSize);
      const px = gatherRows(train.pixels, idx, 784);
      const labels = Int32Array.from(idx, (i) => train.labels![i]);
      const loss = classifierTrainStep(tf, model, optimizer, classifierInput(tf, px, batchSize), labels, 10);
      await reportLoss(loss, b, batches, 50, (value) => opts.onProgress?.({ epoch, epochs, batch: b + 1, batches, loss: value }));
    }
  }
  optimizer.dispose();
  const trainSeconds = (performance.now() - t0) / 1000;
  const { probs } = await classify(tf, model, test.pixels, test.n);
  return {
    model,
    info: {
      version: CLASSIFIER_VERSION,
      seed,
      epochs,
      testAccuracy: accuracy(probs, test.labels!, test.n),
      trainSeconds,
      backend,
      trainedAt: new Date().toISOString(),
    },
  };
}

/** Writes the classifier to dir atomically (a temporary folder renamed into place). */
export async function saveClassifier(tf: Tf, dir: string, c: Classifier): Promise<void> {
  let artifacts: tfType.io.ModelArtifacts | undefined;
  await c.model.save(
    tf.io.withSaveHandler(async (a) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })),
  );
  const weights = Array.isArray(artifacts!.weightData)
    ? Buffer.concat(artifacts!.weightData.map((b) => Buffer.from(b)))
    : Buffer.from(artifacts!.weightData as ArrayBuffer);
  const modelJson = JSON.stringify({
    format: 'layers-model',
    modelTopology: artifacts!.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts!.weightSpecs }],
  });
  const info: ClassifierInfo = { ...c.info, files: { 'model.json': sha256(modelJson), 'weights.bin': sha256(weights) } };
  const tmp = `${dir}.tmp-${process.pid}`;
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    writeFileDurable(path.join(tmp, 'model.json'), modelJson);
    writeFileDurable(path.join(tmp, 'weights.bin'), weights);
    writeFileDurable(path.join(tmp, 'info.json'), JSON.stringify(info, null, 1));
    fsyncDir(tmp);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    fsyncDir(path.dirname(dir));
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw ioError(e, 'save the classifier to', dir);
  }
}

/** Loads a cached classifier, or undefined if there is none of this version; damage is an error. */
export async function loadClassifier(tf: Tf, dir: string): Promise<Classifier | undefined> {
  const infoPath = path.join(dir, 'info.json');
  if (!fs.existsSync(infoPath)) return undefined;
  let info: ClassifierInfo;
  try {
    info = JSON.parse(fs.readFileSync(infoPath, 'utf8'));
  } catch {
    throw new CheckpointError(`${infoPath} is damaged`, `Retrain it with: ${ganCommand('classifier', 'train')}`);
  }
  if (info.version !== CLASSIFIER_VERSION) return undefined;
  const files: Record<string, Buffer> = {};
  for (const name of ['model.json', 'weights.bin']) {
    const p = path.join(dir, name);
    const data = fs.existsSync(p) ? fs.readFileSync(p) : undefined;
    if (!data || sha256(data) !== info.files[name])
      throw new CheckpointError(
        `the cached classifier's ${name} is missing or damaged`,
        `Retrain it with: ${ganCommand('classifier', 'train')}`,
      );
    files[name] = data;
  }
  const json = JSON.parse(files['model.json'].toString('utf8'));
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: new Uint8Array(files['weights.bin']).buffer,
    }),
  );
  const { files: _files, ...rest } = info;
  return { model, info: rest };
}

export type { ImageSet };
