/**
 * The library API of gan. Importing it loads no tfjs backend and installs no handlers:
 * call loadBackend() and pass its `tf` on.
 */
export { loadBackend, parseBackendChoice, BACKEND_CHOICES } from './backends';
export type { Tf, BackendChoice, BackendName, LoadedBackend } from './backends';
export { runDoctor } from './backends/doctor';
export type { DoctorReport } from './backends/doctor';
export * from './util/errors';
export {
  DEFAULT_TRAIN,
  DEFAULT_MODEL,
  resolveTrainConfig,
  resumeConflicts,
  CONFIG_FIELDS,
  configProblems,
  readStoredConfig,
} from './config';
export type { TrainConfig, ModelConfig } from './config';
export { parseIdx, encodeIdx3, encodeIdx1 } from './data/idx';
export { loadImages, scaleToSigned, toBytes, epochOrder, batchesPerEpoch, defaultMnistDir } from './data/mnist';
export { gridLayout, tileImages, encodeGrayPng, gridPng } from './core/image/grid';
export { Rng, Stream, permutation, deriveKey } from './core/rng';
export { GanModel, Network, DenseStack, noiseTensor, generatePixels, sampleLabels, cropCenter, padCenter } from './nets/gan-model';
export { ganSpec, type GanSpec, type NetworkSpec } from './nets';
export { toLayersModel, exportMetadata, type ExportMetadata } from './nets/export';
export { shapes, paramSpecs, forwardFlops, iterationFlops, parameterCount } from './nets/spec';
export { Adam } from './train/adam';
export { GanTrainer } from './train/trainer';
export { train } from './train/loop';
export { STAT_NAMES } from './train/types';
export type { EpochMetrics, ProgressInfo, TrainHooks, TrainOptions, TrainResult, StepStats } from './train/types';
export { saveCheckpoint, loadCheckpoint, loadLatestCheckpoint, listCheckpoints } from './run/checkpoint';
export { sampleRun, sampleWalk } from './run/sample';
export { slerp, latentWalk } from './core/latent';
export { grayGif } from './core/image/gif';
export { writeReport, buildReport } from './report/report';
export { chartSpecs } from './report/charts';
export { exportWeb } from './web/export';
export { createNumberedRun, checkOutDir, createOutDir, newestRun, isRunDir, isDeadEnd, readRunInfo, writeRunInfo } from './run/run-dir';
export { lockRun, checkNotLocked, LOCK_FILE } from './run/lock';
export type { RunLock } from './run/lock';
