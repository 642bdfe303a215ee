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
  testAccuracy: number;
  trainSeconds: number;
  backend: string;
  trainedAt: string;
  files: Record<string, string>;
}

export interface Classifier {
  /** images -> [probabilities [n, 10], features [n, 128]] */
  model: tfType.LayersModel;
  info: Omit<ClassifierInfo, 'files'>;
}

export function buildClassifier(tf: Tf, seed: number): tfType.LayersModel {
  const init = (k: number) => tf.initializers.heNormal({ seed: seed * 16 + k });
  const input = tf.input({ shape: [28, 28, 1] });
  let h = tf.layers
    .conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1), name: 'conv1' })
    .apply(input) as tfType.SymbolicTensor;
  h = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(h) as tfType.SymbolicTensor;
  h = tf.layers
    .conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2), name: 'conv2' })
    .apply(h) as tfType.SymbolicTensor;
  h = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }).apply(h) as tfType.SymbolicTensor;
  h = tf.layers.flatten({ name: 'flatten' }).apply(h) as tfType.SymbolicTensor;
  const features = tf.layers
    .dense({ units: 128, activation: 'relu', kernelInitializer: init(3), name: FEATURES_LAYER })
    .apply(h) as tfType.SymbolicTensor;
  const probs = tf.layers
    .dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 16 + 4 }), name: 'probs' })
    .apply(features) as tfType.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [probs, features], name: 'mnist_classifier' });
}

/** Bytes (0 = background) to the classifier's input [n, 28, 28, 1] in [0, 1]. */
export function classifierInput(tf: Tf, pixels: Uint8Array, n: number): tfType.Tensor4D {
  return tf.tidy(() => tf.div(tf.tensor4d(pixels.subarray(0, n * 784), [n, 28, 28, 1], 'int32').toFloat(), 255) as tfType.Tensor4D);
}

/** Class probabilities and features of n images, in batches (read asynchronously, as the webgpu backend needs). */
export async function classify(
  tf: Tf,
  model: tfType.LayersModel,
  pixels: Uint8Array,
  n: number,
  batch = 500,
): Promise<{ probs: Float32Array; features: Float32Array; featureDim: number }> {
  const featureDim = 128;
  const probs = new Float32Array(n * 10);
  const features = new Float32Array(n * featureDim);
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const [p, f] = tf.tidy(() => model.predict(classifierInput(tf, pixels.subarray(start * 784), count)) as tfType.Tensor[]);
    try {
      probs.set((await p.data()) as Float32Array, start * 10);
      features.set((await f.data()) as Float32Array, start * featureDim);
    } finally {
      p.dispose();
      f.dispose();
    }
  }
  return { probs, features, featureDim };
}

export function accuracy(probs: Float32Array, labels: Uint8Array, n: number): number {
  let right = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (probs[i * 10 + c] > probs[i * 10 + best]) best = c;
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
  onProgress?: (p: { epoch: number; epochs: number; batch: number; batches: number; loss: number }) => void;
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
      const px = new Uint8Array(batchSize * 784);
      const labels = new Int32Array(batchSize);
      idx.forEach((i, k) => {
        px.set(train.pixels.subarray(i * 784, (i + 1) * 784), k * 784);
        labels[k] = train.labels![i];
      });
      const loss = tf.tidy(() => {
        const x = classifierInput(tf, px, batchSize);
        const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
        // Cross-entropy on the softmax output (clipped inside tfjs's categoricalCrossentropy).
        const value = optimizer.minimize(
          () => tf.metrics.categoricalCrossentropy(y, (model.apply(x, { training: true }) as tfType.Tensor[])[0]).mean() as tfType.Scalar,
          true,
        );
        return value ?? tf.scalar(NaN);
      });
      if (b % 50 === 0 || b === batches - 1) {
        const value = (await loss.data())[0];
        opts.onProgress?.({ epoch, epochs, batch: b + 1, batches, loss: value });
        await new Promise((r) => setImmediate(r));
      }
      loss.dispose();
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
