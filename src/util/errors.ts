import * as os from 'node:os';

/**
 * Every error a user can cause or fix. The core throws these; the CLI's single catch prints
 * `message` (and `hint`, the way on) on one line and exits with `exitCode`. Anything else that
 * escapes is a bug and is reported with its stack.
 */
export class GanError extends Error {
  constructor(
    message: string,
    /** What the user can do about it, printed after the message. */
    readonly hint?: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A flag or option value that cannot be used (exit 2, as commander does for usage errors). */
export class ConfigError extends GanError {
  constructor(message: string, hint?: string) {
    super(message, hint, 2);
  }
}

/** A requested backend that cannot load here. */
export class BackendError extends GanError {}

/** An input file (IDX data, checkpoint) that is missing, truncated or not what it claims. */
export class DataError extends GanError {}

/** A checkpoint or run directory that is missing, damaged or incompatible. */
export class CheckpointError extends GanError {}

/** Another process is training the run (it holds the run's lock). */
export class RunLockedError extends GanError {}

/** Reading or writing a file failed (full disk, no permission, missing folder); `code` is the errno name. */
export class IoError extends GanError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly code: string | undefined,
  ) {
    super(message, hint, 1);
  }
}

/** Training produced a non-finite loss; the last good checkpoint is kept. */
export class DivergedError extends GanError {}

/** The run was interrupted by a signal after a checkpoint was written (130 SIGINT, 143 SIGTERM, 129 SIGHUP). */
export class InterruptedError extends GanError {}

/** The shell's convention for a process ended by a signal: 128 + the signal's number (130 SIGINT). */
export function signalExitCode(sig: NodeJS.Signals): number {
  return 128 + (os.constants.signals[sig] ?? 2);
}

/** Formats an error for a one-line report: message, then the hint. */
export function describeError(err: unknown): string {
  if (err instanceof GanError) return err.hint ? `${err.message}. ${err.hint}` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
