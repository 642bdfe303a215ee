/**
 * How `gan train` stops early: Ctrl-C, SIGTERM or a failing standard output ask the run to stop
 * after the step in flight (with a checkpoint at that step), and the error it then exits with
 * says where it stopped and how to go on.
 */
import { GanError, InterruptedError, signalExitCode } from '../util/errors';
import { ganCommand } from '../util/invocation';
import { plural } from '../util/text';
import type { TrainResult } from '../train/types';
import { onOutputFailure } from './output';
import type { ProgressDisplay } from './progress';

/** The command that continues a run from its newest checkpoint. */
export const resumeCommand = (dir: string): string => ganCommand('train', '--resume', '--out', dir);

export interface StopRequests {
  /** Set by the first SIGINT / SIGTERM, or 'output' when stdout failed first; the run then stops after the step in flight. */
  readonly reason: NodeJS.Signals | 'output' | undefined;
  /** What failed when reason is 'output'. */
  readonly outputError: NodeJS.ErrnoException | undefined;
  /** Removes the process-wide handlers (they must not outlive the command). */
  dispose(): void;
}

/**
 * Ctrl-C once: finish the step in flight (the loop yields after every step), checkpoint, exit.
 * Twice: exit now, restoring the terminal (the last complete checkpoint is untouched, since
 * checkpoints are renamed into place whole). A closed or failing stdout stops the run the way
 * the first Ctrl-C does. SIGTERM is handled like Ctrl-C, and so is SIGHUP (the terminal was
 * closed): Node's default for it is to die at once, losing the epoch in flight.
 *
 * The bar is cleared for good before the message is written: cli-progress clears a bar by
 * going back to where it started it, so a bar cleared after the message would be cleared over
 * it, and the lines printed next would land there too, over the message or above it.
 */
export function watchStopRequests(dir: string, progress: ProgressDisplay): StopRequests {
  let reason: NodeJS.Signals | 'output' | undefined;
  let outputError: NodeJS.ErrnoException | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    progress.halt();
    const again = sig === 'SIGINT' ? 'Ctrl-C' : sig;
    // From the line's start on a terminal: over the ^C it echoed, not after it.
    const start = process.stderr.isTTY ? '\r' : '';
    if (reason && reason !== 'output') {
      process.stderr.write(
        `${start}${again} again: quitting now. The last complete checkpoint is kept; resume with: ${resumeCommand(dir)}\n`,
      );
      process.exit(signalExitCode(sig));
    }
    reason = sig;
    process.stderr.write(`${start}${sig}: finishing this step and writing a checkpoint (${again} again to quit at once)\n`);
  };
  const stopWatchingOutput = onOutputFailure((e) => {
    outputError = e;
    reason ??= 'output';
  });
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  return {
    get reason() {
      return reason;
    },
    get outputError() {
      return outputError;
    },
    dispose: () => {
      stopWatchingOutput();
      for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
    },
  };
}

/** The signals that ask a run to stop after the step in flight. */
export const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * The error to exit with when a signal or a failing stdout stopped the run (or came as it
 * finished), saying where it stopped and how to go on; undefined when nothing asked it to stop.
 */
export function stoppedEarlyError(result: TrainResult, stop: StopRequests, dir: string): GanError | undefined {
  if (!stop.reason) return undefined;
  const resumeHint = `Resume with: ${resumeCommand(dir)}`;
  const where = result.stopped
    ? `stopped at step ${result.step}; checkpoint ${result.checkpoint}`
    : `the run had finished (${plural(result.epoch, 'epoch')}; checkpoint ${result.checkpoint})`;
  if (stop.reason === 'output') {
    const e = stop.outputError!;
    // EPIPE: the reader went away (`gan train | head`), as a shell's SIGPIPE would: exit 141.
    if (e.code === 'EPIPE') return new InterruptedError(`output closed (EPIPE): ${where}`, result.stopped ? resumeHint : undefined, 141);
    return new GanError(
      `cannot write to standard output (${e.code ?? e.message}): ${where}`,
      result.stopped ? `Free space or send the output elsewhere, then resume with: ${resumeCommand(dir)}` : undefined,
      1,
    );
  }
  const code = signalExitCode(stop.reason);
  if (result.stopped)
    return new InterruptedError(`stopped by ${stop.reason} at step ${result.step}; checkpoint ${result.checkpoint}`, resumeHint, code);
  return new InterruptedError(
    `${stop.reason} came as the run finished: ${where}`,
    `Sample it with: ${ganCommand('sample', '--run', dir)}`,
    code,
  );
}
