/**
 * Evaluation of generated images with a classifier: FID (penultimate features, against reference
 * images: MNIST's 10,000 test images with the MNIST classifier, or a run's own data with a
 * classifier trained on it), classifier Inception Score, mode coverage and confidence.
 * `gan eval`, `gan train --eval-every` and tests share this.
 */
import type { Tf } from '../backends/tf';
import {
  classify,
  loadClassifier,
  saveClassifier,
  trainClassifier,
  classifierDir,
  type Classifier,
  type ClassifierTrainOptions,
} from './classifier';
import { loadImages } from '../data/mnist';
import { frechetDistance, inceptionScore, meanAndCovariance, modeCoverage } from './metrics';

export interface EvalRow {
  source: string;
  n: number;
  fid: number;
  inception_score: number;
  classes_covered: number;
  kl_to_uniform: number;
  mean_confidence: number;
  histogram: number[];
  seconds: number;
}

export class Evaluator {
  private reference?: { mean: Float64Array; cov: Float64Array; dim: number };

  constructor(
    readonly tf: Tf,
    readonly classifier: Classifier,
    /** The images FID compares against, in the classifier's shape (default: the 10,000 MNIST test images). */
    private readonly referenceImages?: { pixels: Uint8Array; n: number },
    /** Runs the classifier where it lives: on wasm beside a webgpu run (backends/index.ts, classifierBackend). */
    private readonly onClassifierBackend: <T>(fn: () => Promise<T>) => Promise<T> = (fn) => fn(),
  ) {}

  /** Feature statistics of the reference images: what FID compares against. */
  async referenceStats(): Promise<{ mean: Float64Array; cov: Float64Array; dim: number }> {
    if (!this.reference) {
      const test = this.referenceImages ?? loadImages({ split: 't10k' });
      const { features, featureDim } = await this.onClassifierBackend(() => classify(this.tf, this.classifier.model, test.pixels, test.n));
      this.reference = { ...meanAndCovariance(features, test.n, featureDim), dim: featureDim };
    }
    return this.reference;
  }

  /** Measures n images (bytes, 0 = background) against the test set. */
  async evaluate(pixels: Uint8Array, n: number, source: string): Promise<EvalRow> {
    const t0 = performance.now();
    const ref = await this.referenceStats();
    const { probs, features, featureDim, classes } = await this.onClassifierBackend(() =>
      classify(this.tf, this.classifier.model, pixels, n),
    );
    const stats = meanAndCovariance(features, n, featureDim);
    // A class holds a share of 5% (MNIST's ten: half of a fair share), or half of a fair share of more classes.
    const coverage = modeCoverage(probs, n, classes, classes <= 10 ? 0.05 : 0.5 / classes);
    return {
      source,
      n,
      fid: frechetDistance(stats.mean, stats.cov, ref.mean, ref.cov, featureDim),
      inception_score: inceptionScore(probs, n, classes),
      classes_covered: coverage.classesCovered,
      kl_to_uniform: coverage.klToUniform,
      mean_confidence: coverage.meanMaxConfidence,
      histogram: coverage.histogram,
      seconds: (performance.now() - t0) / 1000,
    };
  }
}

/**
 * The cached classifier, trained first if there is none (a few minutes, once per machine).
 * `onTrainStart` lets the caller say why the wait.
 */
export async function obtainClassifier(
  tf: Tf,
  backend: string,
  opts: { dir?: string; onTrainStart?: () => void; train?: ClassifierTrainOptions } = {},
): Promise<Classifier> {
  const dir = opts.dir ?? classifierDir();
  const cached = await loadClassifier(tf, dir);
  if (cached) return cached;
  opts.onTrainStart?.();
  const trained = await trainClassifier(tf, backend, opts.train);
  await saveClassifier(tf, dir, trained);
  return trained;
}
