/**
 * Standard output for the commands. A closed pipe (`gan train | head -1`) or a failing device
 * (`> log` on a full disk) makes Node emit an 'error' event on process.stdout, which crashes the
 * process with a stack trace when nobody listens. Here the first failure is recorded, later
 * writes are dropped, and whoever watches is told (gan train then stops the way SIGINT does).
 */
let failure: NodeJS.ErrnoException | undefined;
const watchers = new Set<(e: NodeJS.ErrnoException) => void>();
let guarded = false;

/** Installs the listeners once (the CLI does, before any command runs). */
export function guardOutput(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (failure) return;
    failure = e;
    for (const w of watchers) w(e);
  });
  // A failing stderr leaves nowhere to report anything; the exit code still tells.
  process.stderr.on('error', () => {});
}

/** Prints a line on stdout unless stdout has failed. */
export function printLine(line: string): void {
  if (!failure) process.stdout.write(line + '\n');
}

/** The first stdout failure, if any. */
export function outputFailure(): NodeJS.ErrnoException | undefined {
  return failure;
}

/** Calls `watcher` at the first stdout failure; returns the function that stops watching. */
export function onOutputFailure(watcher: (e: NodeJS.ErrnoException) => void): () => void {
  watchers.add(watcher);
  return () => watchers.delete(watcher);
}
