/**
 * Checks on whether a run can be resumed, made in two places: by `gan train --resume` before
 * anything is loaded (on the newest checkpoint's state), and by the trainer on the checkpoint it
 * actually loaded (another process may have trained the run in between). Each check lives here
 * once, so both places refuse the same way. Pure: they read no files and throw a GanError.
 */
import { ConfigError } from '../util/errors';
import type { CheckpointState } from './checkpoint';

/**
 * Refuses to resume a run whose checkpoint is already at or past `epochs`, the target: there is
 * nothing left to train. `at` is where the checkpoint stands (epochs completed, and batches done
 * in the next one). Exit code 2 (ConfigError): the fix is a flag, --epochs.
 */
export function checkEpochsLeft(runDir: string, at: Pick<CheckpointState, 'epoch' | 'iteration'>, epochs: number): void {
  if (at.epoch < epochs) return;
  const finishedExactly = at.iteration === 0 && at.epoch === epochs;
  throw new ConfigError(
    finishedExactly ? `${runDir} already finished ${at.epoch} of ${epochs} epochs` : `${runDir} is past epoch ${epochs} (in epoch ${at.epoch + 1})`,
    `Pass --epochs N with N > ${at.epoch} to train it further`,
  );
}
