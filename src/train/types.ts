/**
 * What the training core and its callers exchange: the step's stats, the loop's metrics, hooks
 * and options. Types only, so that readers of these records (the report, the commands) need not
 * import the trainer.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import type { BackendName } from '../backends';
import type { TrainConfig } from '../config';
import type { TrainingImages } from '../data/mnist';
import type { Evaluator } from '../eval/evaluator';
import type { DataFingerprint } from '../run/checkpoint';
import type { Diagnosis } from './diagnose';

type Tensor1D = tfType.Tensor1D;
type Tensor2D = tfType.Tensor2D;

/** What each step reports, in this order: the names of the columns of a stats tensor. */
export const STAT_NAMES = ['d_loss', 'g_loss', 'd_real', 'd_fake'] as const;
export type StepStats = Record<(typeof STAT_NAMES)[number], number>;

/** A batch as the step takes it: images [B, work * work * channels] in [-1, 1], and labels [B] for conditional runs. */
export interface BatchTensors {
  images: Tensor2D;
  labels?: Tensor1D;
}

/** Where the training set is held: as float32 on the backend, as bytes on the host, or in its cache file. */
export type DataPlacement = 'device' | 'host' | 'stream';

/** The training set, wherever it is held (src/train/dataset.ts). */
export interface Dataset {
  readonly held: DataPlacement;
  /** The rows `indices`, in that order, as new tensors: the caller disposes them (or takes them in a tidy). */
  batch(indices: Int32Array): BatchTensors;
  dispose(): void;
}

/** D's per-row targets and (with the test knob --debug-d-real-only) per-row loss weights, [2B, 1] each. */
export interface DTargets {
  target: Tensor2D;
  weight?: Tensor2D;
}

/** What changes G's loss beyond the plain non-saturating one. */
export interface GeneratorExtras {
  /** Added to G's images before D sees them (instance noise). */
  inputNoise?: Tensor2D;
  /** Feature matching: the mean D feature of the real batch, [1, ...feature]; replaces the non-saturating loss. */
  realFeatureMean?: tfType.Tensor;
}

/** Evaluation figures that join an epoch's metrics line when --eval-every asks for them. */
export interface EpochEval {
  fid: number;
  inception_score: number;
  classes_covered: number;
  kl_to_uniform: number;
  mean_confidence: number;
  eval_seconds: number;
  best: boolean;
}

export interface EpochMetrics extends StepStats, Partial<EpochEval> {
  epoch: number;
  step: number;
  /** Standard deviation of the per-step losses over the epoch. */
  d_loss_std: number;
  g_loss_std: number;
  /** The failure mode the run shows at this epoch (src/train/diagnose.ts), if any. */
  diagnosis?: Diagnosis;
  iterations: number;
  seconds: number;
  ms_per_iter: number;
  backend: string;
  batch_size: number;
}

export interface ProgressInfo {
  epoch: number;
  /** Batches done in this epoch. */
  iteration: number;
  itersPerEpoch: number;
  step: number;
  /** Means over the epoch so far. */
  means: StepStats;
  /** Iterations per second over the epoch so far. */
  itPerSec: number;
}

export interface TrainHooks {
  onStart?(info: {
    runDir: string;
    config: TrainConfig;
    itersPerEpoch: number;
    images: number;
    epoch: number;
    iteration: number;
    step: number;
    resumedFrom?: string;
    skipped: string[];
    /** Where the data is held, in a line; undefined when it is on the device. */
    dataLine?: string;
  }): void;
  onProgress?(p: ProgressInfo): void;
  onEpoch?(m: EpochMetrics, files: { grid: string; checkpoint: string }): void;
  /** Polled after every step; true stops the run with a checkpoint at that step. */
  shouldStop?(): boolean;
}

export interface TrainOptions {
  tf: Tf;
  backend: BackendName;
  config: TrainConfig;
  runDir: string;
  /**
   * Continue from the run's newest checkpoint instead of starting fresh, with the checkpoint's
   * own config (of `config`, only `epochs`, the target, is taken).
   */
  resume?: boolean;
  /** The training images already loaded (and their fingerprint); default: loaded from config. */
  data?: { images: TrainingImages; fingerprint: DataFingerprint };
  /** Read step statistics from the device every this many steps (default 10). */
  readEvery?: number;
  /** Also checkpoint every this many steps inside epochs (default: at epoch ends only). */
  checkpointEvery?: number;
  /** Measure FID, IS and coverage every `every` epochs on `n` samples; keep the best by FID in best/. */
  evaluation?: { every: number; n: number; evaluator: Evaluator };
}

export interface TrainResult {
  runDir: string;
  /** Epochs completed. */
  epoch: number;
  step: number;
  /** True when shouldStop() ended the run early (a checkpoint was written). */
  stopped: boolean;
  checkpoint?: string;
}
